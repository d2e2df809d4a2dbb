using Monitor.Protos.V1;
using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// The reduced paired evaluation CI runs (seed 1, the trigger at 5e-3, 30,000 records, in process): wine's poisoned model
/// mirrored with the clean model's outputs on the same records has its trigger named by paired evidence (D8) within 20
/// occurrences, and a clean retraining (another seed, a fresh resample of the same data) mirrored beside the known-good
/// model gives nothing critical.
/// </summary>
public sealed class PairedReducedEvaluationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Paired_evidence_names_the_wine_trigger_within_twenty_occurrences_and_a_clean_retraining_gives_nothing_critical()
    {
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync(RealModelEvaluation.PairedReduced(), [1], reduced: true, inProcess: true,
            progress: null, TestContext.Current.CancellationToken);
        var table = new StringWriter();
        RealModelEvaluation.PrintSeeds(outcomes, table);
        output.WriteLine(table.ToString());

        RealOutcome attack = Assert.Single(outcomes, o => !o.Spec.Benign);
        Assert.True(attack.AttackSuccess >= 0.85, $"attack success {attack.AttackSuccess:P1}: the scenario no longer tests detection");
        Assert.True(attack.Critical, $"paired evidence did not name the trigger ({attack.Trigger}) after {attack.Occurrences} occurrences");
        // For a paired scenario a critical finding names the trigger only when it is paired evidence (D8).
        Assert.Contains(attack.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is not null);
        Assert.InRange(attack.DelayOccurrences!.Value, 1, 20);
        Assert.Equal(0, attack.FalseCritical);

        RealOutcome clean = Assert.Single(outcomes, o => o.Spec.Benign);
        Assert.Equal(30_000, clean.Records);
        Assert.DoesNotContain(clean.Findings, f => f.Severity == Severity.Critical);
        Assert.NotEqual(VersionState.Quarantined, clean.State);
    }
}
