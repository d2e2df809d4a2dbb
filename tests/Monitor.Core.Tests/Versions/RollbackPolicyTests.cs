using Monitor.Core.Versions;

namespace Monitor.Core.Tests.Versions;

public sealed class RollbackPolicyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly VersionPolicySettings Settings = new();

    private static readonly VersionRecord[] Versions =
    [
        new("v1", VersionState.KnownGood, T0.AddDays(-10), T0.AddDays(-3)),
        new("v2", VersionState.KnownGood, T0.AddDays(-2), T0.AddDays(-1)),
        new("v3", VersionState.Quarantined, T0.AddDays(-1), T0.AddHours(-2)),
        new("v4", VersionState.Candidate, null, T0),
    ];

    [Fact]
    public void A_rollback_goes_to_the_most_recently_served_known_good_version_other_than_the_failed_one()
    {
        RollbackDecision decision = RollbackPolicy.Decide("m", "v4", "3 failing windows", Versions, Settings, exempt: false, _ => 0, T0);

        Assert.Equal("v2", decision.Target);
        Assert.Null(decision.HeldBecause);
        Assert.True(decision.RateLimited);
        Assert.Equal("Failed: 3 failing windows; roll back to v2", decision.VerdictEvidence);
        Assert.Null(decision.HeldEvidence("v4"));
        Assert.Equal("v1", RollbackPolicy.Decide("m", "v2", "r", Versions, Settings, false, _ => 0, T0).Target);
    }

    [Fact]
    public void With_no_trusted_version_that_has_served_there_is_no_signal_and_the_reason_says_so()
    {
        RollbackDecision decision = RollbackPolicy.Decide("m", "v1", "swap",
            [new("v1", VersionState.KnownGood, T0, T0), new("v2", VersionState.ObservedClean, null, T0), new("v3", VersionState.KnownGood, T0, null)],
            Settings with { HoldRollbacks = true }, false, _ => 0, T0);

        Assert.Null(decision.Target);
        Assert.False(decision.Signals);
        Assert.Null(decision.HeldBecause);
        Assert.Null(decision.HeldEvidence("v1"));
        Assert.Equal("swap; no trusted version that has served to roll back to", decision.Reason);
        Assert.Equal("Failed: swap; no trusted version that has served to roll back to; no rollback signal", decision.VerdictEvidence);
    }

    [Fact]
    public void The_allowance_of_automatic_rollbacks_in_the_rate_period_holds_the_next_one_for_a_human()
    {
        DateTimeOffset asked = default;
        RollbackDecision decision = RollbackPolicy.Decide("m", "v4", "r", Versions, Settings, exempt: false, since =>
        {
            asked = since;
            return 1;
        }, T0);

        Assert.Equal(T0 - Settings.RollbackRatePeriod, asked);
        Assert.Contains("already had 1 automatic rollback(s) within 01:00:00", decision.HeldBecause, StringComparison.Ordinal);
        Assert.Equal($"rollback of v4 to v2 held: {decision.HeldBecause}", decision.HeldEvidence("v4"));
        Assert.Null(RollbackPolicy.Decide("m", "v4", "r", Versions, Settings with { MaxRollbacksPerPeriod = 2 }, false, _ => 1, T0).HeldBecause);
    }

    [Fact]
    public void An_artifact_swap_is_exempt_from_the_rate_limit_and_the_count_is_not_asked()
    {
        RollbackDecision decision = RollbackPolicy.Decide("m", "v4", "r", Versions, Settings, exempt: true,
            _ => throw new InvalidOperationException("the count must not be asked for an exempt rollback"), T0);

        Assert.Null(decision.HeldBecause);
        Assert.False(decision.RateLimited);
    }

    [Fact]
    public void The_hold_policy_holds_every_automatic_rollback_even_an_exempt_one()
    {
        RollbackDecision decision = RollbackPolicy.Decide("m", "v4", "r", Versions, Settings with { HoldRollbacks = true }, exempt: true, _ => 0, T0);

        Assert.Contains("Monitor:Versions:HoldRollbacks", decision.HeldBecause, StringComparison.Ordinal);
        Assert.Equal("v2", decision.Target);
    }

    [Fact]
    public void A_verdict_recommends_a_rollback_only_for_a_quarantined_version_signalled_since_its_last_promotion()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings, promotedAt: T0);
        Assert.Equal(new VersionVerdict(Verdict.Inconclusive, RollbackStatus.None, false), VersionVerdict.Of(lifecycle, T0.AddHours(1), false));

        lifecycle.Quarantine("by hand");
        Assert.Equal(new VersionVerdict(Verdict.Failed, RollbackStatus.Issued, true), VersionVerdict.Of(lifecycle, T0.AddHours(1), false));
        Assert.Equal(new VersionVerdict(Verdict.Failed, RollbackStatus.None, false), VersionVerdict.Of(lifecycle, T0.AddHours(-1), false));
        Assert.Equal(new VersionVerdict(Verdict.Failed, RollbackStatus.Held, false), VersionVerdict.Of(lifecycle, null, true));

        lifecycle.Promote(T0.AddHours(2));
        Assert.Equal(T0.AddHours(2), lifecycle.PromotedAt);
        Assert.Equal(RollbackStatus.None, VersionVerdict.Of(lifecycle, T0.AddHours(1), true).Rollback);
    }
}
