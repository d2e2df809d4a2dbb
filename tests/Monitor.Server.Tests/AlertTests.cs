using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>Alerts over a real sidecar: drift warnings with hysteresis, critical features that fail windows, the gRPC list/get/watch.</summary>
public sealed class AlertTests
{
    private static readonly FraudDrift DistanceDoubled = new(DistanceLogShift: Math.Log(2));

    /// <summary>The model's outputs moved while its inputs did not.</summary>
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    [Fact]
    public async Task Drift_in_an_ordinary_feature_raises_one_warning_that_grows_then_resolves_and_the_watch_resumes()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 21);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Alerts:FireAfterWindows=2", "--Monitor:Alerts:ResolveAfterWindows=2");

        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1, DistanceDoubled);
        ListAlertsResponse afterOne = await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model });
        Assert.DoesNotContain(afterOne.Alerts, a => a.DedupeKey == "drift|distance_km"); // hysteresis: one drifting window is not enough

        await sidecar.MirrorWindowsAsync(traffic, "v1", 2, DistanceDoubled);
        Protos.V1.Alert firing = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model })).Alerts,
            a => a.DedupeKey == "drift|distance_km");
        Assert.Equal((AlertSeverity.Warning, Protos.V1.AlertState.Firing, "drift", 3u, 1u),
            (firing.Severity, firing.State, firing.Kind, firing.Windows, firing.Episode));
        Assert.Equal(2, firing.Evidence.Count); // fired in the 2nd drifting window, grew in the 3rd
        Assert.All(firing.Evidence, e => Assert.Matches(@"^window \d+: distance_km .*ks [0-9.]+ > [0-9.]+", e));

        // Drift alone does not fail the known-good version.
        JsonElement verdict = await sidecar.VerdictAsync("v1");
        Assert.Equal(("Successful", "KnownGood", 0), (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("state").GetString(),
            verdict.GetProperty("consecutiveFailing").GetInt32()));

        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        Assert.Equal(Protos.V1.AlertState.Firing, (await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = firing.Id })).State);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        Protos.V1.Alert resolved = await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = firing.Id });
        Assert.Equal(Protos.V1.AlertState.Resolved, resolved.State);
        Assert.NotNull(resolved.ResolvedAt);
        Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model })).Alerts,
            a => a.DedupeKey == "drift|distance_km"); // one problem, one alert

        // The watch replays every change in order; a watcher resumes after the sequence it saw last.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(30));
        List<Protos.V1.Alert> changes = await ReadAsync(sidecar.Alerts.WatchAlerts(new WatchAlertsRequest { Model = Sidecar.Model }, cancellationToken: cancel.Token),
            a => a.Id == firing.Id && a.State == Protos.V1.AlertState.Resolved, cancel.Token);
        Assert.Equal(changes.Select(c => c.Sequence).Order(), changes.Select(c => c.Sequence));
        List<Protos.V1.Alert> distance = [.. changes.Where(c => c.Id == firing.Id)];
        Assert.Equal([Protos.V1.AlertState.Firing, Protos.V1.AlertState.Firing, Protos.V1.AlertState.Resolved], distance.Select(c => c.State));
        List<Protos.V1.Alert> resumed = await ReadAsync(
            sidecar.Alerts.WatchAlerts(new WatchAlertsRequest { Model = Sidecar.Model, AfterSequence = distance[0].Sequence }, cancellationToken: cancel.Token),
            a => a.Sequence == changes[^1].Sequence, cancel.Token);
        Assert.Equal(changes.Where(c => c.Sequence > distance[0].Sequence).Select(c => c.Sequence), resumed.Select(c => c.Sequence));

        // Filters and bad requests.
        Assert.Empty((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model, MinSeverity = AlertSeverity.Critical })).Alerts);
        Assert.Empty((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = "other" })).Alerts);
        var resolvedOnly = (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { State = Protos.V1.AlertState.Resolved })).Alerts;
        Assert.Contains(resolvedOnly, a => a.Id == firing.Id);
        Assert.All(resolvedOnly, a => Assert.Equal(Protos.V1.AlertState.Resolved, a.State));
        RpcException missing = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = 999 }));
        Assert.Equal((StatusCode.NotFound, "alert 999 does not exist"), (missing.StatusCode, missing.Status.Detail));
        RpcException tooMany = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Limit = 20_000 }));
        Assert.Equal((StatusCode.InvalidArgument, "limit: at most 10000, got 20000"), (tooMany.StatusCode, tooMany.Status.Detail));

        // The firing gauge follows the store.
        string metrics = await sidecar.Http.GetStringAsync("/metrics");
        Assert.Contains("drift_monitor_alerts_firing{model=\"fraud-scorer\",severity=\"warning\"} 0", metrics);
    }

    [Fact]
    public async Task Output_drift_in_a_critical_channel_fails_the_windows_and_the_rollback_names_its_alerts()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 22);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"));
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1);

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(30));
        using AsyncServerStreamingCall<Protos.V1.Alert> criticalWatch = sidecar.Alerts.WatchAlerts(
            new WatchAlertsRequest { Model = Sidecar.Model, MinSeverity = AlertSeverity.Critical }, cancellationToken: cancel.Token);

        await sidecar.MirrorWindowsAsync(traffic, "v2", 2, OutputsMoved);
        JsonElement suspect = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Inconclusive", "Suspect", 2), (suspect.GetProperty("verdict").GetString(), suspect.GetProperty("state").GetString(),
            suspect.GetProperty("consecutiveFailing").GetInt32()));

        await sidecar.MirrorWindowsAsync(traffic, "v2", 1, OutputsMoved);
        JsonElement failed = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Failed", "Quarantined", "issued"), (failed.GetProperty("verdict").GetString(), failed.GetProperty("state").GetString(),
            failed.GetProperty("rollback").GetString()));
        Assert.Equal(0.01, failed.GetProperty("windowFalseAlarmRate").GetDouble());

        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal(("v2", "v1", "policy"), (signal.FromVersion, signal.ToVersion, signal.Actor));
        Assert.Contains("critical output output.class drifted with no input drift", signal.Reason);
        List<Protos.V1.Alert> alerts = [.. (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model, Version = "v2" })).Alerts];
        Protos.V1.Alert drift = Assert.Single(alerts, a => a.DedupeKey == "drift|output.class");
        Protos.V1.Alert verdictAlert = Assert.Single(alerts, a => a.DedupeKey == "verdict-failed");
        Assert.Equal(AlertSeverity.Critical, drift.Severity); // a critical channel's drift fires at once, as critical
        Assert.Equal(3u, drift.Windows);
        Assert.Equal([drift.Id, verdictAlert.Id], signal.AlertIds.Order());

        // The critical-only watch saw the critical alerts and nothing else.
        List<Protos.V1.Alert> seen = await ReadAsync(criticalWatch, a => a.DedupeKey == "verdict-failed", cancel.Token);
        Assert.All(seen, a => Assert.Equal(AlertSeverity.Critical, a.Severity));
        Assert.Contains(seen, a => a.DedupeKey == "drift|output.class");

        string metrics = await sidecar.Http.GetStringAsync("/metrics");
        Assert.Contains("drift_monitor_alerts_firing{model=\"fraud-scorer\",severity=\"critical\"} 2", metrics);
        Assert.Contains("drift_monitor_rollback_recommended{model=\"fraud-scorer\",version=\"v2\"} 1", metrics);
    }

    [Fact]
    public async Task Low_traffic_closes_windows_by_time_and_the_verdict_says_inconclusive()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 23);
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"), clock, "--Monitor:Windows:MaxAge=00:01:00");
        await sidecar.SetUpFraudModelAsync(traffic);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 3);
        Assert.Equal("Successful", (await sidecar.VerdictAsync("v1")).GetProperty("verdict").GetString());

        // 40 records, then nothing for a minute: the window closes by time, too small to judge.
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 40, FraudDrift.None));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(50));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        Assert.Equal("Successful", (await sidecar.VerdictAsync("v1")).GetProperty("verdict").GetString());
        clock.Advance(TimeSpan.FromSeconds(30));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);

        JsonElement verdict = await sidecar.VerdictAsync("v1");
        Assert.Equal(("Inconclusive", true, 3), (verdict.GetProperty("verdict").GetString(),
            verdict.GetProperty("latestWindowInconclusive").GetBoolean(), verdict.GetProperty("windowsJudged").GetInt32()));
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1", ClosedWindows = 1 });
        WindowReport closed = Assert.Single(report.Closed);
        Assert.Equal((3ul, 40u, false, false), (closed.Index, closed.Records, closed.Complete, closed.Drifted));

        // Traffic back: a full window is judged again.
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        Assert.Equal("Successful", (await sidecar.VerdictAsync("v1")).GetProperty("verdict").GetString());

        // An idle version closes no empty windows.
        clock.Advance(TimeSpan.FromMinutes(5));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1", ClosedWindows = 1 });
        Assert.Equal((4ul, 500u, true), (report.Closed[0].Index, report.Closed[0].Records, report.Closed[0].Complete));
        Assert.Equal("Successful", (await sidecar.VerdictAsync("v1")).GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task Critical_features_must_name_declared_channels()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest
        {
            Name = Sidecar.Model,
            Schema = Ingest.ProtoTranslation.ToProto(FraudTraffic.Schema with { CriticalFeatures = ["distance_km", "distnce"] }),
        }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("schema.critical_features[1]: 'distnce' is not a declared feature, text field or output channel (one of ", error.Status.Detail);

        Model model = await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest
        {
            Name = Sidecar.Model,
            Schema = Ingest.ProtoTranslation.ToProto(FraudTraffic.Schema with { CriticalFeatures = ["memo", "output.class"] }),
        });
        Assert.Equal(["memo", "output.class"], model.Schema.CriticalFeatures);
    }

    /// <summary>Reads a stream until an item satisfies <paramref name="last"/>; everything read, in order.</summary>
    internal static async Task<List<T>> ReadAsync<T>(AsyncServerStreamingCall<T> call, Func<T, bool> last, CancellationToken cancellationToken)
    {
        var items = new List<T>();
        using (call)
        {
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                items.Add(call.ResponseStream.Current);
                if (last(call.ResponseStream.Current))
                {
                    break;
                }
            }
        }

        return items;
    }
}
