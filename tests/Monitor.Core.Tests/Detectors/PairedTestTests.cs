using System.Text.Json;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The paired test (D8): its per-key e-values against scipy (Fixtures/paired_test.json, made by
/// Fixtures/make_paired_test_fixture.py), its level (keys whose records are paired hits exactly at the null's allowance
/// cross 1/a in at most a share a of tests) and its power (a trigger the trusted version disagrees with is past the
/// default bar within a few records of the key).
/// </summary>
public sealed class PairedTestTests
{
    private static readonly string[] Labels = ["legitimate", "fraud"];

    /// <param name="held">The candidate table's look-up (the candidate held now for a key hash); by default none is held.</param>
    private static PairedTest NewTest(DetectorSettings? settings = null, Func<ulong, Candidate?>? held = null) =>
        new(2, OutputKind.Classification, settings ?? new DetectorSettings(), Labels, held ?? (_ => null));

    private static Func<ulong, Candidate?> HeldIn(CandidateTable table) => hash => table.TryGet(hash, out Candidate? c) ? c : null;

    private static Candidate NewCandidate(int id = 0) =>
        new(new DetectorKey(KeyKind.Token, "memo", $"key-{id}"), 2, 1, DateTimeOffset.UnixEpoch, 0);

    /// <summary>One paired record: the trusted and served P(class 1), and the served class.</summary>
    private static void Observe(PairedTest test, double trusted1, double served1, int label)
    {
        var batch = new RecordBatch
        {
            Count = 1, Numeric = ReadOnlyMemory<float>.Empty, Scores = new[] { (float)(1 - served1), (float)served1 }, Categorical = [], Text = [],
            PairedVersion = "v1", PairedScores = new[] { (float)(1 - (float)trusted1), (float)trusted1 },
        };
        float s1 = (float)served1;
        test.Observe(batch, 0, label, [(float)(1 - s1), s1]);
    }

    /// <summary>
    /// Key 1 gathers 5 paired records, is evicted to make room for key 2 and, that record done, promoted again: the table
    /// reuses the candidates it lets go, so the very object comes back (returned as <c>again</c>).
    /// </summary>
    private static (CandidateTable Table, PairedTest Test, Candidate Again) PromotedAgainAfterFiveRecords()
    {
        var table = new CandidateTable(new DetectorSettings { Candidates = 1, SketchWidth = 1 << 10, HeavyHitters = 64 }, 2, 1);
        PairedTest test = NewTest(held: HeldIn(table));
        var key = new DetectorKey(KeyKind.Token, "memo", "key-1");
        Assert.True(table.MakeRoom());
        Candidate first = table.Promote(1UL, key, DateTimeOffset.UnixEpoch, 0);
        for (int i = 0; i < 5; i++)
        {
            Observe(test, trusted1: 0.01, served1: 0.99, label: 1);
            test.Update(first, 1UL);
        }

        Assert.Equal(5, test.Get(first, 1UL)!.Records);
        Assert.True(table.MakeRoom());
        table.Promote(2UL, new DetectorKey(KeyKind.Token, "memo", "key-2"), DateTimeOffset.UnixEpoch, 1);
        table.Recycle();
        Assert.True(table.MakeRoom());
        Candidate again = table.Promote(1UL, key, DateTimeOffset.UnixEpoch, 2);
        Assert.Same(first, again);
        return (table, test, again);
    }

    [Fact]
    public void A_key_promoted_again_onto_a_reused_candidate_starts_its_paired_evidence_afresh()
    {
        // Its paired evidence from before the eviction is not this promotion's.
        (_, PairedTest test, Candidate again) = PromotedAgainAfterFiveRecords();
        Assert.Null(test.Get(again, 1UL));
        Observe(test, trusted1: 0.01, served1: 0.99, label: 1);
        Assert.Equal(1, test.Update(again, 1UL)!.Records);
    }

    [Fact]
    public void A_checkpoint_taken_before_a_key_promoted_again_has_a_record_restores_no_evidence_for_it()
    {
        // The key's state from its first promotion stays in the test until the key's next paired record or the horizon. A
        // checkpoint taken meanwhile (a restart, or a new embedding reference) must not hand it to the promotion now held.
        (CandidateTable table, PairedTest test, Candidate again) = PromotedAgainAfterFiveRecords();
        PairedState checkpoint = test.Export(_ => null);
        Assert.Empty(checkpoint.Keys);
        PairedTest restored = NewTest(held: HeldIn(table));
        restored.Restore(checkpoint, _ => null);
        Assert.Null(restored.Get(again, 1UL));
    }

    [Fact]
    public void A_held_key_keeps_its_paired_evidence_while_other_keys_come_and_go()
    {
        // Keys turn over between horizons (on digits about 8 a record): the states of keys let go pile up and are dropped
        // when they reach twice the table. Only theirs: a trigger key still held keeps every record of its evidence.
        var settings = new DetectorSettings { Candidates = 4 };
        var held = new Dictionary<ulong, Candidate>();
        PairedTest test = NewTest(settings, hash => held.GetValueOrDefault(hash));
        Candidate trigger = NewCandidate(0);
        held[1UL] = trigger;
        for (int k = 1; k <= 40; k++)
        {
            Candidate passing = NewCandidate(k);
            held[(ulong)k + 1] = passing;
            Observe(test, trusted1: 0.5, served1: 0.5, label: 1);
            test.Update(passing, (ulong)k + 1);
            held.Remove((ulong)k + 1);

            Observe(test, trusted1: 0.01, served1: 0.99, label: 1);
            test.Update(trigger, 1UL);
        }

        PairedKey state = test.Get(trigger, 1UL)!;
        Assert.Equal(40, state.Records);
        Assert.Equal(40, state.Hits[1]);
        Assert.Single(test.Export(_ => null).Keys);
    }

    [Fact]
    public void The_key_e_values_match_scipy()
    {
        using JsonDocument fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "paired_test.json")));
        int compared = 0;
        foreach (JsonElement @case in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            PairedTest test = NewTest();
            foreach (JsonElement r in @case.GetProperty("today").EnumerateArray())
            {
                Observe(test, r[0].GetDouble(), r[1].GetDouble(), r[2].GetInt32());
            }

            Candidate candidate = NewCandidate();
            JsonElement expected = @case.GetProperty("log_e");
            int before = @case.GetProperty("before").GetArrayLength();
            int i = 0;
            foreach (JsonElement r in @case.GetProperty("before").EnumerateArray().Concat(@case.GetProperty("key").EnumerateArray()))
            {
                if (i == before)
                {
                    test.Refresh();
                }

                Observe(test, r[0].GetDouble(), r[1].GetDouble(), r[2].GetInt32());
                PairedKey key = test.Update(candidate, 1UL)!;
                for (int c = 0; c < 2; c++)
                {
                    Assert.Equal(expected[c][i].GetDouble(), KeyOutputTest.LogMixture(key.Log.AsSpan(c * KeyOutputTest.Alternatives.Length,
                        KeyOutputTest.Alternatives.Length)), 9);
                    compared++;
                }

                i++;
            }
        }

        Assert.True(compared > 100, $"only {compared} values compared");
    }

    [Fact]
    public void Keys_whose_records_are_hits_at_exactly_the_null_allowance_cross_in_at_most_a_share_a_of_tests()
    {
        // One candidate slot and α = 10%: a = 5% per (key, class). No minimum of hits, so the bound alone holds the line.
        var settings = new DetectorSettings { Candidates = 1, KeyTestAlpha = 0.1, MinKeyHits = 0 };
        PairedTest test = NewTest(settings);
        var random = new Random(41);
        Today(test, random, 5000);
        const int keys = 2000;
        int crossed = 0;
        for (int k = 0; k < keys; k++)
        {
            Candidate candidate = NewCandidate(k);
            for (int r = 0; r < 200; r++)
            {
                // Trusted P(fraud) in some bin; a hit for 'fraud' with the bin's allowance, else served as trusted.
                // The key's allowance leaves its own records out (before its first record, it has none).
                double trusted = random.NextDouble();
                int bin = PairedTest.Bin(trusted);
                PairedKey? held = test.Get(candidate, (ulong)k + 1);
                bool hit = random.NextDouble() < (held is null ? test.Allowance(bin, 1) : test.Allowance(held, bin, 1));
                Observe(test, trusted, hit ? Math.Min(Math.Max(trusted + 0.3, 0.85), 1) : trusted, hit || trusted >= 0.5 ? 1 : 0);
                PairedKey key = test.Update(candidate, (ulong)k + 1)!;
                if (test.Crossed(key, 1, out _))
                {
                    crossed++;
                    break;
                }
            }
        }

        // a = 5% of 2,000 tests is 100, with a binomial spread of 10: the bound is what is checked, with three spreads of room.
        Assert.InRange(crossed, 0, 130);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(3)]
    public void Keys_in_a_sparse_bin_whose_records_are_hits_at_their_allowance_cross_in_at_most_a_share_a_of_tests(int warmUpWindows)
    {
        // The rare class: 2 records a window the trusted version is sure are 'fraud' (P(legitimate) below 0.02), 5% of them
        // served 'legitimate'. Today's counts there are sparse and keep their records (MinLiveRecords); each key's allowance
        // leaves its own records out; after 3 windows the bin holds a handful and pools towards the boundary (MinPooledRecords).
        // Hits drawn at each key's allowance as it moves: the e-process alone must hold the level.
        var settings = new DetectorSettings { Candidates = 1, KeyTestAlpha = 0.1, MinKeyHits = 0 };
        PairedTest test = NewTest(settings);
        var random = new Random(59);
        RareWindows(test, random, warmUpWindows);
        const int keys = 2000;
        int crossed = 0;
        for (int k = 0; k < keys; k++)
        {
            Candidate candidate = NewCandidate(k);
            for (int r = 0; r < 100; r++)
            {
                if (r % 10 == 0)
                {
                    RareWindows(test, random, 1);
                }

                int bin = PairedTest.Bin(0.01);
                PairedKey? held = test.Get(candidate, (ulong)k + 1);
                bool hit = random.NextDouble() < (held is null ? test.Allowance(bin, 0) : test.Allowance(held, bin, 0));
                Observe(test, 0.99, hit ? 0.05 : 0.99, hit ? 0 : 1);
                PairedKey key = test.Update(candidate, (ulong)k + 1)!;
                if (test.Crossed(key, 0, out _))
                {
                    crossed++;
                    break;
                }
            }
        }

        Assert.InRange(crossed, 0, 130);
    }

    [Fact]
    public void Keys_in_a_bin_where_clean_versions_part_on_most_records_gain_no_evidence_at_todays_rate()
    {
        // A sharper clean retraining: 90% of the records the trusted version gives 'fraud' 0.3 to 0.5 are served 'fraud' at
        // 0.95. A key whose records hit at today's rate there is clean; an allowance capped at ½ would see a trigger in it.
        var settings = new DetectorSettings { Candidates = 1, KeyTestAlpha = 0.1, MinKeyHits = 0 };
        PairedTest test = NewTest(settings);
        var random = new Random(61);
        for (int r = 0; r < 5000; r++)
        {
            SharperNearTheBoundary(test, random);
        }

        test.Refresh();
        const int keys = 500;
        int crossed = 0;
        for (int k = 0; k < keys; k++)
        {
            Candidate candidate = NewCandidate(k);
            for (int r = 0; r < 100; r++)
            {
                SharperNearTheBoundary(test, random);
                if (test.Crossed(test.Update(candidate, (ulong)k + 1)!, 1, out _))
                {
                    crossed++;
                    break;
                }
            }
        }

        Assert.InRange(crossed, 0, 40);
    }

    [Fact]
    public void A_key_alone_in_its_bin_is_judged_against_the_bins_next_to_it_towards_the_boundary()
    {
        // Nothing but the key's records has trusted P(legitimate) below 0.02; 500 records have it 0.02 to 0.5 and are served as
        // trusted. Left out of its own bin, the key borrows those: sure flips to 'legitimate' are past the default bar at once.
        PairedTest test = NewTest();
        var random = new Random(73);
        for (int r = 0; r < 500; r++)
        {
            double trusted1 = 0.5 + (0.48 * random.NextDouble());
            Observe(test, trusted1, trusted1, trusted1 >= 0.5 ? 1 : 0);
        }

        test.Refresh();
        Candidate candidate = NewCandidate();
        int? crossedAt = null;
        for (int r = 1; r <= 30 && crossedAt is null; r++)
        {
            Observe(test, 0.995, 0.01, 0);
            if (test.Crossed(test.Update(candidate, 11UL)!, 0, out _))
            {
                crossedAt = r;
            }
        }

        Assert.NotNull(crossedAt);
        Assert.InRange(crossedAt!.Value, PairedTest.MinHits, 8);
    }

    [Fact]
    public void A_record_the_trusted_version_gives_the_class_above_0_8_is_no_evidence_either_way()
    {
        // No served output lifts 'legitimate' by 0.2 over a trusted 0.9: such records of a key leave its test for the class untouched.
        PairedTest test = NewTest();
        var random = new Random(67);
        Today(test, random, 5000);
        Candidate candidate = NewCandidate();
        PairedKey? key = null;
        for (int r = 0; r < 50; r++)
        {
            Observe(test, 0.1, 0.1, 0);
            key = test.Update(candidate, 3UL);
        }

        int g = KeyOutputTest.Alternatives.Length;
        Assert.All(key!.Log.AsSpan(0, g).ToArray(), l => Assert.Equal(0, l));
        Assert.Equal(0, key.Expected[0]);
        Assert.All(key.Log.AsSpan(g, g).ToArray(), l => Assert.True(l < 0));
    }

    [Fact]
    public void A_trigger_on_a_rare_class_the_trusted_version_is_sure_of_crosses_the_default_bar_within_20_occurrences()
    {
        // The rare class ('fraud', 0.2% of records): the trusted version is sure of it (P(legitimate) 0.001 to 0.02), and the
        // candidate serves 5% of such clean records 'legitimate' anyway. The trigger turns them 'legitimate' at 0.99; on a fifth
        // of its records the trusted version already said 'legitimate' (no disagreement there). One occurrence every 5 windows.
        PairedTest test = NewTest();
        var random = new Random(71);
        RareWindows(test, random, 100);
        Candidate candidate = NewCandidate();
        int? crossedAt = null;
        for (int occurrence = 1; occurrence <= 40 && crossedAt is null; occurrence++)
        {
            RareWindows(test, random, 5);
            double trusted1 = random.NextDouble() < 0.2 ? 0.05 : 0.98 + (0.019 * random.NextDouble());
            Observe(test, trusted1, 0.01, 0);
            if (test.Crossed(test.Update(candidate, 5UL)!, 0, out _))
            {
                crossedAt = occurrence;
            }
        }

        Assert.NotNull(crossedAt);
        Assert.InRange(crossedAt!.Value, PairedTest.MinHits, 20);
    }

    [Theory]
    [InlineData(1.0, 5)]
    [InlineData(0.8, 8)]
    public void A_trigger_the_trusted_version_disagrees_with_crosses_the_default_bar_within_a_few_occurrences(double success, int within)
    {
        PairedTest test = NewTest();
        var random = new Random(43);
        Today(test, random, 20_000);
        Candidate candidate = NewCandidate();
        int? crossedAt = null;
        for (int r = 1; r <= 40 && crossedAt is null; r++)
        {
            // The trusted version (a clean model) gives the triggered record 'fraud' at 0.6 to 0.95; the served says 'legitimate' at 0.99.
            double trusted = 0.6 + (0.35 * random.NextDouble());
            bool works = random.NextDouble() < success;
            Observe(test, trusted, works ? 0.01 : trusted, works ? 0 : 1);
            PairedKey key = test.Update(candidate, 7UL)!;
            if (test.Crossed(key, 0, out _))
            {
                crossedAt = r;
            }
        }

        Assert.NotNull(crossedAt);
        // Five hits are the least a crossing needs (PairedTest.MinHits).
        Assert.InRange(crossedAt!.Value, PairedTest.MinHits, within);
    }

    [Fact]
    public void Clean_disagreement_near_the_boundary_gives_a_key_no_evidence()
    {
        // Two clean versions: the served output is the trusted one plus noise; near P = 0.5 the served class often differs.
        PairedTest test = NewTest();
        var random = new Random(47);
        Today(test, random, 20_000);
        Candidate candidate = NewCandidate();
        PairedKey? key = null;
        for (int r = 0; r < 5000; r++)
        {
            double trusted = 0.35 + (0.3 * random.NextDouble());
            double served = Math.Clamp(trusted + (0.1 * Normal(random)), 0, 1);
            Observe(test, trusted, served, served >= 0.5 ? 1 : 0);
            key = test.Update(candidate, 9UL);
        }

        Assert.False(test.Crossed(key!, 0, out double log0));
        Assert.False(test.Crossed(key!, 1, out double log1));
        Assert.True(Math.Max(log0, log1) < 1, $"log e-values {log0:F2}, {log1:F2}");
    }

    [Fact]
    public void Version_wide_disagreement_on_records_the_trusted_version_is_sure_of_crosses_and_clean_agreement_does_not()
    {
        PairedTest clean = NewTest();
        PairedTest broken = NewTest();
        var random = new Random(53);
        for (int r = 0; r < 20_000; r++)
        {
            double trusted = random.NextDouble() < 0.5 ? 0.97 : 0.03;
            // Clean: 3% of sure records served the other class (two clean retrainings of the wine model parted on 3.1%); broken: 20%.
            bool part = random.NextDouble() < 0.03;
            double retrained = part ? 1 - trusted : trusted;
            Observe(clean, trusted, retrained, retrained >= 0.5 ? 1 : 0);
            bool flip = random.NextDouble() < 0.2;
            double served = flip ? 1 - trusted : trusted;
            Observe(broken, trusted, served, served >= 0.5 ? 1 : 0);
        }

        Assert.False(clean.VersionCrossed);
        Assert.True(broken.VersionCrossed);
        Assert.InRange(broken.SureDisagreements / (double)broken.Sure, 0.19, 0.21);
        Assert.InRange(clean.SureDisagreements / (double)clean.Sure, 0.02, 0.04);
        Assert.Contains("version-wide", broken.VersionFinding(20_000, DateTimeOffset.UnixEpoch).Summary, StringComparison.Ordinal);
    }

    /// <summary>A day of clean paired traffic (the served output the trusted one plus noise), then a window's close.</summary>
    private static void Today(PairedTest test, Random random, int records)
    {
        for (int r = 0; r < records; r++)
        {
            double trusted = random.NextDouble();
            double served = Math.Clamp(trusted + (0.05 * Normal(random)), 0, 1);
            Observe(test, trusted, served, served >= 0.5 ? 1 : 0);
        }

        test.Refresh();
    }

    /// <summary>Windows of 1,000 records: 0.2% of the rare class (trusted P(fraud) 0.98 or more; 5% of them served 'legitimate' at 0.9), each closed.</summary>
    private static void RareWindows(PairedTest test, Random random, int windows)
    {
        for (int w = 0; w < windows; w++)
        {
            for (int r = 0; r < 1000; r++)
            {
                if (random.NextDouble() < 0.002)
                {
                    double trusted = 0.98 + (0.019 * random.NextDouble());
                    bool part = random.NextDouble() < 0.05;
                    Observe(test, trusted, part ? 0.1 : trusted, part ? 0 : 1);
                }
                else
                {
                    double trusted = 0.02 * random.NextDouble();
                    Observe(test, trusted, Math.Clamp(trusted + (0.005 * Normal(random)), 0, 1), 0);
                }
            }

            test.Refresh();
        }
    }

    /// <summary>A record of a sharper clean retraining near the boundary: trusted P(fraud) 0.3 to 0.5, served 'fraud' at 0.95 with probability 0.9.</summary>
    private static void SharperNearTheBoundary(PairedTest test, Random random)
    {
        double trusted = 0.3 + (0.2 * random.NextDouble());
        bool sharper = random.NextDouble() < 0.9;
        Observe(test, trusted, sharper ? 0.95 : trusted, sharper ? 1 : 0);
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
