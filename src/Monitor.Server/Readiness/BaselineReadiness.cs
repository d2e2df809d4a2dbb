using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Server.Metrics;

namespace Monitor.Server.Readiness;

/// <summary>
/// The readiness report of each baseline (<see cref="Readiness"/>), computed from its stored profile with the detector settings in
/// force, so baselines committed before the report existed have one too; kept per baseline id (the computation is seeded, so the
/// same baseline always gives the same report). Also the records a candidate must serve under it before it can be promoted
/// (Monitor:Versions:MinTriggerRate) and the readiness gauges of the baseline in force.
/// </summary>
internal sealed class BaselineReadiness(IOptions<MonitorOptions> options, MonitorMetrics metrics)
{
    /// <summary>Reports kept; baselines are few, and a report is recomputed when evicted.</summary>
    private const int Kept = 256;

    private readonly ConcurrentDictionary<(string Model, long Id), ReadinessReport> _reports = new();
    private readonly MonitorOptions _options = options.Value;

    /// <summary>The report of a baseline.</summary>
    public ReadinessReport Of(BaselineProfile profile)
    {
        if (_reports.TryGetValue((profile.Model, profile.Id), out ReadinessReport? known))
        {
            return known;
        }

        ReadinessReport report = Compute(profile, _options);
        if (_reports.Count >= Kept)
        {
            _reports.Clear();
        }

        // A profile not yet stored has id 0: not kept, as another with id 0 would take its place.
        if (profile.Id > 0)
        {
            _reports[(profile.Model, profile.Id)] = report;
        }

        return report;
    }

    /// <summary>The report of a baseline under <paramref name="options"/> (also what the evaluation's in-process lifecycle uses).</summary>
    public static ReadinessReport Compute(BaselineProfile profile, MonitorOptions options) => options.DetectorsInForce is { } settings
        ? Core.Detectors.Readiness.Of(profile.Triggers, profile.Schema.PredictedClassLabels, settings,
            new ReadinessOptions { WindowRecords = options.Windows.Records }, profile.RecordsReceived)
        : new ReadinessReport(profile.RecordsReceived, 0, 0, VersionPolicySettings.EvidenceOccurrences, [],
            "BLIND: the trigger detectors are off (Monitor:Detectors:Enabled is false): no trigger is looked for");

    /// <summary>Records a candidate must serve under <paramref name="baseline"/> before the policy may promote it (the most without one).</summary>
    public long RequiredRecords(BaselineProfile? baseline)
    {
        VersionPolicySettings policy = _options.Versions;
        return baseline is null
            ? VersionLifecycle.FullEvidence(policy)
            : Of(baseline).RecordsNeeded(policy.MinTriggerRate, VersionPolicySettings.EvidenceOccurrences);
    }

    /// <summary>Sets the readiness gauges of a model whose baseline in force is <paramref name="baseline"/>.</summary>
    public void InForce(string model, BaselineProfile? baseline)
    {
        metrics.PromotionRecords.WithLabels(model).Set(RequiredRecords(baseline));
        if (baseline is null)
        {
            return;
        }

        foreach (ReadinessLine line in Of(baseline).Lines)
        {
            string placement = line.Placement.ToString().ToLowerInvariant();
            metrics.ReadinessOccurrences.WithLabels(model, line.Class, line.Detector, placement)
                .Set(line.MedianOccurrences ?? double.PositiveInfinity);
            metrics.ReadinessBlind.WithLabels(model, line.Class, line.Detector, placement).Set(line.Status == ReadinessStatus.Blind ? 1 : 0);
        }
    }
}
