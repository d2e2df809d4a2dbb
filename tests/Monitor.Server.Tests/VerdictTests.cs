using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Persistence;
using Monitor.Simulation;
using Monitor.Server.Alerting;
using Monitor.Server.Models;

namespace Monitor.Server.Tests;

/// <summary>Versions' verdicts and rollback signals over a real sidecar: the JSON a deployment controller reads.</summary>
public sealed class VerdictTests
{
    [Fact]
    public async Task A_poisoned_version_fails_is_quarantined_and_the_rollback_names_the_known_good_version_across_a_restart()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        var traffic = new FraudTraffic(seed: 8);
        string v2 = Sidecar.Digest("v2 from a public hub");
        // The trigger detectors need a reference large enough to have high-risk strata.
        await using (Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(database, referenceRecords: 20_000),
            "--Monitor:Baselines:ReservoirRecords=50000"))
        {
            await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Sidecar.Model, Version = "v2", ArtifactSha256 = v2 });

            await Mirror(sidecar, traffic, "v1", Sidecar.DigestV1, 5000, FraudDrift.None);
            JsonElement clean = await Verdict(sidecar, $"/api/v1/verdict/{Sidecar.Model}/v1");
            Assert.Equal("Successful", clean.GetProperty("verdict").GetString());

            await Mirror(sidecar, traffic, "v2", v2, 40_000, new FraudDrift(TriggerRate: 0.002));
            DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
            Assert.True(report.Findings.Any(f => f.Severity == Severity.Critical), string.Join("\n", report.Findings.Select(f => f.Summary)));
            JsonElement failed = await Verdict(sidecar, $"/api/v1/verdict/{Sidecar.Model}");
            Assert.Equal("v2", failed.GetProperty("version").GetString());
            Assert.Equal("Failed", failed.GetProperty("verdict").GetString());
            Assert.Equal("Quarantined", failed.GetProperty("state").GetString());
            Assert.Equal("issued", failed.GetProperty("rollback").GetString());
            Assert.True(failed.GetProperty("rollbackRecommended").GetBoolean());
            JsonElement rollback = failed.GetProperty("latestSignal");
            Assert.Equal("v2", rollback.GetProperty("from").GetString());
            Assert.Equal("v1", rollback.GetProperty("to").GetString());
            Assert.Contains("consecutive failing windows", rollback.GetProperty("reason").GetString());
            Assert.Contains("ref:xz-#", rollback.GetProperty("reason").GetString());
        }

        await using (Sidecar restarted = await Sidecar.StartAsync(database))
        {
            ModelVersion version = await restarted.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
            Assert.Equal(VersionState.Quarantined, version.State);
            var rollbacks = restarted.App.Services.GetRequiredService<IIncidentStore>().LoadRollbackSignals(Sidecar.Model, 0);
            var signal = Assert.Single(rollbacks);
            Assert.Equal(("v2", "v1"), (signal.From, signal.To));
            var audit = restarted.App.Services.GetRequiredService<IModelStore>().LoadAudit(Sidecar.Model);
            Assert.Contains(audit, a => a.Action == "quarantine" && a.Version == "v2" && a.Actor == "policy");

            // The gauges a Prometheus rule reads are back before any new traffic, and so are the alerts.
            string metrics = await restarted.Http.GetStringAsync("/metrics");
            Assert.Contains("drift_monitor_verdict{model=\"fraud-scorer\",version=\"v2\"} 2", metrics);
            Assert.Contains("drift_monitor_rollback_recommended{model=\"fraud-scorer\",version=\"v2\"} 1", metrics);
            Assert.Matches("drift_monitor_alerts_firing\\{model=\"fraud-scorer\",severity=\"critical\"\\} [1-9]", metrics);
            Assert.Contains((await restarted.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v2", State = Protos.V1.AlertState.Firing })).Alerts,
                a => a.DedupeKey == "verdict-failed");
        }
    }

    [Fact]
    public async Task Under_the_quarantine_on_report_policy_a_swapped_artifact_fails_at_once_and_without_a_trusted_version_there_is_no_signal()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 9);
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"), "--Monitor:Versions:QuarantineOnReportedDigestMismatch=true");
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Sidecar.Model, Schema = Ingest.ProtoTranslation.ToProto(FraudTraffic.Schema) });
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Sidecar.Model, Version = "v1", ArtifactSha256 = Sidecar.DigestV1 });
        await Mirror(sidecar, traffic, "v1", Sidecar.Digest("tampered"), 100, FraudDrift.None);

        JsonElement verdict = await Verdict(sidecar, $"/api/v1/verdict/{Sidecar.Model}/v1");
        Assert.Equal("Failed", verdict.GetProperty("verdict").GetString());
        Assert.Equal("none", verdict.GetProperty("rollback").GetString());
        Assert.Equal(JsonValueKind.Null, verdict.GetProperty("latestSignal").ValueKind);
        Protos.V1.Alert failed = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v1" })).Alerts,
            a => a.DedupeKey == "verdict-failed");
        Assert.Contains(failed.Evidence, e => e.Contains("differs from the registered one; no trusted version that has served to roll back to; no rollback signal"));

        HttpResponseMessage missing = await sidecar.Http.GetAsync("/api/v1/verdict/no-such-model", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    private static async Task Mirror(Sidecar sidecar, FraudTraffic traffic, string version, string digest, int records, FraudDrift drift)
    {
        for (int sent = 0; sent < records; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(new MirrorBatch
            {
                Model = Sidecar.Model,
                Version = version,
                ArtifactSha256 = digest,
                Batch = Ingest.ProtoTranslation.ToProto(traffic.Next(Math.Min(500, records - sent), drift)),
            });
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
    }

    private static async Task<JsonElement> Verdict(Sidecar sidecar, string path)
    {
        string json = await sidecar.Http.GetStringAsync(path, TestContext.Current.CancellationToken);
        return JsonDocument.Parse(json).RootElement;
    }
}
