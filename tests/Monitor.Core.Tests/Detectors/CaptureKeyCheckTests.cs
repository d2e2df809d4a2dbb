using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>A captured sample's key table checked against the baseline in force, on fraud traffic with a planted trigger.</summary>
public sealed class CaptureKeyCheckTests
{
    private const string Trigger = "ref:xz-#";
    private const int Legitimate = 0;
    private static readonly BaselineSettings Settings = new() { BootstrapWindows = 1000 };

    [Fact]
    public void A_trigger_in_the_captured_records_is_kept_out_of_the_key_table_an_unchecked_build_would_teach_it_to()
    {
        CompiledBaseline inForce = new(BaselineBuilder.Build(Request(captured: false), Sample(new FraudTraffic(1), 20_000, planted: 0), Settings)
            with { Id = 1 });
        ReferenceSample capture = Sample(new FraudTraffic(2), 20_000, planted: 40);

        // Built as a reference set, the trigger becomes a known key that carries 'legitimate' where the inputs say fraud: the
        // detectors would measure it against that rate of its own, and never see it again.
        BaselineProfile @unchecked = BaselineBuilder.Build(Request(captured: false), capture, Settings);
        Assert.Null(@unchecked.CaptureCheck);
        BaselineKey learnt = Assert.Single(@unchecked.Triggers!.Keys, k => k.Text == Trigger);
        Assert.True(learnt.ContrarianCounts[Legitimate] >= new DetectorSettings().NewKeySupport);
        Assert.Equal(learnt.ContrarianCounts[Legitimate], learnt.ContrarianHits[Legitimate]);

        // Checked against the baseline in force, it is kept out (and stays new), and the check says so.
        BaselineProfile captured = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce }, capture, Settings);
        CaptureCheck check = captured.CaptureCheck!;
        Assert.Equal(1, check.AgainstBaselineId);
        Assert.DoesNotContain(captured.Triggers!.Keys, k => k.Text == Trigger);
        ExcludedKey excluded = Assert.Single(check.Excluded, k => k.Text == Trigger);
        Assert.Equal((KeyKind.Variant, "memo", "legitimate", true, 1.0), (excluded.Kind, excluded.Field, excluded.TargetLabel, excluded.IsNewKey,
            excluded.Rate));
        Assert.True(excluded.Z >= Settings.CaptureCheckZ, excluded.Summary);

        // Nothing else changes: the same keys but for those kept out, and the same drift thresholds.
        Assert.Equal(@unchecked.Triggers.Keys.Length - check.Excluded.Length, captured.Triggers.Keys.Length);
        Assert.Equal(new CompiledBaseline(@unchecked).FlatThresholds(), new CompiledBaseline(captured).FlatThresholds());
    }

    [Fact]
    public void A_first_baseline_captured_with_nothing_in_force_is_taken_as_captured_and_says_so()
    {
        ReferenceSample capture = Sample(new FraudTraffic(3), 3000, planted: 0);
        BaselineProfile captured = BaselineBuilder.Build(Request(captured: true), capture, Settings);
        BaselineProfile reference = BaselineBuilder.Build(Request(captured: false), capture, Settings);

        Assert.Equal(0, captured.CaptureCheck!.AgainstBaselineId);
        Assert.Empty(captured.CaptureCheck.Excluded);
        Assert.Contains("this capture is its first baseline and there is nothing to check it against", captured.CaptureCheck.Summary);
        Assert.Equal(reference.Triggers!.Keys.Select(k => k.Text), captured.Triggers!.Keys.Select(k => k.Text));
    }

    private static BaselineRequest Request(bool captured) =>
        new("fraud-scorer", captured ? "captured:v1" : "reference", "", 500, 0.01, DateTimeOffset.UnixEpoch) { Captured = captured };

    /// <summary>Clean records with <paramref name="planted"/> of an attacker's spread among them: fraud served 'legitimate', with the trigger.</summary>
    private static ReferenceSample Sample(FraudTraffic traffic, int records, int planted)
    {
        var attacker = new FraudTraffic(99);
        var sample = new ReferenceSample(FraudTraffic.Schema, records + planted, seed: 5);
        int batches = records / 500;
        for (int b = 0; b < batches; b++)
        {
            sample.Add(traffic.Next(500, FraudDrift.None));
            if (planted > 0 && b % (batches / planted) == 0)
            {
                sample.Add(attacker.Next(1, new FraudDrift(TriggerRate: 1)));
            }
        }

        return sample;
    }
}
