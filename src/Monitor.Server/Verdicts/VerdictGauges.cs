using Monitor.Core.Versions;
using Monitor.Server.Alerting;
using Monitor.Server.Metrics;
using Monitor.Server.Models;

namespace Monitor.Server.Verdicts;

/// <summary>The verdict gauges a Prometheus rule reads, set for every restored version before any new traffic.</summary>
internal static class VerdictGauges
{
    /// <summary>Sets drift_monitor_verdict and drift_monitor_rollback_recommended of every version as its verdict document states them.</summary>
    public static void Restore(ModelCatalog models, IIncidentStore store, MonitorMetrics metrics)
    {
        foreach (VersionEntry version in models.Models.SelectMany(m => m.Versions.Values))
        {
            VersionVerdict verdict = VerdictEndpoints.VerdictOf(version, store, out _);
            metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)verdict.Verdict);
            metrics.RollbackRecommended.WithLabels(version.Model, version.Version).Set(verdict.RollbackRecommended ? 1 : 0);
        }
    }
}
