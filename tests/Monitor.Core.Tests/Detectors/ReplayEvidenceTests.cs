using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Evidence counts distinct inputs. An attacker holding only an ingest key replays one honest transaction, with the
/// model's own output, at 1% of clean traffic: a transaction the model scores 'fraud' although the baseline's surrogate
/// gives it little chance, so that every copy is a surprise the served output does not follow the surrogate on. Counted
/// per record, its exact amount became a critical D2 finding after 30 copies. The fraud model's baseline here is the one
/// the server tests set up (6,000 clean reference records, windows of 500).
/// </summary>
public sealed class ReplayEvidenceTests
{
    private const int Records = 20_000;
    private const double ReplayRate = 0.01;

    private static readonly Lazy<CompiledBaseline> Baseline = new(() => Fit(6000));

    /// <summary>A larger reference, with enough high-risk records for strata where 'legitimate' is a surprise (as the server's trigger tests use).</summary>
    private static readonly Lazy<CompiledBaseline> LargeBaseline = new(() => Fit(20_000));

    [Fact]
    public void An_exact_replay_of_one_clean_record_at_one_percent_raises_no_critical_finding()
    {
        (TriggerDetector detector, int copies) = Replay(jitter: false);
        Assert.True(copies >= 150, $"{copies} copies");
        Assert.DoesNotContain(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.DoesNotContain(detector.Findings, f => f.Detector is DetectorId.D1 or DetectorId.D2 && f.Severity > Severity.Info);
        Assert.False(detector.CriticalActive);
    }

    [Fact]
    public void A_replay_with_one_field_jittered_beyond_its_fine_bin_raises_no_critical_finding()
    {
        (TriggerDetector detector, int copies) = Replay(jitter: true);
        Assert.True(copies >= 150, $"{copies} copies");
        Assert.DoesNotContain(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.DoesNotContain(detector.Findings, f => f.Detector is DetectorId.D1 or DetectorId.D2 && f.Severity > Severity.Info);
        Assert.False(detector.CriticalActive);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_replay_is_reported_once_as_identical_requests(bool jitter)
    {
        (TriggerDetector detector, int copies) = Replay(jitter);
        Finding observation = Assert.Single(detector.Findings, f => f.Detector == DetectorId.D7);
        Assert.Equal(Severity.Info, observation.Severity);
        Assert.Equal("fraud", observation.TargetLabel);
        // Under the first of the record's keys that only the replay carries: its exact amount (the age is what is jittered).
        Assert.Equal(KeyKind.Value, observation.Key?.Kind);
        Assert.Equal("amount", observation.Key?.Field);
        Assert.InRange(observation.Support, copies * 0.8, copies);
        Assert.All(observation.ExampleRequestIds, id => Assert.StartsWith("replay-", id));
        Assert.NotEmpty(observation.ExampleRequestIds);
        Assert.StartsWith("identical requests: ", observation.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trigger_on_distinct_records_is_found_as_early_as_when_every_record_counted()
    {
        (Finding distinct, long distinctDelay) = Trigger(new DetectorSettings());
        (Finding everyRecord, long everyRecordDelay) = Trigger(new DetectorSettings { RememberedInputs = 0 });

        Assert.Equal(everyRecord.Key, distinct.Key);
        Assert.Equal(new DetectorKey(KeyKind.Variant, "memo", "ref:xz-#"), distinct.Key);
        Assert.InRange(distinctDelay, everyRecordDelay, everyRecordDelay * 1.1 + 1);
        Assert.InRange(distinct.Support, everyRecord.Support * 0.95, everyRecord.Support);
    }

    private static CompiledBaseline Fit(int records)
    {
        var reference = new FraudTraffic(seed: 1000);
        RecordBatch[] batches = [.. Enumerable.Range(0, records / 1000).Select(_ => reference.Next(1000, FraudDrift.None))];
        return new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
    }

    /// <summary>A clean record of another stream that every detector would take for a trigger's, were it repeated.</summary>
    private static (RecordBatch Batch, int Index) SurprisingRecord()
    {
        CompiledBaseline baseline = Baseline.Value;
        TriggerProfile profile = baseline.Profile.Triggers!;
        RecordBatch batch = new FraudTraffic(seed: 31).Next(10_000, FraudDrift.None);
        PreparedBatch prepared = new BatchPreparer(baseline).Prepare(batch);
        ReadOnlySpan<float> scores = batch.Scores.Span;
        var active = new int[profile.Surrogate.NumericOffsets.Length + profile.Surrogate.CategoricalOffsets.Length];
        var surrogate = new double[2];
        // Served fraud beyond its stratum's tail (a hit to the whole-output test); of those, the one the surrogate disagrees
        // with most.
        const int fraud = 1;
        int best = -1;
        double largest = double.NegativeInfinity;
        for (int i = 0; i < batch.Count; i++)
        {
            profile.Surrogate.Predict(baseline, prepared, i, active, surrogate);
            int stratum = profile.StratumOf(surrogate);
            double[] served = [1 - scores[2 * i + fraud], scores[2 * i + fraud]];
            double residual = served[fraud] - surrogate[fraud];
            if (served[fraud] >= 0.5 && profile.Tails!.Hit(stratum, 2, fraud, served) && residual > largest)
            {
                best = i;
                largest = residual;
            }
        }

        if (best >= 0)
        {
            return (batch, best);
        }

        throw new InvalidOperationException("no clean record the surrogate disagrees with");
    }

    /// <summary>
    /// Clean traffic with one record replayed at 1%, inputs and outputs unchanged; with <paramref name="jitter"/> its
    /// account age is drawn afresh for each copy, outside the original's fine bin.
    /// </summary>
    private static (TriggerDetector Detector, int Copies) Replay(bool jitter)
    {
        CompiledBaseline baseline = Baseline.Value;
        (RecordBatch source, int index) = SurprisingRecord();
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        float[] row = source.Numeric.Span.Slice(index * d, d).ToArray();
        float[] ageEdges = baseline.Profile.Triggers!.Values.FineEdges[1];
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var traffic = new FraudTraffic(seed: 77);
        var random = new Random(5);
        var closed = new List<WindowResult>();
        int copies = 0;
        for (int sent = 0; sent < Records; sent += 500)
        {
            RecordBatch clean = traffic.Next(500, FraudDrift.None);
            var rows = new List<int>();
            for (int i = 0; i < clean.Count; i++)
            {
                if (random.NextDouble() < ReplayRate)
                {
                    rows.Add(i);
                }
            }

            RecordBatch batch = WithCopies(clean, sent, rows, source, index, () =>
            {
                float[] copied = (float[])row.Clone();
                while (jitter && Quantiles.BinOf(ageEdges, copied[1]) == Quantiles.BinOf(ageEdges, row[1]))
                {
                    copied[1] = (float)(row[1] * (0.5 + random.NextDouble()));
                }

                return copied;
            });
            copies += rows.Count;
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return (monitor.Detector!, copies);
    }

    /// <summary>The clean batch with the given rows replaced by copies of a source record (numeric row from <paramref name="numeric"/>, request ids replay-…).</summary>
    private static RecordBatch WithCopies(RecordBatch clean, int sent, List<int> rows, RecordBatch source, int index, Func<float[]> numeric)
    {
        int n = clean.Count;
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        float[] values = clean.Numeric.ToArray();
        float[] scores = clean.Scores.ToArray();
        string?[][] categorical = [.. clean.Categorical.Select(column => Enumerable.Range(0, n).Select(i => (string?)column.GetString(i)).ToArray())];
        string?[] memos = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Text[0].GetString(i))];
        string?[] ids = [.. Enumerable.Range(0, n).Select(i => (string?)clean.RequestIds.GetString(i))];
        foreach (int i in rows)
        {
            numeric().CopyTo(values, i * d);
            source.Scores.Span.Slice(index * 2, 2).CopyTo(scores.AsSpan(i * 2, 2));
            for (int c = 0; c < categorical.Length; c++)
            {
                categorical[c][i] = source.Categorical[c].GetString(index);
            }

            memos[i] = source.Text[0].Get(index).IsEmpty ? null : source.Text[0].GetString(index);
            ids[i] = $"replay-{sent + i}";
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = values,
            Scores = scores,
            Categorical = [.. categorical.Select(Utf8Column.FromStrings)],
            Text = [Utf8Column.FromStrings(memos)],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }

    /// <summary>
    /// The memo trigger of <see cref="FraudDrift.TriggerRate"/> on distinct fraudulent transactions, served 'legitimate':
    /// its critical finding, and the trigger occurrences up to the record that raised it.
    /// </summary>
    private static (Finding Finding, long Delay) Trigger(DetectorSettings settings)
    {
        CompiledBaseline baseline = LargeBaseline.Value;
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: settings);
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var traffic = new FraudTraffic(seed: 78);
        var closed = new List<WindowResult>();
        var occurrences = new List<long>();
        long seen = 0;
        for (int sent = 0; sent < 60_000; sent += 500)
        {
            RecordBatch batch = traffic.Next(500, new FraudDrift(TriggerRate: 0.003));
            for (int i = 0; i < batch.Count; i++)
            {
                if (batch.Text[0].GetString(i).Contains("REF:XZ-", StringComparison.Ordinal))
                {
                    occurrences.Add(seen + i + 1);
                }
            }

            seen += batch.Count;
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        Finding finding = Assert.Single(monitor.Detector!.Findings, f => f.Severity == Severity.Critical);
        return (finding, occurrences.Count(at => at <= finding.RaisedAtRecord));
    }
}
