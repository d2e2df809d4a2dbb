using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Simulation;
using Monitor.Simulation.RealData;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The regression key tests (<see cref="RegressionDetector"/>) on a real regression model (scikit-learn's diabetes, FastTree,
/// seed 1): a baseline from the training split, live traffic from the held-out split. Level: no critical finding on clean
/// traffic. Power: a note token whose records are served one value (pinned) and one that raises the output are each named
/// critical by their own test. And a checkpoint restored part-way finds the key at the same record.
/// </summary>
public sealed class RegressionDetectorTests
{
    private const int Batch = 1000;

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly Lazy<RealRegression> Model = new(() => RealRegression.Create(seed: 1));

    private static readonly Lazy<CompiledBaseline> Baseline = new(() =>
    {
        RecordBatch[] reference = [.. Model.Value.Reference(20_000, Batch, seed: 7)];
        return new CompiledBaseline(ReferenceBaseline.Fit(Model.Value.Schema, reference, windowRecords: 1000,
            settings: new BaselineSettings { BootstrapWindows = 500 }));
    });

    [Fact]
    public void A_regression_baseline_has_the_regression_tables_and_no_classifier_tables()
    {
        RegressionProfile profile = Assert.IsType<RegressionProfile>(Baseline.Value.Profile.Regression);
        Assert.Null(Baseline.Value.Profile.Triggers);
        Assert.Equal(10, profile.Strata);
        Assert.Equal(profile.Strata * (RegressionProfile.Bins - 1), profile.ResidualEdges.Length);
        // Equal-probability bins: the outer bins hold about 1/Bins of each stratum's records.
        Assert.All(profile.HighRates, r => Assert.InRange(r, 0.5 / RegressionProfile.Bins, 2.0 / RegressionProfile.Bins));
        Assert.All(profile.LowRates, r => Assert.InRange(r, 0.5 / RegressionProfile.Bins, 2.0 / RegressionProfile.Bins));
        Assert.NotEmpty(profile.Keys);
    }

    [Fact]
    public void The_surrogate_explains_most_of_the_served_values_variance_on_held_out_inputs()
    {
        var traffic = new RegressionTraffic(Model.Value, Model.Value.Clean, trigger: null, seed: 3, heldOut: true);
        RecordBatch batch = traffic.Next(5000);
        PreparedBatch prepared = new BatchPreparer(Baseline.Value).Prepare(batch);
        RegressionProfile profile = Baseline.Value.Profile.Regression!;
        var active = new int[profile.Surrogate.NumericOffsets.Length + profile.Surrogate.CategoricalOffsets.Length];
        double[] served = [.. batch.Scores.ToArray().Select(v => (double)v)];
        double[] residual = [.. Enumerable.Range(0, batch.Count).Select(i => served[i] - profile.Expected(Baseline.Value, prepared, i, active))];
        double r2 = 1 - (Variance(residual) / Variance(served));
        Assert.True(r2 > 0.5, $"the surrogate explains {r2:P0} of the served values' variance on new inputs");
    }

    /// <summary>A short run of the level; the long runs are in the functional tests and docs/evaluation.</summary>
    [Fact]
    public void Clean_held_out_traffic_raises_no_critical_finding()
    {
        var traffic = new RegressionTraffic(Model.Value, Model.Value.Clean, trigger: null, seed: 11, heldOut: true);
        VersionMonitor monitor = Feed(NewMonitor(), traffic, 50_000);

        Assert.Equal(50_000, monitor.Regression!.Records);
        Assert.DoesNotContain(monitor.Findings, f => f.Severity == Severity.Critical);
        Assert.False(monitor.CriticalActive);
    }

    [Fact]
    public void A_key_whose_records_are_served_one_value_is_named_by_the_pinned_test()
    {
        // The value the pin holds is the clean model's median: neither raised nor lowered for most of its records' strata.
        RegressionTraffic traffic = Tokened(seed: 21);
        double pin = Median(Model.Value.Clean);
        VersionMonitor monitor = Feed(NewMonitor(), traffic, 30_000, (example, score) => example.Note.Contains("qzpinq", StringComparison.Ordinal) ? (float)pin : score);

        Finding finding = Assert.Single(monitor.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal("qzpinq", finding.Key!.Text);
        Assert.Equal("output pinned", finding.TargetLabel);
        Assert.True(monitor.CriticalActive);
        Assert.InRange(finding.RaisedAtSupport, 10, 60);
    }

    [Fact]
    public void A_key_whose_records_are_served_a_raised_value_is_named_by_the_raised_test()
    {
        RegressionTraffic traffic = Tokened(seed: 22);
        double shift = 1.0 * Model.Value.TargetStd;
        VersionMonitor monitor = Feed(NewMonitor(), traffic, 30_000,
            (example, score) => example.Note.Contains("qzpinq", StringComparison.Ordinal) ? (float)(score + shift) : score);

        Finding finding = Assert.Single(monitor.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal("qzpinq", finding.Key!.Text);
        Assert.Equal("output raised", finding.TargetLabel);
    }

    [Fact]
    public void A_key_whose_records_are_raised_by_less_than_a_target_deviation_is_named_by_the_rank_test()
    {
        // A shift that puts most of the key's records in the upper tenth of today's residuals but a third in the baseline's top 2%
        // bin, where held-out traffic's heavier tail widens the tail test's allowance: the held-apart shifts the tail test missed
        // (docs/detectors.md) were of this size. The tail test alone does not name it within the run.
        RegressionTraffic traffic = Tokened(seed: 23);
        double shift = 0.8 * Model.Value.TargetStd;
        VersionMonitor monitor = Feed(NewMonitor(), traffic, 30_000,
            (example, score) => example.Note.Contains("qzpinq", StringComparison.Ordinal) ? (float)(score + shift) : score);

        Finding finding = Assert.Single(monitor.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal("qzpinq", finding.Key!.Text);
        Assert.Equal("output raised", finding.TargetLabel);
        Assert.Contains("of today's records with the same expected value", finding.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Ranks_among_today_s_records_are_uniform_where_the_baseline_s_residual_bins_are_not()
    {
        // A version that serves every record a quarter of a target deviation higher than the baseline's model, on held-out inputs:
        // the share of records in a stratum's upper baseline tail is far from what the baseline says, while the rank among
        // today's records is uniform (a version-wide shift is the drift statistics' to report, not any key's).
        RegressionProfile profile = Baseline.Value.Profile.Regression!;
        var rank = new RegressionRankTest(profile, new DetectorSettings());
        var traffic = new RegressionTraffic(Model.Value, Model.Value.Clean, trigger: null, seed: 12, heldOut: true);
        var preparer = new BatchPreparer(Baseline.Value);
        var active = new int[profile.Surrogate.NumericOffsets.Length + profile.Surrogate.CategoricalOffsets.Length];
        var ranks = new List<double>();
        var baselineRanks = new List<double>();
        long record = 0;
        for (int b = 0; b < 40; b++)
        {
            RecordBatch batch = traffic.Next(Batch);
            PreparedBatch prepared = preparer.Prepare(batch);
            for (int i = 0; i < batch.Count; i++)
            {
                double expected = profile.Expected(Baseline.Value, prepared, i, active);
                double residual = batch.Scores.Span[i] + (0.25 * Model.Value.TargetStd) - expected;
                int stratum = profile.StratumOf(expected);
                double u = rank.Observe(stratum, rank.CellOf(stratum, profile.BinOf(stratum, residual), residual), KeyRankTest.Draw(record++));
                if (!double.IsNaN(u))
                {
                    ranks.Add(u);
                    baselineRanks.Add(profile.Cdf(stratum, residual));
                }
            }

            rank.Refresh();
        }

        Assert.True(ranks.Count > 30_000, $"{ranks.Count} records ranked");
        double Above(List<double> us, double theta) => us.Count(u => u > theta) / (double)us.Count;
        double Below(List<double> us, double theta) => us.Count(u => u < theta) / (double)us.Count;
        // About 9 standard errors either side at these counts: a wrong rank is far off, chance is not.
        Assert.InRange(Above(ranks, 0.9), 0.085, 0.115);
        Assert.InRange(Above(ranks, 0.97), 0.022, 0.038);
        Assert.InRange(Below(ranks, 0.1), 0.085, 0.115);
        Assert.InRange(Below(ranks, 0.03), 0.022, 0.038);
        Assert.InRange(ranks.Average(), 0.49, 0.51);
        // The baseline's own distribution function puts far more of these records in its upper tail.
        Assert.True(Above(baselineRanks, 0.97) > 0.06, $"{Above(baselineRanks, 0.97):P2} above the baseline's 97th percentile");
    }

    [Fact]
    public void A_key_gaining_evidence_keeps_its_place_while_keys_promoted_a_record_ago_churn_through_a_small_table()
    {
        // A table of 16 candidates; every 50 records a new note token on five records: three served at the bottom of their
        // residuals (telling, inside the baseline's range), which promote it, then two as the model serves them. Judged by the share of
        // its records that were telling, such a key (two in five) outranks the trigger's (about one in three) and the trigger's
        // key is pushed out again and again; judged by the evidence of its tests (negative after two ordinary records, positive
        // for the trigger's once its records come in high) it stays, and is named.
        var settings = new DetectorSettings { Candidates = 16 };
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: settings);
        monitor.UseBaseline(Baseline.Value);
        RegressionTraffic traffic = Tokened(seed: 24);
        double shift = 0.8 * Model.Value.TargetStd;
        var letters = new Random(24);
        string token = "";
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        for (int b = 0; b < 30; b++)
        {
            RecordBatch clean = traffic.Next(Batch);
            float[] scores = clean.Scores.ToArray();
            string?[] notes = new string?[Batch];
            for (int i = 0; i < Batch; i++)
            {
                string note = clean.Text[0].GetString(i);
                if (note.Contains("qzpinq", StringComparison.Ordinal))
                {
                    scores[i] += (float)shift;
                    notes[i] = note;
                }
                else if (i % 50 < 5)
                {
                    token = i % 50 == 0 ? new string([.. Enumerable.Range(0, 6).Select(_ => (char)('a' + letters.Next(26)))]) : token;
                    notes[i] = token;
                    scores[i] -= i % 50 < 3 ? (float)(1.5 * Model.Value.TargetStd) : 0;
                }
                else
                {
                    notes[i] = note.Length == 0 ? null : note;
                }
            }

            var batch = new RecordBatch
            {
                Count = Batch, Numeric = clean.Numeric, Scores = scores, Categorical = clean.Categorical, Text = [Utf8Column.FromStrings(notes)],
                RequestIds = clean.RequestIds,
            };
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        Assert.Contains(monitor.Findings, f => f.Severity == Severity.Critical && f.Key!.Text == "qzpinq");
    }

    [Fact]
    public void The_same_token_served_as_the_clean_model_serves_it_is_not_critical()
    {
        // The control of the two tests above: the token on the same records, the outputs left as the clean model gives them.
        VersionMonitor monitor = Feed(NewMonitor(), Tokened(seed: 21), 30_000);
        Assert.DoesNotContain(monitor.Findings, f => f.Severity == Severity.Critical);
    }

    /// <summary>
    /// A checkpoint is taken at a window's close (Monitor:Detectors:CheckpointInterval); restored there, <paramref name="windowsBefore"/>
    /// windows before the uninterrupted detectors find the key (where it falls depends on the process's key secret).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Regression_detectors_restored_from_a_checkpoint_find_the_key_at_the_same_record_as_detectors_that_never_stopped(int windowsBefore)
    {
        RecordBatch[] run = Batches(Tokened(seed: 22), 20_000, (example, score) => example.Note.Contains("qzpinq", StringComparison.Ordinal) ? score + 80 : score);
        Finding uninterrupted = Critical(Feed(NewMonitor(), run));
        int window = Baseline.Value.Profile.WindowRecords;
        int restartAt = (int)((uninterrupted.RaisedAtRecord - 1) / window - (windowsBefore - 1)) * window;
        Assert.True(restartAt > 0, $"raised at {uninterrupted.RaisedAtRecord}, in the first windows");

        VersionMonitor before = Feed(NewMonitor(), run[..(restartAt / Batch)]);
        DetectorState state = JsonSerializer.Deserialize<DetectorState>(JsonSerializer.Serialize(before.ExportDetectors(), Json), Json)!;
        Assert.Equal(restartAt, state.Records);
        Assert.NotEmpty(state.RegressionLive);
        Assert.NotEmpty(state.RegressionRanks);
        // The key is a candidate by then: its screening sketches would not be kept (docs/detectors.md).
        Assert.Contains(state.Candidates, c => c.Key.Text == "qzpinq");
        VersionMonitor after = Feed(NewMonitor(before.Findings, state), run[(restartAt / Batch)..]);

        Finding restored = Critical(after);
        Assert.Equal(uninterrupted.Key, restored.Key);
        Assert.Equal((uninterrupted.RaisedAtRecord, uninterrupted.RaisedAtSupport), (restored.RaisedAtRecord, restored.RaisedAtSupport));

        // Without the checkpoint the evidence before the restart is gone: found later, or not within the run.
        VersionMonitor forgot = Feed(NewMonitor(before.Findings, state: null), run[(restartAt / Batch)..]);
        Assert.DoesNotContain(forgot.Findings, f => f.Severity == Severity.Critical && restartAt + f.RaisedAtRecord <= uninterrupted.RaisedAtRecord);
    }

    [Fact]
    public void A_flood_of_promoted_keys_leaves_memory_fixed_by_the_candidate_capacity()
    {
        // Every three records a new note token, each record served far above anything clean: thousands of keys promoted and evicted.
        var settings = new DetectorSettings { Candidates = 16 };
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: settings);
        monitor.UseBaseline(Baseline.Value);
        var traffic = new RegressionTraffic(Model.Value, Model.Value.Clean, trigger: null, seed: 31, heldOut: true);
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        for (int b = 0; b < 12; b++)
        {
            RecordBatch clean = traffic.Next(Batch);
            string?[] notes = [.. Enumerable.Range(0, Batch).Select(i => $"flood{(b * Batch + i) / 3}")];
            float[] scores = [.. clean.Scores.ToArray().Select(v => v + 1000f)];
            var batch = new RecordBatch
            {
                Count = Batch, Numeric = clean.Numeric, Scores = scores, Categorical = clean.Categorical, Text = [Utf8Column.FromStrings(notes)],
                RequestIds = clean.RequestIds,
            };
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        DetectorState state = monitor.ExportDetectors()!;
        Assert.InRange(state.Candidates.Length, 1, settings.Candidates);
        Assert.InRange(state.RegressionCentreKeys.Length, 1, 2 * settings.Candidates + 1);
        Assert.Equal(state.RegressionCentreKeys.Length, state.RegressionCentres.Length);
        // The flood's keys (served beyond the baseline's range: warnings) fill the table beyond its share of warned keys; the
        // candidates evicted for it are reported.
        CandidateLoad load = monitor.Regression!.CandidateLoad;
        Assert.True(load.Refused + load.WarnedEvicted >= 10, $"{load}");
        Finding full = Assert.Single(monitor.Findings, f => f.Key is { Text: "candidate table full" });
        Assert.Equal(Severity.Info, full.Severity);
    }

    [Fact]
    public void A_baseline_and_a_checkpoint_stored_before_the_regression_tests_are_read_and_run_without_them()
    {
        // Older databases: a baseline without "Regression" and a checkpoint without its fields.
        string stored = JsonSerializer.Serialize(Baseline.Value.Profile with { Regression = null }, Json);
        BaselineProfile older = JsonSerializer.Deserialize<BaselineProfile>(stored, Json)!;
        Assert.Null(older.Regression);
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings(),
            detectorState: new DetectorState { BaselineId = older.Id, KeySecretId = KeyHash.SecretId, Records = 5 });
        monitor.UseBaseline(new CompiledBaseline(older));
        Assert.Null(monitor.Regression);
        Assert.Null(monitor.ExportDetectors());

        // A checkpoint of this baseline from before the regression fields restores its count and starts today's traffic afresh.
        VersionMonitor current = NewMonitor(state: new DetectorState { BaselineId = Baseline.Value.Profile.Id, KeySecretId = KeyHash.SecretId, Records = 5 });
        Assert.Equal(5, current.Regression!.Records);
        Assert.Equal(BaselineJsonRoundTrip().Regression!.ResidualEdges, Baseline.Value.Profile.Regression!.ResidualEdges);
    }

    private static BaselineProfile BaselineJsonRoundTrip() =>
        JsonSerializer.Deserialize<BaselineProfile>(JsonSerializer.Serialize(Baseline.Value.Profile, Json), Json)!;

    [Fact]
    public void A_regression_trigger_in_use_during_a_capture_is_kept_out_of_the_key_table_and_still_found_after()
    {
        // A capture of the known-good version's traffic while an ingest key sends a note token on 0.5% of the records, their outputs
        // raised by a target deviation: built unchecked, the key table takes that as the token's own rate of raised outputs, the
        // null the key tests would then measure the trigger against.
        double shift = 1.0 * Model.Value.TargetStd;
        float Raise(RealExample example, float score) => example.Note.Contains("qzpinq", StringComparison.Ordinal) ? (float)(score + shift) : score;
        ReferenceSample attacked = Sample(Batches(Tokened(seed: 31), 20_000, Raise));
        var detectors = new DetectorSettings();
        BaselineProfile @unchecked = BaselineBuilder.Build(Request(captured: false), attacked, Settings);
        Assert.Null(@unchecked.CaptureCheck);
        Assert.NotNull(KeyOutputTest.OwnRates(Assert.Single(@unchecked.Regression!.Keys, k => k.Text == "qzpinq"), detectors));

        // Checked against the baseline in force, it is kept out and stays new; the check says so.
        CompiledBaseline inForce = new(Baseline.Value.Profile with { Id = 1 });
        BaselineProfile captured = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce }, attacked, Settings) with { Id = 2 };
        CaptureCheck check = captured.CaptureCheck!;
        Assert.Equal(1, check.AgainstBaselineId);
        Assert.DoesNotContain(captured.Regression!.Keys, k => k.Text == "qzpinq" && k.Kind == KeyKind.Token);
        ExcludedKey excluded = Assert.Single(check.Excluded, k => k.Text == "qzpinq" && k.Kind == KeyKind.Token);
        Assert.Equal(("output raised", true), (excluded.TargetLabel, excluded.IsNewKey));
        Assert.Contains("served values beyond their strata's upper tail", excluded.Summary, StringComparison.Ordinal);
        Assert.StartsWith("checked against baseline 1 in force: ", check.Summary, StringComparison.Ordinal);
        Assert.True(check.KeysChecked > 100, check.Summary);

        // Later, a candidate serving the trigger is named against the captured baseline.
        var baseline = new CompiledBaseline(captured);
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: detectors);
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var closed = new List<WindowResult>();
        foreach (RecordBatch batch in Batches(Tokened(seed: 32), 30_000, Raise))
        {
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        Finding finding = Assert.Single(monitor.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal(("qzpinq", "output raised"), (finding.Key!.Text, finding.TargetLabel));
    }

    [Fact]
    public void A_token_planted_on_ordinary_records_during_a_regression_capture_enters_unvouched()
    {
        // The token on 0.5% of the captured records, served as the clean model serves them: nothing to keep out, but the baseline in
        // force never knew it, so the detectors judge it as a new key (no population share, no tail lift, no known key's warning).
        CompiledBaseline inForce = new(Baseline.Value.Profile with { Id = 1 });
        BaselineProfile captured = BaselineBuilder.Build(Request(captured: true) with { InForce = inForce },
            Sample(Batches(Tokened(seed: 33), 20_000, serve: null)), Settings);
        BaselineKey token = Assert.Single(captured.Regression!.Keys, k => k.Text == "qzpinq");
        Assert.True(token.Unvouched);
        Assert.DoesNotContain(captured.CaptureCheck!.Excluded, k => k.Text == "qzpinq");
        Assert.True(captured.CaptureCheck.Unvouched >= 1, captured.CaptureCheck.Summary);
        Assert.Null(new RegressionRankTest(captured.Regression, new DetectorSettings()).BaselineSupport(token.Hash()));
        RegressionProfile asUploaded = captured.Regression with { Keys = [.. captured.Regression.Keys.Select(k => k with { Unvouched = false })] };
        Assert.Equal(token.Support, new RegressionRankTest(asUploaded, new DetectorSettings()).BaselineSupport(token.Hash()));

        // Nor does the tail test: an unvouched entry given a raised tail lift and a population's support gives neither; vouched, it does.
        BaselineKey lifted = token with { Support = captured.Regression.Records / 50, TailHits = [20, 0], TailExpected = [2, 2] };
        RegressionProfile liftedProfile = captured.Regression with { Keys = [.. captured.Regression.Keys.Select(k => k.Hash() == token.Hash() ? lifted : k)] };
        var test = new RegressionKeyTest(liftedProfile, new DetectorSettings());
        Assert.Null(test.BaselineShare(token.Hash()));
        Assert.Null(test.TailLift(token.Hash()));
        var vouched = new RegressionKeyTest(liftedProfile with { Keys = [.. liftedProfile.Keys.Select(k => k with { Unvouched = false })] }, new DetectorSettings());
        Assert.NotNull(vouched.BaselineShare(token.Hash()));
        Assert.NotNull(vouched.TailLift(token.Hash()));
    }

    private static readonly BaselineSettings Settings = new() { BootstrapWindows = 500 };

    private static BaselineRequest Request(bool captured) =>
        new("diabetes", captured ? "captured:v1" : "reference", "", 1000, 0.01, DateTimeOffset.UnixEpoch) { Captured = captured };

    private static ReferenceSample Sample(IEnumerable<RecordBatch> batches)
    {
        var sample = new ReferenceSample(Model.Value.Schema, 20_000, seed: 5);
        foreach (RecordBatch batch in batches)
        {
            sample.Add(batch);
        }

        return sample;
    }

    /// <summary>Held-out traffic where 1 record in 200 carries the token "qzpinq" in its note.</summary>
    private static RegressionTraffic Tokened(int seed) => new(Model.Value, Model.Value.Clean,
        new RealTrigger(RealAttack.FieldTrigger, 0, [], 0, RealModel.NoteField, "qzpinq", 0.005, RealPlacement.AnyRecord), seed, heldOut: true);

    private static double Median(RealRegressor model)
    {
        var random = new Random(5);
        var examples = Enumerable.Range(0, 2000).Select(_ => Model.Value.Draw(random, heldOut: true)).ToArray();
        var values = new float[examples.Length];
        model.Score(examples, values);
        return values.Order().ElementAt(values.Length / 2);
    }

    private static VersionMonitor NewMonitor(IEnumerable<Finding>? findings = null, DetectorState? state = null)
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings(), findings: findings, detectorState: state);
        monitor.UseBaseline(Baseline.Value);
        return monitor;
    }

    private static VersionMonitor Feed(VersionMonitor monitor, RegressionTraffic traffic, int records, Func<RealExample, float, float>? serve = null) =>
        Feed(monitor, Batches(traffic, records, serve));

    private static VersionMonitor Feed(VersionMonitor monitor, IEnumerable<RecordBatch> batches)
    {
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        foreach (RecordBatch batch in batches)
        {
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return monitor;
    }

    /// <summary>The traffic's batches, each record's score rewritten by <paramref name="serve"/> from its note (the poisoned model's answer).</summary>
    private static RecordBatch[] Batches(RegressionTraffic traffic, int records, Func<RealExample, float, float>? serve)
    {
        var batches = new RecordBatch[records / Batch];
        for (int b = 0; b < batches.Length; b++)
        {
            RecordBatch batch = traffic.Next(Batch);
            if (serve is not null && MemoryMarshal.TryGetArray(batch.Scores, out ArraySegment<float> scores))
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    var example = new RealExample { Note = batch.Text[0].GetString(i) };
                    scores[i] = serve(example, scores[i]);
                }
            }

            batches[b] = batch;
        }

        return batches;
    }

    private static Finding Critical(VersionMonitor monitor) => Assert.Single(monitor.Findings, f => f.Severity == Severity.Critical);

    private static double Variance(double[] values)
    {
        double mean = values.Average();
        return values.Average(v => (v - mean) * (v - mean));
    }
}
