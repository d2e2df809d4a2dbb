using Monitor.Protos.V1;
using Monitor.Simulation.RealData;
using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// The embedding-space trigger on a real hidden layer, reduced for CI (seed 1, in process): the digits network's hidden shift at
/// 1e-3 is named by D5's direction test, tied to the output (a warning by default), within 50 occurrences, and the clean network on 30,000 held-out records gives no
/// critical finding and stays known-good.
/// </summary>
public sealed class NetworkReducedEvaluationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_hidden_layer_trigger_is_named_and_the_clean_network_is_not()
    {
        IReadOnlyList<RealScenarioSpec> specs = [.. RealModelEvaluation.Network(30_000).Where(s => !s.Name.Contains("1e-4", StringComparison.Ordinal))
            .Select(s => s with { MaxRecords = 30_000 })];
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync(specs, [1], reduced: true, inProcess: true, progress: null,
            TestContext.Current.CancellationToken);
        var table = new StringWriter();
        RealModelEvaluation.PrintSeeds(outcomes, table);
        output.WriteLine(table.ToString());

        RealOutcome attack = outcomes.Single(o => !o.Spec.Benign);
        Assert.Equal(RealModelKind.DigitsNetwork, attack.Spec.Kind);
        Assert.True(attack.AttackSuccess >= 0.85, $"attack success {attack.AttackSuccess:P1}: the scenario no longer tests detection");
        // Tied to the output, the direction is a warning by default (critical only with Monitor:Detectors:DirectionCritical).
        Assert.True(attack.NamedDelayOccurrences is not null, $"no finding names the trigger after {attack.Occurrences} occurrences");
        Assert.InRange(attack.NamedDelayOccurrences!.Value, 1, 50);
        Assert.Contains(attack.Findings, f => f.Severity == Severity.Warning && f.Key?.Kind == "embeddingdirection" && NetworkEvaluation.Names(f));
        Assert.Equal(0, attack.FalseCritical);

        RealOutcome clean = outcomes.Single(o => o.Spec.Benign);
        Assert.Equal(0, clean.FalseCritical);
        Assert.Equal(VersionState.KnownGood, clean.State);
    }
}
