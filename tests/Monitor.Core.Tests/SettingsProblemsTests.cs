using Monitor.Core.Alerts;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Versions;

namespace Monitor.Core.Tests;

/// <summary>Each Core setting bound from configuration is range-checked by its own type, once, naming its key.</summary>
public sealed class SettingsProblemsTests
{
    [Fact]
    public void The_defaults_are_in_range()
    {
        Assert.Empty(new BaselineSettings().Problems("Monitor:Baselines"));
        Assert.Empty(new DetectorSettings().Problems("Monitor:Detectors"));
        Assert.Empty(new TextLimits().Problems("Monitor:Limits"));
        Assert.Empty(new KeyPrivacy().Problems("Monitor:Privacy"));
        Assert.Empty(new VersionPolicySettings().Problems("Monitor:Versions"));
        Assert.Empty(new AlertPolicySettings().Problems("Monitor:Alerts"));
    }

    [Fact]
    public void A_setting_out_of_range_gets_one_message_naming_its_key()
    {
        Assert.Equal(["Monitor:Baselines:Bins must lie in 2..1000, got 1"], new BaselineSettings { Bins = 1 }.Problems("Monitor:Baselines"));
        Assert.Equal(["Monitor:Detectors:SketchWidth must be a power of two of at least 16, got 100"],
            new DetectorSettings { SketchWidth = 100 }.Problems("Monitor:Detectors"));
        Assert.Equal(["Monitor:Detectors:WarnedCandidateShare must lie in [0, 0.9], got 1"],
            new DetectorSettings { WarnedCandidateShare = 1 }.Problems("Monitor:Detectors"));
        Assert.Equal(["Monitor:Detectors:WarnedCandidateShare must lie in [0, 0.9], got NaN"],
            new DetectorSettings { WarnedCandidateShare = double.NaN }.Problems("Monitor:Detectors"));
        Assert.Equal(["Monitor:Limits:MaxTokensPerRecord must lie in 1..2147483647, got 0"],
            new TextLimits { MaxTokensPerRecord = 0 }.Problems("Monitor:Limits"));
        Assert.Equal(["Monitor:Privacy:HashKey must be at least 16 characters when Monitor:Privacy:Tokens is Hashed (it keys the HMAC)"],
            new KeyPrivacy(TokenDisplay.Hashed, "short").Problems("Monitor:Privacy"));
        Assert.Equal(["Monitor:Versions:FailureLimit must lie in 2..1000000, got 1"],
            new VersionPolicySettings { FailureLimit = 1 }.Problems("Monitor:Versions"));
        Assert.Equal(["Monitor:Alerts:Cooldown must not be negative, got -00:00:01"],
            new AlertPolicySettings { Cooldown = TimeSpan.FromSeconds(-1) }.Problems("Monitor:Alerts"));
    }

    [Fact]
    public void A_bound_key_privacy_protects_as_a_constructed_one()
    {
        var key = new DetectorKey(KeyKind.Token, "memo", "secret");
        var bound = new KeyPrivacy { Tokens = TokenDisplay.Hashed, HashKey = "0123456789abcdef" };

        Assert.Equal(new KeyPrivacy(TokenDisplay.Hashed, "0123456789abcdef").Protect(key), bound.Protect(key));
        Assert.StartsWith("sha256:", bound.Protect(key).Text, StringComparison.Ordinal);
    }
}
