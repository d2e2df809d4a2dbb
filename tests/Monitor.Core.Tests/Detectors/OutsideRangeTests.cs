using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Versions;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Values beyond the baseline's range: the fraud generator's live traffic has transactions per hour above any in a
/// 20,000-record reference, and those records are served 'fraud' far more often than the baseline's top bin was. They are
/// counted and reported per feature, and their fine bin's key test, which crosses its bar, is a warning, never critical.
/// </summary>
public sealed class OutsideRangeTests
{
    private static readonly Lazy<(CompiledBaseline Baseline, TriggerDetector Detector)> Run = new(() =>
    {
        var reference = new FraudTraffic(seed: 1000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 20).Select(_ => reference.Next(1000, FraudDrift.None))];
        var baseline = new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var traffic = new FraudTraffic(seed: 79);
        var closed = new List<WindowResult>();
        for (int i = 0; i < 120; i++)
        {
            RecordBatch batch = traffic.Next(500, FraudDrift.None);
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return (baseline, monitor.Detector!);
    });

    [Fact]
    public void Records_outside_the_baseline_range_are_reported_per_feature_as_an_observation()
    {
        (CompiledBaseline baseline, TriggerDetector detector) = Run.Value;
        Finding outside = Assert.Single(detector.Findings,
            f => f.Key is { Field: "tx_per_hour", Text: "outside the baseline's range" });
        Assert.Equal(Severity.Info, outside.Severity);
        Assert.True(outside.Support >= 10, outside.Summary);
        Assert.StartsWith("records outside the baseline's range: ", outside.Summary);
        float[] edges = baseline.Profile.Triggers!.Values.FineEdges[Array.IndexOf(FraudTraffic.Schema.NumericFeatures, "tx_per_hour")];
        Assert.Contains(edges[^1].ToString("R", System.Globalization.CultureInfo.InvariantCulture), outside.Summary);
    }

    [Fact]
    public void A_fine_bin_beyond_the_baseline_range_is_never_critical_though_its_test_crosses()
    {
        (_, TriggerDetector detector) = Run.Value;
        Finding beyond = Assert.Single(detector.Findings, f => f.Key is { Kind: KeyKind.FineBin } key && key.OutsideBaselineRange && f.Log10EValue is not null);
        Assert.Equal(Severity.Warning, beyond.Severity);
        Assert.True(beyond.Log10EValue >= beyond.Log10EValueBar, beyond.Summary);
        Assert.Contains("outside the baseline's range", beyond.Summary);
        Assert.DoesNotContain(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.False(detector.CriticalActive);
    }
}
