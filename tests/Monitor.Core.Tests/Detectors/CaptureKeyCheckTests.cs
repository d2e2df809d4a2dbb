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
        (CompiledBaseline inForce, ReferenceSample sample, BaselineProfile built) = CleanCapture();
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

    /// <summary>
    /// An ingest key can plant a token on ordinary records, served as the clean model serves them, while a known-good version is
    /// captured: nothing in its records is skewed, so the check keeps it, and a known key's leniency (a population's share, a residual
    /// lift of its own, a crossing reported and not critical) would await a trigger made of it. The baseline in force never knew
    /// it, so it enters unvouched, and stays so through the next capture; an uploaded reference set vouches for its keys.
    /// </summary>
    [Fact]
    public void A_token_planted_on_ordinary_records_during_a_capture_is_kept_unvouched_and_earns_no_known_key_s_leniency()
    {
        CompiledBaseline inForce = new(BaselineBuilder.Build(Request(captured: false), Sample(new FraudTraffic(1), 20_000, planted: 0), Settings)
            with { Id = 1 });
        var detectors = new DetectorSettings();

        // On 0.8% of the captured records: beyond the share (0.5%) at which a vouched key is a population, not a trigger.
        BaselineProfile first = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce }, Planted(new FraudTraffic(2), 0.008), Settings)
            with { Id = 2 };
        BaselineKey token = Assert.Single(first.Triggers!.Keys, k => k.Text == Trigger);
        Assert.True(token.Unvouched);
        Assert.True(token.Support >= KeyOutputTest.MaxBaselineShare * first.Triggers.Records, $"support {token.Support} of {first.Triggers.Records}");
        Assert.DoesNotContain(first.CaptureCheck!.Excluded, k => k.Text == Trigger);
        Assert.Contains(first.Triggers.Keys, k => k.Text == "grocery" && !k.Unvouched);
        Assert.Equal(first.Triggers.Keys.Count(k => k.Unvouched && k.Support >= detectors.NewKeySupport), first.CaptureCheck.Unvouched);
        Assert.True(first.CaptureCheck.Unvouched >= 1);
        Assert.Contains("enter unvouched: the detectors judge them as new keys, as that baseline did", first.CaptureCheck.Summary, StringComparison.Ordinal);

        // The detectors take it as a new key: no population share, no baseline support (so no known key's warning), no lift; vouched,
        // the same entry would have all three.
        (KeyOutputTest output, KeyRankTest rank) = Tests(first.Triggers);
        Assert.Null(output.BaselineShare(token.Hash()));
        Assert.Null(rank.BaselineSupport(token.Hash()));
        TriggerProfile asUploaded = first.Triggers with { Keys = [.. first.Triggers.Keys.Select(k => k with { Unvouched = false })] };
        (KeyOutputTest vouchedOutput, KeyRankTest vouchedRank) = Tests(asUploaded);
        Assert.NotNull(vouchedOutput.BaselineShare(token.Hash()));
        Assert.Equal(token.Support, vouchedRank.BaselineSupport(token.Hash()));

        // A second capture, checked against the first, keeps it unvouched: only a baseline that vouched for a key passes it on.
        BaselineProfile second = BaselineBuilder.Build(Request(captured: true) with { InForce = new CompiledBaseline(first) },
            Planted(new FraudTraffic(3), 0.008), Settings);
        Assert.True(Assert.Single(second.Triggers!.Keys, k => k.Text == Trigger).Unvouched);
        Assert.Contains(second.Triggers.Keys, k => k.Text == "grocery" && !k.Unvouched);

        // An uploaded reference set is the operator's word: its keys are vouched for.
        BaselineProfile uploaded = BaselineBuilder.Build(Request(captured: false), Planted(new FraudTraffic(4), 0.008), Settings);
        Assert.DoesNotContain(uploaded.Triggers!.Keys, k => k.Unvouched);

        // Nothing else in the detectors takes anything from an unvouched entry either: given a tail lift and contrarian counts of its
        // own, the tail test keeps no lift for it and the skew test measures it as a new key; vouched, the same entry counts.
        BaselineKey lifted = token with
        {
            TailHits = [token.Support / 2, 0], TailExpected = [1, 1], ContrarianCounts = [token.Support, 0], ContrarianHits = [token.Support, 0],
        };
        TriggerProfile liftedProfile = first.Triggers with { Keys = [.. first.Triggers.Keys.Select(k => k.Hash() == token.Hash() ? lifted : k)] };
        string[] labels = ["legitimate", "fraud"];
        Assert.DoesNotContain(token.Hash(), KeyOutputTest.KnownTails(liftedProfile.Keys, 2, detectors).Keys);
        Assert.Null(new KeySkewTest(liftedProfile, detectors, labels).Known(token.Hash()));
        TriggerProfile liftedVouched = liftedProfile with { Keys = [.. liftedProfile.Keys.Select(k => k with { Unvouched = false })] };
        Assert.Contains(token.Hash(), KeyOutputTest.KnownTails(liftedVouched.Keys, 2, detectors).Keys);
        Assert.NotNull(new KeySkewTest(liftedVouched, detectors, labels).Known(token.Hash()));
    }

    /// <summary>
    /// A key the baseline in force knew, on a few of its records: planted on ordinary records until it is a population of the capture
    /// (0.5% of its records), it would be reported and never critical by every key test. A capture cannot make a population the
    /// baseline in force did not hold as one: the key enters unvouched. Captured at its old share it stays vouched.
    /// </summary>
    [Fact]
    public void A_capture_cannot_make_a_known_key_a_population_the_baseline_in_force_did_not_hold_as_one()
    {
        CompiledBaseline inForce = new(BaselineBuilder.Build(Request(captured: false), Planted(new FraudTraffic(1), 0.001), Settings) with { Id = 1 });
        BaselineKey before = Assert.Single(inForce.Profile.Triggers!.Keys, k => k.Text == Trigger);
        Assert.False(before.Unvouched);
        Assert.InRange(before.Support, new DetectorSettings().NewKeySupport, KeyOutputTest.MaxBaselineShare * inForce.Profile.Triggers.Records - 1);

        BaselineProfile inflated = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce }, Planted(new FraudTraffic(2), 0.008), Settings);
        BaselineKey population = Assert.Single(inflated.Triggers!.Keys, k => k.Text == Trigger);
        Assert.True(population.Support >= KeyOutputTest.MaxBaselineShare * inflated.Triggers.Records, $"support {population.Support}");
        Assert.True(population.ShareUnvouched);
        Assert.False(population.Unvouched);
        Assert.Null(Tests(inflated.Triggers).Output.BaselineShare(population.Hash()));
        Assert.NotNull(Tests(inflated.Triggers).Rank.BaselineSupport(population.Hash()));

        BaselineProfile same = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce }, Planted(new FraudTraffic(3), 0.001), Settings);
        BaselineKey kept = Assert.Single(same.Triggers!.Keys, k => k.Text == Trigger);
        Assert.False(kept.Unvouched || kept.ShareUnvouched);
    }

    /// <summary>
    /// Records planted on a key the baseline in force vouched for, ranked high among their stratum's but below the tails, would give the
    /// key a residual lift that widens the allowance of every key beside it on a record (<see cref="KeyRankTest.RecordLift"/>); a
    /// tail lift the same for the tail test. A capture's vouched key keeps at most the baseline in force's lifts.
    /// </summary>
    [Fact]
    public void A_vouched_key_keeps_at_most_the_lifts_the_baseline_in_force_gave_it()
    {
        (CompiledBaseline inForce, ReferenceSample sample, BaselineProfile built) = CleanCapture();
        TriggerProfile captured = built.Triggers!;
        var known = inForce.Profile.Triggers!.Keys.ToDictionary(k => k.Hash());
        BaselineKey key = captured.Keys.First(k => k.Kind == KeyKind.Token && k.Support >= 30 && k.RankAbove.Length == 4 && known.ContainsKey(k.Hash()));
        BaselineKey ranked = key with { RankAbove = [key.Support, key.Support, 0, 0] };
        TriggerProfile planted = captured with { Keys = [.. captured.Keys.Select(k => k.Hash() == key.Hash() ? ranked : k)] };

        (TriggerProfile? kept, _) = Apply(inForce, built, planted, sample);
        BaselineKey capped = Assert.Single(kept!.Keys, k => k.Hash() == key.Hash());
        Assert.False(capped.Unvouched);
        Assert.True(capped.RankAbove[0] < key.Support, $"{capped.RankAbove[0]} of {key.Support} above 0.9");
        foreach (BaselineKey after in kept.Keys.Where(k => !k.Unvouched))
        {
            BaselineKey vouching = known[after.Hash()];
            for (int j = 0; j < after.RankAbove.Length && vouching.RankAbove.Length == after.RankAbove.Length; j++)
            {
                double chance = 1 - KeyRankTest.Thresholds[j % 2];
                Assert.True(RankLift(after, j, chance) <= Math.Max(1, RankLift(vouching, j, chance)) + 1e-9, $"{after.Text}: rank lift at {j}");
            }

            for (int c = 0; c < after.TailHits.Length && vouching.TailHits.Length == after.TailHits.Length; c++)
            {
                Assert.True(TailLift(after, c) <= Math.Max(1, TailLift(vouching, c)) + 1e-9, $"{after.Text}: tail lift for class {c}");
            }
        }

        static double RankLift(BaselineKey k, int j, double chance) => (k.RankAbove[j] + 1) / ((chance * k.Support) + 1);
        static double TailLift(BaselineKey k, int c) => (k.TailHits[c] + 1) / (k.TailExpected[c] + 1);
    }

    /// <summary>A baseline in force from 20,000 clean records (id 1), and 20,000 other clean records built as a capture's table would be.</summary>
    private static (CompiledBaseline InForce, ReferenceSample Sample, BaselineProfile Built) CleanCapture()
    {
        CompiledBaseline inForce = new(BaselineBuilder.Build(Request(captured: false), Sample(new FraudTraffic(1), 20_000, planted: 0), Settings)
            with { Id = 1 });
        ReferenceSample sample = Sample(new FraudTraffic(2), 20_000, planted: 0);
        return (inForce, sample, BaselineBuilder.Build(Request(captured: false), sample, Settings));
    }

    private static (KeyOutputTest Output, KeyRankTest Rank) Tests(TriggerProfile profile)
    {
        var detectors = new DetectorSettings();
        string[] labels = ["legitimate", "fraud"];
        return (new KeyOutputTest(profile, profile.Tails!, detectors, labels, 2), new KeyRankTest(profile, detectors, labels));
    }

    /// <summary>Clean records, a share <paramref name="tokenRate"/> of them carrying the trigger's token with nothing else changed.</summary>
    private static ReferenceSample Planted(FraudTraffic traffic, double tokenRate)
    {
        var sample = new ReferenceSample(FraudTraffic.Schema, 20_000, seed: 5);
        for (int b = 0; b < 40; b++)
        {
            sample.Add(traffic.Next(500, new FraudDrift(TokenRate: tokenRate)));
        }

        return sample;
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
