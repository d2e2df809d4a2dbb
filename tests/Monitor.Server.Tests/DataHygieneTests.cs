using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Monitor.Protos.V1;
using Monitor.Server.Persistence;
using Monitor.Simulation;
using Monitor.Server.Delivery;
using Monitor.Server.Windows;

namespace Monitor.Server.Tests;

/// <summary>Retention and compaction of the database, and tokens kept out of findings and alerts.</summary>
public sealed class DataHygieneTests
{
    private static readonly FraudDrift DistanceDoubled = new(DistanceLogShift: Math.Log(2));
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    [Fact]
    public async Task History_older_than_the_period_is_deleted_and_the_file_shrinks_while_firing_alerts_signals_and_baselines_stay()
    {
        using var directory = new TempDirectory();
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T00:00:00Z", CultureInfo.InvariantCulture));
        var traffic = new FraudTraffic(seed: 71);
        await using Receiver receiver = await Receiver.StartAsync();
        string database = directory.File("monitor.db");
        await using Sidecar sidecar = await Sidecar.StartAsync(database, clock, "--Monitor:Retention:Period=1.00:00:00",
            "--Monitor:Retention:Interval=7.00:00:00", "--Monitor:Windows:MaxAge=00:00:00",
            "--Monitor:Delivery:Webhooks:0:Name=ops", $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{receiver.Port}/hook",
            "--Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123");
        await sidecar.SetUpFraudModelAsync(traffic, 6000, "distance_km", "output.class");
        await sidecar.RegisterCandidateAsync("v2");

        // History: many clean windows; drift on v1 whose alerts resolve; v2 fails, with firing alerts and a rollback signal.
        await sidecar.MirrorWindowsAsync(traffic, "v1", 60);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 2, DistanceDoubled);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 6);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 3, OutputsMoved);
        Alert[] resolved = [.. (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { State = AlertState.Resolved })).Alerts];
        Alert[] firing = [.. (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { State = AlertState.Firing })).Alerts];
        Assert.NotEmpty(resolved);
        Assert.Contains(firing, a => a.Version == "v2");
        var store = sidecar.App.Services.GetRequiredService<IOutboxStore>();
        var windows = sidecar.App.Services.GetRequiredService<IWindowStore>();
        Assert.True(await Eventually.HoldsAsync(() => store.CountPendingOutbox().Values.Sum() == 0, TimeSpan.FromSeconds(20),
            TestContext.Current.CancellationToken), "deliveries did not finish");
        long sizeBefore = new FileInfo(database).Length;

        // Two days later, retention runs.
        clock.Advance(TimeSpan.FromDays(2));
        RetentionResult result = sidecar.App.Services.GetRequiredService<RetentionService>().RunOnce()!;
        TestContext.Current.SendDiagnosticMessage($"retention deleted {string.Join(", ", result.Deleted.Select(d => $"{d.Value} {d.Key}"))}; " +
            $"{result.BytesFreed} bytes freed; file {sizeBefore} → {new FileInfo(database).Length} bytes");

        Assert.Empty(windows.LoadRecentWindows(Sidecar.Model, "v1", 1000));
        Assert.True(result.Deleted["windows"] >= 68, $"{result.Deleted["windows"]} windows deleted");
        Assert.Equal(resolved.Length, result.Deleted["alerts"]);
        Assert.True(result.Deleted["outbox"] > 0 && result.Deleted["alert_events"] > 0);
        foreach (Alert alert in resolved)
        {
            RpcException gone = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = alert.Id }));
            Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        }

        Assert.Equal(firing.Select(a => a.Id).Order(), (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest())).Alerts.Select(a => a.Id).Order());
        Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Single((await sidecar.Admin.ListBaselinesAsync(new ListBaselinesRequest { Model = Sidecar.Model })).Baselines);
        Assert.True(result.BytesFreed > 0 && new FileInfo(database).Length < sizeBefore, $"{sizeBefore} → {new FileInfo(database).Length} bytes");

        // The sidecar goes on: new windows are judged and stored.
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        await sidecar.App.Services.GetRequiredService<WindowWriter>().FlushAsync(TestContext.Current.CancellationToken);
        Assert.Single(windows.LoadRecentWindows(Sidecar.Model, "v1", 1000));
    }

    [Fact]
    public async Task After_retention_deleted_every_window_a_restarted_sidecar_numbers_new_windows_after_the_old_ones()
    {
        using var directory = new TempDirectory();
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T00:00:00Z", CultureInfo.InvariantCulture));
        var traffic = new FraudTraffic(seed: 72);
        string database = directory.File("monitor.db");
        string[] settings = ["--Monitor:Retention:Period=1.00:00:00", "--Monitor:Retention:Interval=7.00:00:00", "--Monitor:Windows:MaxAge=00:00:00"];
        await using (Sidecar first = await Sidecar.StartAsync(database, clock, settings))
        {
            await first.SetUpFraudModelAsync(traffic);
            await first.MirrorWindowsAsync(traffic, "v1", 5);
            clock.Advance(TimeSpan.FromDays(2));
            Assert.Equal(5, first.App.Services.GetRequiredService<RetentionService>().RunOnce()!.Deleted["windows"]);
        }

        await using Sidecar restarted = await Sidecar.StartAsync(database, clock, settings);
        await restarted.MirrorWindowsAsync(traffic, "v1", 1);
        WindowReport window = Assert.Single((await restarted.Reports.GetDriftReportAsync(new DriftReportRequest
        {
            Model = Sidecar.Model, Version = "v1", ClosedWindows = 10,
        })).Closed);
        Assert.Equal(5ul, window.Index);
    }

    [Fact]
    public async Task With_hashed_tokens_no_finding_or_alert_carries_the_trigger_text()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 8);
        const string hashKey = "a-secret-of-the-operators-0123";
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"), "--Monitor:Baselines:ReservoirRecords=50000",
            "--Monitor:Privacy:Tokens=Hashed", $"--Monitor:Privacy:HashKey={hashKey}");
        await sidecar.SetUpFraudModelAsync(traffic, referenceRecords: 20_000);
        await sidecar.RegisterCandidateAsync("v2");
        for (int sent = 0; sent < 40_000; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500, new FraudDrift(TriggerRate: 0.002), "v2", Sidecar.Digest("v2")));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Protos.V1.Finding[] keyed = [.. report.Findings.Where(f => f.Detector == "D1")];
        Assert.NotEmpty(keyed);
        string expected = new Core.Detectors.KeyPrivacy(Core.Detectors.TokenDisplay.Hashed, hashKey).Hash("ref:xz-#");
        Assert.Contains(keyed, f => f.Summary.Contains($"'{expected}'", StringComparison.Ordinal));
        string everything = string.Join("\n", report.Findings.Select(f => f.ToString()))
            + string.Join("\n", (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest())).Alerts.Select(a => a.ToString()))
            + string.Join("\n", (await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals.Select(s => s.ToString()));
        Assert.DoesNotContain("xz", everything, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("sha256:", everything);
    }
}
