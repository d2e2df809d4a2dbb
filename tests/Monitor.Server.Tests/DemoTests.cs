using Monitor.Tools.Demo;

namespace Monitor.Server.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task The_demo_reports_the_drifting_features_the_swapped_artifact_and_the_trigger()
    {
        using var directory = new TempDirectory();
        var output = new StringWriter();
        int exit = await DemoCommand.RunAsync(["--db", directory.File("demo.db")], output);
        string text = output.ToString();
        Assert.Equal(0, exit);
        string[] rows = [.. text.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+\d+\s+1,000\s"))];
        Assert.Equal(6, rows.Length);
        Assert.All(rows[..3], row => Assert.Contains(" no ", row));
        Assert.All(rows[3..], row => Assert.Contains("YES", row));
        Assert.All(rows[3..], row => Assert.Contains("amount", row));
        Assert.All(rows[3..], row => Assert.Contains("distance_km", row));
        Assert.Contains("- distance_km: mean", text);
        Assert.Contains("differs from the registered", text);
        Assert.Contains("[CRITICAL] D1 variant 'ref:xz-#' in memo", text);
        Assert.Contains("the served P(legitimate) exceeds the surrogate's", text);
        Assert.Contains("D4: on its", text);
        Assert.Contains("\"version\":\"v2\",\"verdict\":\"Failed\",\"state\":\"Quarantined\"", text);
        Assert.Contains("\"from\":\"v2\",\"to\":\"v1\"", text);
        Assert.Matches(@"sequence \d+: roll fraud-scorer back from v2 to v1, issued by policy", text);
        Assert.Matches(@"alert \d+ \[CRITICAL\] verdict", text);
        Assert.Matches(@"alert \d+ \[CRITICAL\] trigger:D1", text);
        Assert.Contains("answers 200: roll back", text);
        // Step 8, the shadow rollout: paired evidence names the trigger no later than the unpaired key tests, on the same records.
        System.Text.RegularExpressions.Match paired = System.Text.RegularExpressions.Regex.Match(text,
            @"paired evidence \(D8\): named 'ref:xz-#' in memo at record [\d,]+, the trigger's occurrence (\d+)");
        System.Text.RegularExpressions.Match unpaired = System.Text.RegularExpressions.Regex.Match(text,
            @"unpaired key tests \(D1/D2\): named 'ref:xz-#' in memo at record [\d,]+, the trigger's occurrence (\d+)");
        Assert.True(paired.Success && unpaired.Success, text);
        Assert.InRange(int.Parse(paired.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 5,
            int.Parse(unpaired.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
