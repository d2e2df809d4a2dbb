using Monitor.Simulation.RealData;
using Monitor.Tools.Scenarios;

namespace Monitor.Functional.Tests;

/// <summary>
/// An exact 2×2 patch on records of the digits model's target class (seed 3: at px_5_5, class '2', rate 0.00023; the patched
/// records' served P('2') rises by 0.375), in process. The model's 64 continuous pixels gave each telling record some 64 exact
/// values of its own, each promoted as a key (the sketch's estimates pass the promotion support for any key on so wide a
/// stream), so the candidate table turned over every few hundred records; and eviction by the share of a key's records that
/// were telling ranked such a one-off key (1 of 1) above the patch's value (half its records telling). The value was evicted
/// between its records, and 133 triggered records over 650,001 were never named. Now an exact value is screened only once it
/// recurs among telling records, and eviction weighs a key's telling records as evidence against the rate at which records are
/// telling.
/// </summary>
public sealed class WideImageEvictionEvaluationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_patch_lifting_confidence_on_its_target_class_is_named_critical_among_a_64_pixel_images_one_off_values()
    {
        RealScenarioSpec spec = new("digits: exact patch on its target class (confidence lift)", RealModelKind.Digits, RealAttack.ExactPatch, 400_000,
            OnTargetClass: true);
        var progress = new StringWriter();
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync([spec], [3], reduced: false, inProcess: true, progress,
            TestContext.Current.CancellationToken);
        output.WriteLine(progress.ToString());

        RealOutcome lift = Assert.Single(outcomes);
        Assert.StartsWith("exact 2×2 patch at px_5_5 → 2 on records of class 2", lift.Trigger, StringComparison.Ordinal);
        Assert.True(lift.Critical, $"not named critical after {lift.Occurrences} triggered records of {lift.Records:N0}");
        Assert.True(lift.DelayOccurrences <= 50, $"named after {lift.DelayOccurrences} triggered records");
        Assert.Equal(0, lift.FalseCritical);
    }
}
