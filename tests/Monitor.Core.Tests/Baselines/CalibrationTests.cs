using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Baselines;

/// <summary>
/// Seeded checks that calibrated thresholds mean what they say: on fresh windows from the baseline's
/// distribution the whole-window false-alarm rate lies within [α/2, 2α], and a 0.25σ mean shift in one
/// feature is caught in at least 95% of windows of the default size.
/// </summary>
public sealed class CalibrationTests(ITestOutputHelper output)
{
    private const int WindowRecords = 1000;
    private const double Alpha = 0.01;
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 6, categorical: 2, text: 1, classes: 3);
    private static readonly Lazy<BaselineProfile> Profile = new(() => SchemaTraffic.Baseline(Schema, 20_000, WindowRecords, Alpha, seed: 11));

    [Fact]
    public void Whole_window_false_alarm_rate_on_unchanged_traffic_is_within_half_and_twice_alpha()
    {
        const int windows = 3000;
        int alarms = CountAlarms(windows, seed: 101, shift: null);
        double rate = (double)alarms / windows;
        output.WriteLine($"{CompiledStatistics()} statistics per window; bootstrap: {Profile.Value.CalibratedFalseAlarmRate:P2} at quantile " +
            $"{Profile.Value.ThresholdQuantile:F5}; fresh windows: {alarms} of {windows} alarmed = {rate:P2} (target {Alpha:P2})");
        Assert.InRange(rate, Alpha / 2, Alpha * 2);
    }

    [Fact]
    public void Quarter_sigma_mean_shift_in_one_feature_is_flagged_in_at_least_95_percent_of_windows()
    {
        const int windows = 300;
        var shift = new double[Schema.NumericFeatures.Length];
        shift[0] = 0.25;
        int flagged = CountAlarms(windows, seed: 202, shift, feature: "x0");
        double rate = (double)flagged / windows;
        output.WriteLine($"0.25 sd shift of x0: flagged in {flagged} of {windows} windows of {WindowRecords} records = {rate:P1}");
        Assert.True(rate >= 0.95, $"flagged in {rate:P1} of windows");
    }

    [Fact]
    public void Baseline_is_reproducible_for_a_seed()
    {
        BaselineProfile again = SchemaTraffic.Baseline(Schema, 20_000, WindowRecords, Alpha, seed: 11);
        Assert.Equal(Profile.Value.ThresholdQuantile, again.ThresholdQuantile);
        Assert.Equal(Profile.Value.Numeric[0].Thresholds, again.Numeric[0].Thresholds);
        Assert.Equal(Profile.Value.Numeric[0].Edges, again.Numeric[0].Edges);
    }

    [Fact]
    public void Too_small_a_reference_sample_is_refused_with_the_numbers()
    {
        var ex = Assert.Throws<BaselineException>(() => SchemaTraffic.Baseline(Schema, 1500, WindowRecords, Alpha, seed: 3));
        Assert.Contains("holds 1500 records", ex.Message);
        Assert.Contains("needs at least 2001", ex.Message);
    }

    private int CompiledStatistics() => new CompiledBaseline(Profile.Value).SlotCount;

    /// <summary>Windows (of any feature, or of the named one) in which a statistic exceeded its threshold.</summary>
    private static int CountAlarms(int windows, int seed, double[]? shift, string? feature = null)
    {
        var compiled = new CompiledBaseline(Profile.Value);
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, historyLimit: 1);
        monitor.UseBaseline(compiled);
        var preparer = new BatchPreparer(compiled);
        var random = new Random(seed);
        var closed = new List<WindowResult>();
        int alarms = 0;
        for (int w = 0; w < windows; w++)
        {
            var batch = SchemaTraffic.Batch(Schema, WindowRecords, random, shift);
            monitor.Add(batch, preparer.Prepare(batch), closed);
            WindowResult window = Assert.Single(closed);
            if (feature is null ? window.Drifted : window.DriftedChannels.Contains(feature))
            {
                alarms++;
            }

            closed.Clear();
        }

        return alarms;
    }
}
