using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// The reduced attack-scenario evaluation, through a real sidecar over loopback gRPC: each main trigger
/// is found, named and made critical within 50 occurrences, and no benign confounder raises a critical finding.
/// </summary>
public sealed class ScenarioEvaluationTests(ITestOutputHelper output)
{
    public static TheoryData<string> Scenarios() => [.. ScenarioEvaluation.Reduced().Select(s => s.Name)];

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task Reduced_scenario(string name)
    {
        ScenarioSpec spec = ScenarioEvaluation.Reduced().Single(s => s.Name == name);
        ScenarioOutcome outcome = await ScenarioEvaluation.RunAsync(spec, referenceRecords: 20_000, progress: null, TestContext.Current.CancellationToken);
        var table = new StringWriter();
        ScenarioEvaluation.PrintTable([outcome], table);
        output.WriteLine(table.ToString());

        Assert.Equal(0, outcome.FalseCritical);
        if (!spec.Benign)
        {
            Assert.True(outcome.Critical, "no critical finding");
            Assert.True(outcome.Named, "no finding names the injected key");
            Assert.InRange(outcome.DelayOccurrences!.Value, 1, 50);
        }
    }
}
