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

    /// <summary>
    /// A confidence-lift trigger in use during a capture skews no label, but leaves its key's records beyond their strata's tails,
    /// which the whole-output test would take as the key's own null: such a key is kept out, unless the baseline in force's records
    /// of it were so too.
    /// </summary>
    [Fact]
    public void A_key_whose_captured_records_were_beyond_their_tails_is_kept_out_unless_the_baseline_in_force_s_were_too()
    {
        CompiledBaseline inForce = new(BaselineBuilder.Build(Request(captured: false), Sample(new FraudTraffic(1), 20_000, planted: 0), Settings)
            with { Id = 1 });
        ReferenceSample sample = Sample(new FraudTraffic(2), 20_000, planted: 0);
        BaselineProfile built = BaselineBuilder.Build(Request(captured: false), sample, Settings);
        TriggerProfile captured = built.Triggers!;
        var detectors = new DetectorSettings();
        BaselineKey key = captured.Keys.First(k => k.Support >= 20 && k.TailHits.Length == 2 && inForce.Profile.Triggers!.Keys.Any(i => i.Hash() == k.Hash()));
        Assert.Null(KeyOutputTest.OwnRates(key, detectors));
        BaselineKey lifted = key with { TailHits = [key.Support, key.TailHits[1]] };
        Assert.NotNull(KeyOutputTest.OwnRates(lifted, detectors));

        (TriggerProfile? clean, CaptureCheck cleanCheck) = Apply(inForce, built, captured, sample);
        Assert.Contains(clean!.Keys, k => k.Hash() == key.Hash());
        Assert.DoesNotContain(cleanCheck.Excluded, k => k.Text == key.Text && k.Kind == key.Kind);

        TriggerProfile planted = captured with { Keys = [.. captured.Keys.Select(k => k.Hash() == key.Hash() ? lifted : k)] };
        (TriggerProfile? kept, CaptureCheck check) = Apply(inForce, built, planted, sample);
        Assert.DoesNotContain(kept!.Keys, k => k.Hash() == key.Hash());
        ExcludedKey excluded = Assert.Single(check.Excluded, k => k.Text == key.Text && k.Kind == key.Kind);
        Assert.Equal("legitimate", excluded.TargetLabel);
        Assert.Contains("beyond their strata's tails", excluded.Summary, StringComparison.Ordinal);

        TriggerProfile vouched = inForce.Profile.Triggers! with
        {
            Keys = [.. inForce.Profile.Triggers!.Keys.Select(k => k.Hash() == key.Hash() ? k with { TailHits = [k.Support, k.TailHits[1]] } : k)],
        };
        CompiledBaseline liftedInForce = new(inForce.Profile with { Triggers = vouched });
        (TriggerProfile? keptToo, _) = Apply(liftedInForce, built, planted, sample);
        Assert.Contains(keptToo!.Keys, k => k.Hash() == key.Hash());
    }

    private static (TriggerProfile? Profile, CaptureCheck Check) Apply(CompiledBaseline inForce, BaselineProfile capture, TriggerProfile captured,
        ReferenceSample sample) =>
        CaptureKeyCheck.Apply(inForce, new CompiledBaseline(capture), captured, sample.ToBatch(), Settings.CaptureCheckZ, new DetectorSettings());

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
