using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// A trigger found critical keeps its alert firing while its key keeps arriving, across the detectors' horizons (where
/// the candidates' counts halve): the finding is updated whenever its key arrives, not only when its evidence grew.
/// </summary>
public sealed class FindingLivenessTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_trigger_alert_stays_firing_while_the_trigger_keeps_arriving_across_horizons()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 91);
        // The trigger detectors need a reference large enough to have high-risk strata.
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), referenceRecords: 20_000),
            "--Monitor:Baselines:ReservoirRecords=50000", "--Monitor:Detectors:HorizonRecords=20000");
        await sidecar.RegisterCandidateAsync("v2");

        // 80 windows of 500 records with the memo trigger on 0.3% of them: found critical.
        var trigger = new FraudDrift(TriggerRate: 0.003);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 80, trigger);
        var alerts = (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model }, cancellationToken: TestContext.Current.CancellationToken)).Alerts;
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" },
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(alerts.Any(a => a.Kind.StartsWith("trigger", StringComparison.Ordinal)), string.Join("; ", alerts.Select(a => $"{a.Kind} {a.Severity} {a.State}")) +
            $" | {report.RecordsAccepted} records; " + string.Join("; ", report.Findings.Select(f => $"{f.Severity} {f.Summary}")));
        Alert found = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model }, cancellationToken: TestContext.Current.CancellationToken)).Alerts,
            a => a.Kind.StartsWith("trigger", StringComparison.Ordinal) && a.Severity == AlertSeverity.Critical);
        Assert.Equal(AlertState.Firing, found.State);

        // 200 more windows (five horizons of 20,000 records) at the same rate: the alert is still firing, and kept growing.
        await sidecar.MirrorWindowsAsync(traffic, "v2", 200, trigger);
        Alert later = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model }, cancellationToken: TestContext.Current.CancellationToken)).Alerts,
            a => a.DedupeKey == found.DedupeKey);
        Assert.True(later.State == AlertState.Firing, $"the alert {later.DedupeKey} was {later.State} while the trigger kept arriving");
        Assert.Equal(found.Episode, later.Episode);
        Assert.True(later.Windows > found.Windows + 100, $"windows {found.Windows} → {later.Windows}");
    }
}
