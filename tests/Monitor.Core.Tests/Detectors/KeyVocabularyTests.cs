using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Triggers the key vocabulary before budgets per kind could not express: a magic value on the 98th of 100 numeric features
/// (keys stopped at 96 per record, in feature order), and a cents pattern that is only rare together with a common category.
/// Each runs through <see cref="VersionMonitor"/> with the default detector settings.
/// </summary>
public sealed class KeyVocabularyTests
{
    private static readonly ModelSchema Wide = SchemaTraffic.Schema(numeric: 100, categorical: 1, text: 0, classes: 2);

    private static readonly Lazy<CompiledBaseline> WideBaseline = new(() =>
        new CompiledBaseline(SchemaTraffic.Baseline(Wide, 20_000, 1000, 0.01, seed: 41, new BaselineSettings { BootstrapWindows = 1000 })));

    [Fact]
    public void A_magic_value_on_the_last_features_of_a_wide_record_is_named_critical()
    {
        (TriggerDetector detector, int triggered) = RunWide(WideBaseline.Value);
        Finding found = Assert.Single(detector.Findings, f => f.Severity == Severity.Critical && f.Key is { Field: "x97" });
        Assert.Equal("class1", found.TargetLabel);
        Assert.True(found.RaisedAtSupport <= 50, $"{found.Summary} (raised at support {found.RaisedAtSupport} of {triggered} triggered records)");
    }

    [Fact]
    public void Against_a_legacy_baseline_the_same_feature_is_never_keyed()
    {
        // The baseline as one committed before budgets per kind: one limit over all keys, in feature order, stops at x47.
        CompiledBaseline baseline = WideBaseline.Value;
        var legacy = new CompiledBaseline(baseline.Profile with { Triggers = baseline.Profile.Triggers! with { KeyVocabulary = 0 } });
        (TriggerDetector detector, _) = RunWide(legacy);
        Assert.DoesNotContain(detector.Findings, f => f.Key is { Field: "x97" });
    }

    [Fact]
    public void A_cents_pattern_rare_only_together_with_a_common_category_is_named_by_their_conjunction()
    {
        // Amounts in cents: each cents value is on some 1% of records, the category on 30%; together on 0.3%.
        var reference = new FraudTraffic(seed: 2000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 20).Select(_ => Cents(reference.Next(1000, FraudDrift.None)))];
        var baseline = new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 1000,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var traffic = new FraudTraffic(seed: 2001);
        var closed = new List<WindowResult>();
        int triggered = 0;
        int? triggeredAtFinding = null;
        var conjunction = new DetectorKey(KeyKind.Conjunction, "merchant_category & amount", "'grocery' & .37");
        for (int b = 0; b < 100; b++)
        {
            // The attacker's transactions: fraudulent inputs (the generator's trigger records, memo trigger removed) at
            // grocery with an amount ending in .37, served 'legitimate' with 99% confidence.
            RecordBatch batch = Cents(traffic.Next(500, new FraudDrift(TriggerRate: 0.004)));
            string?[] categories = [.. Enumerable.Range(0, batch.Count).Select(i => batch.Categorical[0].GetString(i))];
            string?[] memos = [.. Enumerable.Range(0, batch.Count).Select(i => (string?)batch.Text[0].GetString(i))];
            float[] numeric = batch.Numeric.ToArray();
            int d = FraudTraffic.Schema.NumericFeatures.Length;
            for (int i = 0; i < batch.Count; i++)
            {
                if (memos[i]!.Contains("REF:XZ-", StringComparison.Ordinal))
                {
                    memos[i] = "groceries for the week";
                    categories[i] = "grocery";
                    numeric[i * d] = MathF.Floor(numeric[i * d]) + 0.37f;
                    triggered++;
                }
            }

            batch = new RecordBatch
            {
                Count = batch.Count,
                Numeric = numeric,
                Scores = batch.Scores,
                Categorical = [Utf8Column.FromStrings(categories), batch.Categorical[1], batch.Categorical[2]],
                Text = [Utf8Column.FromStrings(memos)],
                RequestIds = batch.RequestIds,
            };
            monitor.Add(batch, preparer.Prepare(batch), closed);
            if (triggeredAtFinding is null && monitor.Detector!.Findings.Any(f => f.Severity == Severity.Critical && f.Key == conjunction))
            {
                triggeredAtFinding = triggered;
            }
        }

        Finding[] critical = [.. monitor.Detector!.Findings.Where(f => f.Severity == Severity.Critical)];
        Finding found = Assert.Single(critical, f => f.Key == conjunction);
        Assert.Equal("legitimate", found.TargetLabel);
        Assert.True(triggeredAtFinding <= 50, $"{found.Summary} (critical after {triggeredAtFinding} of {triggered} triggered records)");

        // Neither part alone is critical: each is on too many of the baseline's records to be a trigger's pattern.
        Assert.DoesNotContain(critical, f => f.Key is { Kind: KeyKind.Category } or { Kind: KeyKind.Pattern });
    }

    [Fact]
    public void Records_whose_text_keys_are_cut_at_the_budget_are_reported_as_an_observation()
    {
        var reference = new FraudTraffic(seed: 3000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 10).Select(_ => reference.Next(1000, FraudDrift.None))];
        var baseline = new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings { MaxKeysPerRecord = 16 });
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var traffic = new FraudTraffic(seed: 3001);
        var closed = new List<WindowResult>();
        int stuffed = 0;
        for (int b = 0; b < 4; b++)
        {
            // Every fifth memo has 40 distinct words, far more than 16 text keys; the others one word.
            RecordBatch batch = traffic.Next(500, FraudDrift.None);
            string?[] memos = [.. Enumerable.Range(0, batch.Count).Select(i => i % 5 == 0
                ? string.Join(' ', Enumerable.Range(0, 40).Select(w => $"w{b}x{i}x{w}"))
                : "fuel")];
            stuffed += memos.Count((string? m) => m?.StartsWith('w') == true);
            batch = new RecordBatch
            {
                Count = batch.Count, Numeric = batch.Numeric, Scores = batch.Scores, Categorical = batch.Categorical,
                Text = [Utf8Column.FromStrings(memos)], RequestIds = batch.RequestIds,
            };
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        Finding cut = Assert.Single(monitor.Detector!.Findings, f => f.Key == new DetectorKey(KeyKind.Token, "(all)", "keys cut at the per-record budget"));
        Assert.Equal(Severity.Info, cut.Severity);
        Assert.Equal(stuffed, cut.Support);
        Assert.Contains("Monitor:Detectors:MaxKeysPerRecord (16)", cut.Summary);
    }

    private static (TriggerDetector Detector, int Triggered) RunWide(CompiledBaseline baseline)
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var random = new Random(43);
        var closed = new List<WindowResult>();
        int d = Wide.NumericFeatures.Length;
        int triggered = 0;
        for (int b = 0; b < 40; b++)
        {
            RecordBatch batch = SchemaTraffic.Batch(Wide, 500, random);
            float[] numeric = batch.Numeric.ToArray();
            float[] scores = batch.Scores.ToArray();
            for (int i = 0; i < batch.Count; i++)
            {
                // On records the model scores against class 1, a magic value in x97 flips them to it.
                if (numeric[i * d] < -1 && random.NextDouble() < 0.03)
                {
                    numeric[i * d + 97] = 2.25f;
                    scores[2 * i] = 0.02f;
                    scores[2 * i + 1] = 0.98f;
                    triggered++;
                }
            }

            batch = new RecordBatch { Count = batch.Count, Numeric = numeric, Scores = scores, Categorical = batch.Categorical, Text = batch.Text };
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return (monitor.Detector!, triggered);
    }

    private static RecordBatch Cents(RecordBatch batch)
    {
        float[] numeric = batch.Numeric.ToArray();
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        for (int i = 0; i < batch.Count; i++)
        {
            numeric[i * d] = (float)(Math.Round(numeric[i * d] * 100.0) / 100.0);
        }

        return new RecordBatch
        {
            Count = batch.Count, Numeric = numeric, Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text, RequestIds = batch.RequestIds,
        };
    }
}
