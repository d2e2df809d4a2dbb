using System.Text.Json;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The whole-output key test's e-process: its value against scipy (Fixtures/key_test.json, made by
/// make_key_test_fixture.py beside it), its level under the null simulated, and its power at the attack successes the
/// detectors are asked to find.
/// </summary>
public sealed class KeyOutputTestTests
{
    [Fact]
    public void An_interior_percentile_bin_is_a_region_of_the_inputs_whatever_its_share_of_the_key_table()
    {
        var reference = new FraudTraffic(seed: 5600);
        RecordBatch[] batches = [.. Enumerable.Range(0, 5).Select(_ => reference.Next(1000, FraudDrift.None))];
        TriggerProfile profile = ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 1000,
            settings: new BaselineSettings { BootstrapWindows = 500 }).Triggers!;
        int edges = profile.Values!.FineEdges[0].Length;
        BaselineKey bin = Assert.Single(profile.Keys, k => k is { Kind: KeyKind.FineBin, Field: 0, Payload: 1 });
        // A percentile bin may hold fewer than MaxBaselineShare of the key table's records (ties, another sample); here 1 record.
        BaselineKey interior = bin with { Payload = (ulong)(edges / 2), Text = "interior", Support = 1 };
        BaselineKey lowest = bin with { Payload = 0, Text = "lowest", Support = 1 };
        BaselineKey highest = bin with { Payload = (ulong)edges, Text = "highest", Support = 1 };
        var test = new KeyOutputTest(profile with { Keys = [interior, lowest, highest] }, profile.Tails!, new DetectorSettings(), ["legitimate", "fraud"]);

        Assert.Equal(1.0 / profile.Records, test.BaselineShare(interior.Hash()));
        // The open-ended bins at either end are where values beyond the baseline's usual range fall (a patch's pixels): not regions.
        Assert.Null(test.BaselineShare(lowest.Hash()));
        Assert.Null(test.BaselineShare(highest.Hash()));
    }

    [Fact]
    public void The_log_e_value_after_every_record_matches_scipy()
    {
        using JsonDocument fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "key_test.json")));
        Assert.Equal(KeyOutputTest.Alternatives, fixture.RootElement.GetProperty("alternatives").EnumerateArray().Select(a => a.GetDouble()));
        int compared = 0;
        foreach (JsonElement test in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            bool[] hits = [.. test.GetProperty("hits").EnumerateArray().Select(h => h.GetBoolean())];
            double[] p0 = [.. test.GetProperty("p0").EnumerateArray().Select(p => p.GetDouble())];
            double[] expected = [.. test.GetProperty("log_e").EnumerateArray().Select(e => e.GetDouble())];
            var logs = new double[KeyOutputTest.Alternatives.Length];
            for (int i = 0; i < hits.Length; i++)
            {
                KeyOutputTest.Add(logs, hits[i], p0[i]);
                Assert.Equal(expected[i], KeyOutputTest.LogMixture(logs), 1e-9 * Math.Max(1, Math.Abs(expected[i])));
                compared++;
            }
        }

        Assert.True(compared > 100, $"{compared} values compared");
    }

    /// <summary>
    /// Records whose hit probability is exactly the null's allowance (the worst case the null allows), which varies from
    /// record to record: the share of 4,000 sequences of 400 records whose e-value ever reaches 1/a stays within a
    /// (Ville's inequality), at a = 5% and 1%. The bound is one-sided; the realised share is well under it, as the mixture
    /// loses some evidence.
    /// </summary>
    [Theory]
    [InlineData(0.05)]
    [InlineData(0.01)]
    public void Under_the_null_the_e_value_reaches_one_over_a_in_at_most_a_share_a_of_sequences(double a)
    {
        var random = new Random(41);
        const int sequences = 4000;
        int crossed = 0;
        var logs = new double[KeyOutputTest.Alternatives.Length];
        for (int s = 0; s < sequences; s++)
        {
            Array.Clear(logs);
            for (int i = 0; i < 400; i++)
            {
                double p0 = 0.005 + 0.3 * random.NextDouble();
                KeyOutputTest.Add(logs, random.NextDouble() < p0, p0);
                if (KeyOutputTest.LogMixture(logs) >= Math.Log(1 / a))
                {
                    crossed++;
                    break;
                }
            }
        }

        double share = crossed / (double)sequences;
        double allowed = a + 3 * Math.Sqrt(a * (1 - a) / sequences);
        Assert.True(share <= allowed, $"{crossed} of {sequences} sequences crossed 1/{1 / a:F0}: {share:P2}, allowed {allowed:P2}");
    }

    /// <summary>
    /// A trigger succeeding on 85% of its records, where the null allows 3% (three times a 1% tail): the e-value passes the
    /// default bar (4,096 keys × 10 classes at 1%) within 15 records in at least 99 of 100 draws; at 97% success within 10.
    /// </summary>
    [Theory]
    [InlineData(0.85, 15)]
    [InlineData(0.97, 10)]
    public void A_trigger_at_the_stated_success_passes_the_default_bar_within_a_few_records(double success, int records)
    {
        var settings = new DetectorSettings();
        double bar = Math.Log(settings.Candidates * 10.0 / settings.KeyTestAlpha);
        var random = new Random(7);
        int found = 0;
        var logs = new double[KeyOutputTest.Alternatives.Length];
        for (int draw = 0; draw < 100; draw++)
        {
            Array.Clear(logs);
            for (int i = 0; i < records; i++)
            {
                KeyOutputTest.Add(logs, random.NextDouble() < success, 0.03);
            }

            found += KeyOutputTest.LogMixture(logs) >= bar ? 1 : 0;
        }

        Assert.True(found >= 99, $"passed the bar within {records} records in {found} of 100 draws");
    }

    [Fact]
    public void An_alternative_below_the_null_adds_nothing_and_the_null_component_bounds_the_loss()
    {
        var logs = new double[KeyOutputTest.Alternatives.Length];
        for (int i = 0; i < 10_000; i++)
        {
            KeyOutputTest.Add(logs, hit: false, p0: 0.5);
        }

        // q ≤ p₀ = 0.5 counts as p₀: those alternatives have gained and lost nothing; the others lost much.
        Assert.All(logs.Take(4), l => Assert.Equal(0, l));
        Assert.All(logs.Skip(4), l => Assert.True(l < -100));
        // However long a benign history, the e-value stays at least 1 / (|Q| + 1).
        var misses = new double[KeyOutputTest.Alternatives.Length];
        for (int i = 0; i < 10_000; i++)
        {
            KeyOutputTest.Add(misses, hit: false, p0: 0.01);
        }

        Assert.True(KeyOutputTest.LogMixture(misses) >= -Math.Log(KeyOutputTest.Alternatives.Length + 1) - 1e-12);
    }
}
