using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// Alerts pushed to a real Prometheus Alertmanager (Debian's prometheus-alertmanager, started here on a
/// loopback port with a webhook receiver of its own): they arrive, stay one alert however often they are
/// re-sent, and resolve.
/// </summary>
public sealed class AlertmanagerTests
{
    [Fact]
    public async Task Alerts_arrive_in_alertmanager_are_deduplicated_while_resent_and_resolve()
    {
        string binary = ExternalProgram.Require("prometheus-alertmanager", "prometheus-alertmanager", "alertmanager");
        using var directory = new TempDirectory();
        await using Receiver notifications = await Receiver.StartAsync();
        await using AlertmanagerProcess alertmanager = await AlertmanagerProcess.StartAsync(binary, directory.Path, notifications.Port);
        var traffic = new FraudTraffic(seed: 51);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            $"--Monitor:Delivery:Alertmanager:Url={alertmanager.Url}", "--Monitor:Delivery:Alertmanager:ResendInterval=00:00:02",
            "--Monitor:Alerts:FireAfterWindows=2", "--Monitor:Alerts:ResolveAfterWindows=2");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 3, new FraudDrift(DistanceLogShift: Math.Log(2)));
        Protos.V1.Alert alert = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model })).Alerts,
            a => a.DedupeKey == "drift|distance_km");
        string id = alert.Id.ToString(CultureInfo.InvariantCulture);

        // It arrives with its labels and annotations.
        JsonElement active = default;
        Assert.True(await Eventually.HoldsAsync(() => (active = alertmanager.ActiveAlerts().FirstOrDefault(a => Label(a, "alert_id") == id)).ValueKind
            != JsonValueKind.Undefined, TimeSpan.FromSeconds(20)), "the alert should reach Alertmanager");
        Assert.Equal(("ModelDrift", "fraud-scorer", "v1", "warning", "drift"), (Label(active, "alertname"), Label(active, "model"),
            Label(active, "version"), Label(active, "severity"), Label(active, "kind")));
        Assert.StartsWith("drift on fraud-scorer version v1: window ", active.GetProperty("annotations").GetProperty("summary").GetString());
        TestContext.Current.TestOutputHelper?.WriteLine($"Alertmanager GET /api/v2/alerts while firing: {active}");

        // Re-sent every 2 s while firing: still one alert in Alertmanager, one firing notification from it.
        Assert.True(await Eventually.HoldsAsync(() => Resent(sidecar) >= 3, TimeSpan.FromSeconds(30)), "the firing alert should be re-sent");
        Assert.Single(alertmanager.ActiveAlerts(), a => Label(a, "alert_id") == id);
        Assert.True(await Eventually.HoldsAsync(() => Notifications(notifications, id, "firing").Count == 1, TimeSpan.FromSeconds(20)));

        // Two clean windows resolve it; Alertmanager gets endsAt, drops it from the active alerts and notifies the resolution.
        await sidecar.MirrorWindowsAsync(traffic, "v1", 2);
        Assert.Equal(Protos.V1.AlertState.Resolved, (await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = alert.Id })).State);
        Assert.True(await Eventually.HoldsAsync(() => !alertmanager.ActiveAlerts().Any(a => Label(a, "alert_id") == id), TimeSpan.FromSeconds(20)),
            "the alert should resolve in Alertmanager");
        Assert.True(await Eventually.HoldsAsync(() => Notifications(notifications, id, "resolved").Count == 1, TimeSpan.FromSeconds(20)),
            "Alertmanager should notify the resolution");
        Assert.Single(Notifications(notifications, id, "firing"));
        TestContext.Current.TestOutputHelper?.WriteLine($"sidecar re-sends while firing: {Resent(sidecar)}; Alertmanager notifications: " +
            string.Join(" | ", notifications.Requests.Select(r => r.Body)));
    }

    private static string? Label(JsonElement alert, string name) =>
        alert.GetProperty("labels").TryGetProperty(name, out JsonElement value) ? value.GetString() : null;

    private static double Resent(Sidecar sidecar)
    {
        string metrics = sidecar.Http.GetStringAsync("/metrics").GetAwaiter().GetResult();
        string? line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("drift_monitor_deliveries_total{sink=\"alertmanager\",outcome=\"resent\"}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[^1], CultureInfo.InvariantCulture);
    }

    /// <summary>Alertmanager's webhook notifications carrying the alert with a given status.</summary>
    private static List<JsonElement> Notifications(Receiver receiver, string id, string status) =>
    [
        .. receiver.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement)
            .Where(n => n.GetProperty("alerts").EnumerateArray().Any(a => Label(a, "alert_id") == id && a.GetProperty("status").GetString() == status)),
    ];
}

/// <summary>An Alertmanager on a free loopback port, routing every alert to a webhook, clustering off.</summary>
internal sealed class AlertmanagerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;

    private AlertmanagerProcess(Process process, string url)
    {
        _process = process;
        Url = url;
        _http = new HttpClient { BaseAddress = new Uri(url) };
    }

    public string Url { get; }

    public static async Task<AlertmanagerProcess> StartAsync(string binary, string directory, int webhookPort)
    {
        int port = Receiver.FreePort();
        string config = Path.Combine(directory, "alertmanager.yml");
        await File.WriteAllTextAsync(config, $"""
            route:
              receiver: test
              group_by: [alert_id]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: test
                webhook_configs:
                  - url: http://127.0.0.1:{webhookPort}/alertmanager
                    send_resolved: true
            """);
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            $"--config.file={config}", $"--storage.path={Path.Combine(directory, "alertmanager-data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        })
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {binary}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var alertmanager = new AlertmanagerProcess(process, $"http://127.0.0.1:{port}");
        if (!await Eventually.HoldsAsync(alertmanager.Ready, TimeSpan.FromSeconds(30)))
        {
            await alertmanager.DisposeAsync();
            throw new InvalidOperationException($"{binary} did not become ready on port {port} within 30 s");
        }

        return alertmanager;
    }

    /// <summary>GET /api/v2/alerts: the alerts Alertmanager holds as active.</summary>
    public List<JsonElement> ActiveAlerts()
    {
        string json = _http.GetStringAsync("/api/v2/alerts?active=true").GetAwaiter().GetResult();
        return [.. JsonDocument.Parse(json).RootElement.EnumerateArray()];
    }

    private bool Ready()
    {
        try
        {
            return _http.GetAsync("/-/ready").GetAwaiter().GetResult().IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
