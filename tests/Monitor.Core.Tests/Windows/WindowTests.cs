using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Windows;

public sealed class WindowTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 3, categorical: 1, text: 1, classes: 3);
    private static readonly Lazy<CompiledBaseline> Baseline = new(() =>
        new CompiledBaseline(SchemaTraffic.Baseline(Schema, 6000, 500, 0.05, seed: 4, new BaselineSettings { BootstrapWindows = 1000 })));

    private static void Feed(VersionMonitor monitor, BatchPreparer preparer, RecordBatch batch, List<WindowResult> closed) =>
        monitor.Add(batch, preparer.Prepare(batch), closed);

    [Fact]
    public void Windows_close_at_their_size_even_inside_a_batch()
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, historyLimit: 10);
        monitor.UseBaseline(Baseline.Value);
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        var random = new Random(9);

        Feed(monitor, preparer, SchemaTraffic.Batch(Schema, 1234, random), closed);

        Assert.Equal([0UL, 1UL], closed.Select(w => w.Index));
        Assert.All(closed, w => Assert.Equal(500, w.Records));
        Assert.Equal(234, monitor.OpenRecords);
        Assert.Equal(234, monitor.Current()!.Records);
        Assert.False(monitor.Current()!.Complete);
        Assert.False(monitor.Current()!.Drifted);
        Assert.Equal([1UL, 0UL], monitor.History.Select(w => w.Index));
    }

    [Fact]
    public void History_keeps_only_the_limit_newest_first()
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, historyLimit: 3);
        monitor.UseBaseline(Baseline.Value);
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        Feed(monitor, preparer, SchemaTraffic.Batch(Schema, 500 * 5, new Random(2)), closed);
        Assert.Equal(5, closed.Count);
        Assert.Equal([4UL, 3UL, 2UL], monitor.History.Select(w => w.Index));
    }

    [Fact]
    public void Merging_windows_gives_the_window_of_all_their_records_in_any_order()
    {
        CompiledBaseline baseline = Baseline.Value;
        var random = new Random(12);
        RecordBatch[] parts = [.. Enumerable.Range(0, 4).Select(i => SchemaTraffic.Batch(Schema, 50 + 37 * i, random))];
        var preparer = new BatchPreparer(baseline);
        var whole = new WindowAccumulator(baseline);
        var pieces = new WindowAccumulator[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            PreparedBatch prepared = preparer.Prepare(parts[i]);
            whole.Add(prepared, 0, prepared.Count);
            pieces[i] = new WindowAccumulator(baseline);
            pieces[i].Add(prepared, 0, prepared.Count);
        }

        var forward = new WindowAccumulator(baseline);
        foreach (WindowAccumulator piece in pieces)
        {
            forward.Merge(piece);
        }

        var nested = new WindowAccumulator(baseline);
        var right = new WindowAccumulator(baseline);
        right.Merge(pieces[3]);
        right.Merge(pieces[1]);
        nested.Merge(pieces[2]);
        nested.Merge(right);
        nested.Merge(pieces[0]);

        foreach (WindowAccumulator merged in new[] { forward, nested })
        {
            Assert.Equal(whole.Records, merged.Records);
            for (int c = 0; c < whole.NumericCounts.Length; c++)
            {
                Assert.Equal(whole.NumericCounts[c], merged.NumericCounts[c]);
                Assert.Equal(whole.MomentsOf(c).Count, merged.MomentsOf(c).Count);
                Assert.Equal(whole.MomentsOf(c).Mean, merged.MomentsOf(c).Mean, 1e-9);
                Assert.Equal(whole.MomentsOf(c).Variance, merged.MomentsOf(c).Variance, 1e-9);
            }

            for (int c = 0; c < whole.CategoricalCounts.Length; c++)
            {
                Assert.Equal(whole.CategoricalCounts[c], merged.CategoricalCounts[c]);
            }
        }
    }

    [Fact]
    public void Missing_NaN_and_infinite_values_are_counted_apart_and_never_binned()
    {
        CompiledBaseline baseline = Baseline.Value;
        RecordBatch batch = SchemaTraffic.Batch(Schema, 100, new Random(3));
        float[] numeric = batch.Numeric.ToArray();
        numeric[0 * 3] = float.NaN;
        numeric[1 * 3] = float.PositiveInfinity;
        numeric[2 * 3] = float.NegativeInfinity;
        var categories = Enumerable.Range(0, 100).Select(i => i < 7 ? null : i < 10 ? "never-seen" : "red").ToArray();
        var prepared = new BatchPreparer(baseline).Prepare(new RecordBatch
        {
            Count = 100,
            Numeric = numeric,
            Scores = batch.Scores,
            Categorical = [Utf8Column.FromStrings(categories)],
            Text = batch.Text,
        });
        var window = new WindowAccumulator(baseline);
        window.Add(prepared, 0, 100);

        Assert.Equal(3, window.NumericMissing[0]);
        Assert.Equal(97, window.NumericCounts[0].Sum());
        Assert.Equal(97, window.MomentsOf(0).Count);
        Assert.True(double.IsFinite(window.MomentsOf(0).Mean) && double.IsFinite(window.MomentsOf(0).Variance));
        Assert.Equal(7, window.CategoricalMissing[0]);
        Assert.Equal(3, window.CategoricalCounts[0][^1]);

        var values = new double[baseline.SlotCount];
        var pValues = new double[baseline.SlotCount];
        new WindowEvaluator(baseline).Evaluate(window, values, pValues);
        Assert.All(values, v => Assert.True(double.IsFinite(v)));
        int missingSlot = baseline.NumericSlots[0] + Array.IndexOf(baseline.Profile.Numeric[0].Channel.Statistics, Statistic.MissingRate);
        Assert.Equal(0.03, values[missingSlot], 12);
        CategoricalProfile category = baseline.Profile.Categorical[0];
        int unseenSlot = baseline.CategoricalSlots[0] + Array.IndexOf(category.Channel.Statistics, Statistic.UnseenRate);
        Assert.Equal(0.03, values[unseenSlot], 12);
    }

    [Fact]
    public void A_new_baseline_discards_the_open_window_and_judges_from_then_on()
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, historyLimit: 10);
        monitor.UseBaseline(Baseline.Value);
        var closed = new List<WindowResult>();
        Feed(monitor, new BatchPreparer(Baseline.Value), SchemaTraffic.Batch(Schema, 300, new Random(1)), closed);
        var other = new CompiledBaseline(Baseline.Value.Profile with { Id = 99 });
        Assert.Equal(300, monitor.UseBaseline(other));
        Assert.Equal(0, monitor.OpenRecords);
        Feed(monitor, new BatchPreparer(other), SchemaTraffic.Batch(Schema, 500, new Random(2)), closed);
        Assert.Equal(99, Assert.Single(closed).BaselineId);
    }
}
