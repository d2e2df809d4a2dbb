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
/// counted and reported per feature, and their fine bin's key test, which crosses a lenient bar, is a warning, never critical.
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
    public void On_this_traffic_nothing_is_critical_and_no_key_beyond_the_baseline_range_is_more_than_a_warning()
    {
        (_, TriggerDetector detector) = Run.Value;
        Assert.DoesNotContain(detector.Findings, f => f.Severity == Severity.Critical);
        Assert.DoesNotContain(detector.Findings, f => f.Key is { } key && key.OutsideBaselineRange && f.Severity > Severity.Warning);
        Assert.False(detector.CriticalActive);
    }

    [Fact]
    public void A_crossing_on_a_key_that_cannot_be_a_trigger_pattern_is_a_warning_that_says_why()
    {
        (CompiledBaseline baseline, _) = Run.Value;
        TriggerProfile profile = baseline.Profile.Triggers!;
        var test = new KeyOutputTest(profile, profile.Tails!, new DetectorSettings(), ["legitimate", "fraud"]);
        var candidate = new Candidate(new DetectorKey(KeyKind.FineBin, "tx_per_hour", "[15.000001, +inf)"), 2, profile.Strata, DateTimeOffset.UnixEpoch, 0);
        Assert.True(candidate.Key.OutsideBaselineRange);
        Assert.False(new DetectorKey(KeyKind.FineBin, "tx_per_hour", "[8, 15.000001)").OutsideBaselineRange);

        Finding beyond = test.Finding(candidate, 1, logE: 30, [], 10_000, DateTimeOffset.UnixEpoch, outsideRange: true, common: false, baselineShare: null);
        Assert.Equal(Severity.Warning, beyond.Severity);
        Assert.Contains("outside the baseline's range", beyond.Summary);
        Finding region = test.Finding(candidate, 1, logE: 30, [], 10_000, DateTimeOffset.UnixEpoch, outsideRange: false, common: false, baselineShare: 0.01);
        Assert.Equal(Severity.Warning, region.Severity);
        Assert.Contains("1.00 % of the baseline's records", region.Summary);
        Finding trigger = test.Finding(candidate, 1, logE: 30, [], 10_000, DateTimeOffset.UnixEpoch, outsideRange: false, common: false, baselineShare: null);
        Assert.Equal(Severity.Critical, trigger.Severity);
    }
}
