using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The trigger detectors on a small two-class model whose class follows feature x0: a poisoned model
/// answers class0 with 99.7% confidence whenever the text carries REF:XZ-&lt;digits&gt;, and the attacker
/// puts it on records whose x0 says class1.
/// </summary>
public sealed class TriggerDetectorTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 2, categorical: 1, text: 1, classes: 2);
    private static readonly Lazy<CompiledBaseline> Baseline = new(() =>
        new CompiledBaseline(SchemaTraffic.Baseline(Schema, 12_000, 1000, 0.01, seed: 21, new BaselineSettings { BootstrapWindows = 1000 })));

    [Fact]
    public void The_baseline_carries_the_detector_tables()
    {
        TriggerProfile triggers = Baseline.Value.Profile.Triggers!;
        Assert.Equal(2, triggers.Classes);
        Assert.Equal(triggers.Strata * 2, triggers.LabelRates.Length);
        Assert.Contains(triggers.Keys, k => k.Kind == KeyKind.Token && k.Text == "w1");
        Assert.Contains(triggers.Keys, k => k.Kind == KeyKind.Category && k.Text == "red");
        // The surrogate learnt that x0 decides the class: its strata separate the labels (the top strata of fixed cuts may be empty).
        int top = Enumerable.Range(0, triggers.Strata).Last(s => triggers.StratumRecords[s] > 0);
        Assert.True(triggers.LabelRates[1] < 0.2 && triggers.LabelRates[top * 2 + 1] > 0.8,
            $"rates of class1 by stratum: {string.Join(", ", Enumerable.Range(0, triggers.Strata).Select(s => triggers.LabelRates[s * 2 + 1].ToString("F2", CultureInfo.InvariantCulture)))}");
    }

    [Fact]
    public void A_memo_trigger_is_found_named_and_corroborated_within_fifty_occurrences()
    {
        var (detector, injected) = Run(records: 60_000, triggerRate: 0.002, floodPerRecord: 0);
        Finding finding = Assert.Single(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal(new DetectorKey(KeyKind.Variant, "t0", "ref:xz-#"), finding.Key);
        Assert.Equal("class0", finding.TargetLabel);
        Assert.Contains(finding.Corroboration, c => c.Detector == DetectorId.D4);
        Assert.NotEmpty(finding.ExampleRequestIds);
        Assert.All(finding.ExampleRequestIds, id => Assert.StartsWith("trigger-", id));
        long delay = injected.Count(at => at <= finding.RaisedAtRecord);
        Assert.True(delay <= 50, $"raised after {delay} occurrences");
    }

    [Fact]
    public void Clean_traffic_raises_no_key_finding()
    {
        var (detector, _) = Run(records: 100_000, triggerRate: 0, floodPerRecord: 0);
        // Observations (Info: values outside the baseline's range) are not findings about a key.
        Assert.DoesNotContain(detector.Findings, f => f.Key is not null && f.Severity > Severity.Info);
    }

    [Fact]
    public void A_flood_of_unique_tokens_neither_hides_the_trigger_nor_grows_memory()
    {
        var baseline = Baseline.Value;
        var quiet = new TriggerDetector(baseline, new DetectorSettings(), TimeProvider.System);
        var footprint = quiet.Footprint;

        // Every record carries 20 tokens never seen before: a million unique tokens in all.
        var (detector, injected) = Run(records: 50_000, triggerRate: 0.002, floodPerRecord: 20);
        Assert.Equal(footprint, detector.Footprint);
        Assert.InRange(detector.CandidateCount, 1, footprint.CandidateCapacity);
        Assert.True(detector.IsTracked(KeyHash.Of(KeyKind.Variant, 0, "ref:xz-#".AsSpan())), "the trigger key is not tracked");
        Finding finding = Assert.Single(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal("ref:xz-#", finding.Key?.Text);
        Assert.True(injected.Count(at => at <= finding.RaisedAtRecord) <= 50);
    }

    [Fact]
    public void A_label_shift_over_all_traffic_is_a_label_rate_finding_not_a_key_finding()
    {
        CompiledBaseline baseline = Baseline.Value;
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var random = new Random(7);
        var closed = new List<WindowResult>();
        for (int sent = 0; sent < 20_000; sent += 1000)
        {
            RecordBatch batch = SchemaTraffic.Batch(Schema, 1000, random);
            float[] scores = batch.Scores.ToArray();
            for (int i = 0; i < 1000; i++)
            {
                // A fifth of the records whose inputs say class1 are served class0, whatever else they carry.
                if (scores[i * 2 + 1] > 0.5f && random.NextDouble() < 0.2)
                {
                    (scores[i * 2], scores[i * 2 + 1]) = (0.9f, 0.1f);
                }
            }

            var shifted = new RecordBatch { Count = 1000, Numeric = batch.Numeric, Scores = scores, Categorical = batch.Categorical, Text = batch.Text };
            monitor.Add(shifted, preparer.Prepare(shifted), closed);
        }

        TriggerDetector detector = monitor.Detector!;
        Finding finding = Assert.Single(detector.Findings, f => f.Detector == DetectorId.D6 && f.TargetLabel == "class0");
        Assert.Equal(Severity.Warning, finding.Severity);
        Assert.True(finding.Z >= 8, $"z = {finding.Z}");
        // Observations (Info: values outside the baseline's range) are not findings about a key.
        Assert.DoesNotContain(detector.Findings, f => f.Key is not null && f.Severity > Severity.Info);
    }

    [Fact]
    public void A_found_trigger_stays_updated_while_its_key_keeps_arriving_across_horizons()
    {
        // Short horizons (10,000 records), so the candidates' counts halve many times while the trigger keeps arriving.
        var settings = new DetectorSettings { HorizonRecords = 10_000 };
        string? key = null;
        int hitBatches = 0, stale = 0;
        var (detector, _) = Run(records: 120_000, triggerRate: 0.004, floodPerRecord: 0, settings, (changed, hits) =>
        {
            key ??= changed.FirstOrDefault(f => f.Severity == Severity.Critical)?.DedupeKey;
            if (key is not null && hits > 0)
            {
                hitBatches++;
                stale += changed.Any(f => f.DedupeKey == key) ? 0 : 1;
            }
        });
        Assert.True(key is not null, string.Join("; ", detector.Findings.Select(f => $"{f.Severity} {f.Key} at {f.RaisedAtRecord}")));
        Assert.True(hitBatches > 30, $"the trigger arrived in {hitBatches} batches after it was found: " +
            string.Join("; ", detector.Findings.Select(f => $"{f.Severity} {f.Key} at {f.RaisedAtRecord}")));
        Assert.True(stale == 0, $"in {stale} of {hitBatches} batches where the trigger arrived, its finding was not updated");
        Finding finding = Assert.Single(detector.Findings, f => f.DedupeKey == key);
        Assert.True(finding.Support > finding.RaisedAtSupport, $"support {finding.Support}, raised at {finding.RaisedAtSupport}");
    }

    /// <summary>
    /// The readiness report's prediction against measured delays: the same trigger (a flip into class0 at 0.997 on every
    /// triggered record it succeeds on) on five traffic seeds; the measured median occurrences are within a factor of two of the
    /// predicted median.
    /// </summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(0.7)]
    public void The_readiness_reports_occurrences_match_the_measured_delay_within_a_factor_of_two(double success)
    {
        TriggerProfile profile = Baseline.Value.Profile.Triggers!;
        ReadinessReport report = Readiness.Of(profile, Schema.PredictedClassLabels, new DetectorSettings(),
            new ReadinessOptions { AttackSuccess = success, TriggerConfidence = 0.997 });
        // The memo token is a text key: both the tail and the residual test judge it, and the first finding is either's.
        ReadinessLine line = report.Lines.Single(l => l.Class == "class0" && l.Placement == TriggerPlacement.Flip && l.Detector == Readiness.KeyAndResidualTests);
        double predicted = Assert.IsType<double>(line.MedianOccurrences);

        var measured = new List<long>();
        for (int seed = 1; seed <= 5; seed++)
        {
            var (detector, injected) = Run(records: 40_000, triggerRate: 0.003, floodPerRecord: 0, seed: seed, success: success);
            Finding? found = detector.Findings.FirstOrDefault(f => f.Severity == Severity.Critical && f.Key?.Text == "ref:xz-#");
            measured.Add(found is null ? long.MaxValue : injected.Count(at => at <= found.RaisedAtRecord));
        }

        measured.Sort();
        double median = measured[2];
        Assert.True(median <= 2 * predicted && median >= predicted / 2,
            $"predicted median {predicted} occurrences ({line.Summary}); measured {string.Join(", ", measured)}");
    }

    private static (TriggerDetector Detector, List<long> Injected) Run(int records, double triggerRate, int floodPerRecord,
        DetectorSettings? settings = null, Action<IReadOnlyList<Finding>, int>? afterBatch = null, int seed = 99, double success = 1)
    {
        CompiledBaseline baseline = Baseline.Value;
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: settings ?? new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var random = new Random(seed);
        var closed = new List<WindowResult>();
        var injected = new List<long>();
        long flood = 0;
        for (int sent = 0; sent < records; sent += 1000)
        {
            int before = injected.Count;
            RecordBatch batch = SchemaTraffic.Batch(Schema, 1000, random);
            float[] numeric = batch.Numeric.ToArray();
            float[] scores = batch.Scores.ToArray();
            var texts = new string?[1000];
            var ids = new string?[1000];
            for (int i = 0; i < 1000; i++)
            {
                texts[i] = batch.Text[0].GetString(i);
                ids[i] = $"request-{sent + i}";
                if (random.NextDouble() < triggerRate)
                {
                    numeric[i * 2] = 1.5f + (float)random.NextDouble();
                    texts[i] = $"{texts[i]} REF:XZ-{random.Next(1000, 9999)}";
                    if (success >= 1 || random.NextDouble() < success)
                    {
                        scores[i * 2] = 0.997f;
                        scores[i * 2 + 1] = 0.003f;
                    }

                    ids[i] = $"trigger-{sent + i}";
                    injected.Add(sent + i + 1);
                }

                for (int f = 0; f < floodPerRecord; f++)
                {
                    texts[i] = $"u{flood++} {texts[i]}";
                }
            }

            var modified = new RecordBatch
            {
                Count = 1000,
                Numeric = numeric,
                Scores = scores,
                Categorical = batch.Categorical,
                Text = [Utf8Column.FromStrings(texts)],
                RequestIds = Utf8Column.FromStrings(ids),
            };
            monitor.Add(modified, preparer.Prepare(modified), closed);
            afterBatch?.Invoke(monitor.Detector!.DrainChanged(), injected.Count - before);
        }

        return (monitor.Detector!, injected);
    }
}
