using Monitor.Protos.V1;
using Monitor.Simulation.RealData;
using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// A known-good version judged against a baseline captured from its own held-out traffic, checked against the uploaded one as
/// <c>drift baseline capture</c> commits it (the rare real model, seed 3501, in process). The capture check used to keep
/// percentile bins out of the new key table when their captured records were served beyond what the baseline in force's bin
/// of the same index vouched for, another interval under other edges; a bin kept out lost the population's standing its entry
/// gives it, and the version's own clean traffic named a bin of mean_perimeter critical after 259,452 records and quarantined it.
/// </summary>
public sealed class CapturedBaselineEvaluationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_known_good_version_judged_against_a_baseline_captured_from_its_own_clean_traffic_raises_nothing_critical()
    {
        RealScenarioSpec spec = new("rare malignant: clean known-good, captured baseline", RealModelKind.RareMalignant, null, 300_000, Captured: true);
        var progress = new StringWriter();
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync([spec], [3501], reduced: false, inProcess: true, progress,
            TestContext.Current.CancellationToken);
        output.WriteLine(progress.ToString());

        RealOutcome clean = Assert.Single(outcomes);
        Assert.Contains("capture check: checked against baseline 1 in force", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal(300_000, clean.Records);
        Assert.DoesNotContain(clean.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal(VersionState.KnownGood, clean.State);
    }
}
