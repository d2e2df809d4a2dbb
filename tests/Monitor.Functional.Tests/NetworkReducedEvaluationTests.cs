using Monitor.Protos.V1;
using Monitor.Simulation.RealData;
using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// The digits network, reduced for CI (seed 1, in process, 30,000 records a scenario): the hidden-layer shift at 1e-3 is named by
/// D5's direction test, tied to the output, within 50 occurrences; a network trained BadNets-style with a soft patch at the image's
/// edge, judged against its own reference, is named within 50 occurrences (a warning by default); the clean network on held-out
/// records gives no critical finding and stays known-good; a clean retraining judged against its own reference gives none either.
/// </summary>
public sealed class NetworkReducedEvaluationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_hidden_layer_trigger_and_the_trained_soft_patch_are_named_and_the_clean_networks_are_not()
    {
        IReadOnlyList<RealScenarioSpec> specs = [.. RealModelEvaluation.Network(30_000).Where(s => !s.Name.Contains("1e-4", StringComparison.Ordinal))
            .Select(s => s with { MaxRecords = 30_000 })];
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync(specs, [1], reduced: true, inProcess: true, progress: null,
            TestContext.Current.CancellationToken);
        var table = new StringWriter();
        RealModelEvaluation.PrintSeeds(outcomes, table);
        output.WriteLine(table.ToString());

        RealOutcome shift = outcomes.Single(o => o.Spec.Attack == RealAttack.EmbeddingShift);
        Assert.True(shift.AttackSuccess >= 0.85, $"attack success {shift.AttackSuccess:P1}: the scenario no longer tests detection");
        Assert.True(shift.NamedDelayOccurrences is not null, $"no finding names the hidden shift after {shift.Occurrences} occurrences");
        Assert.InRange(shift.NamedDelayOccurrences!.Value, 1, 50);
        Assert.Contains(shift.Findings, f => f.Severity >= Severity.Warning && f.Key?.Kind == "embeddingdirection" && NetworkEvaluation.Names(f));
        Assert.Equal(0, shift.FalseCritical);

        RealOutcome patch = outcomes.Single(o => o.Spec.Attack == RealAttack.SoftPatch);
        Assert.True(patch.AttackSuccess >= 0.85, $"attack success {patch.AttackSuccess:P1}: the scenario no longer tests detection");
        Assert.True(patch.NamedDelayOccurrences is not null, $"no finding names the soft patch after {patch.Occurrences} occurrences");
        Assert.InRange(patch.NamedDelayOccurrences!.Value, 1, 50);
        Assert.Equal(0, patch.FalseCritical);

        foreach (RealOutcome clean in outcomes.Where(o => o.Spec.Benign))
        {
            Assert.True(clean.FalseCritical == 0, $"{clean.Spec.Name}: {clean.FalseCritical} critical findings");
            if (clean.Spec.Retrained)
            {
                Assert.True(clean.State is VersionState.Candidate or VersionState.ObservedClean, $"{clean.Spec.Name} ends {clean.State}");
            }
            else
            {
                Assert.Equal(VersionState.KnownGood, clean.State);
            }
        }
    }
}
