using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;
using Monitor.Server.Delivery;
using Monitor.Server.Hosting;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>At-least-once delivery through the outbox: receivers that are down, flaky, or outlive a killed sidecar.</summary>
public sealed class DeliveryTests
{
    private const string Secret = "a-webhook-secret-of-some-length";
    private const string Sink = "webhook:ops";

    [Fact]
    public async Task A_webhook_that_is_down_then_flaky_gets_every_event_once_per_idempotency_key_signed()
    {
        using var directory = new TempDirectory();
        int port = Receiver.FreePort();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), WebhookSettings(port));
        var traffic = new FraudTraffic(seed: 41);
        foreach (string version in new[] { "v2", "v3", "v4" })
        {
            await sidecar.RegisterCandidateAsync(version);
            await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = version, Actor = "ops", Reason = "drill" });
        }

        // Nobody listens yet: the oldest entry is tried (connection refused) and retried with backoff; the
        // entries behind it wait, so the receiver will get them in order.
        IOutboxStore store = sidecar.App.Services.GetRequiredService<IOutboxStore>();
        List<OutboxItem> committed = store.LoadOutbox(Sink);
        Assert.Equal(6, committed.Count); // per version: its critical "verdict" alert and its rollback signal
        Assert.True(await Eventually.HoldsAsync(() => store.LoadOutbox(Sink)[0].Attempts >= 3, TimeSpan.FromSeconds(20)),
            "the oldest entry should have been retried while the receiver was down");
        List<OutboxItem> down = store.LoadOutbox(Sink);
        Assert.All(down, i => Assert.Null(i.DeliveredAt));
        Assert.Contains("refused", down[0].LastError, StringComparison.OrdinalIgnoreCase);
        Assert.All(down.Skip(1), i => Assert.Equal(0, i.Attempts));

        // The receiver comes up, answers 503 to its first three requests, then 200.
        await using Receiver receiver = await Receiver.StartAsync(port, count => count <= 3 ? 503 : 200);
        Assert.True(await Eventually.HoldsAsync(() => store.LoadOutbox(Sink).All(i => i.DeliveredAt is not null), TimeSpan.FromSeconds(30)),
            "every entry should be delivered once the receiver is back");

        ReceivedRequest[] accepted = [.. receiver.Requests.Where(r => r.Status == 200)];
        string[] keys = [.. accepted.Select(r => r.Headers["Idempotency-Key"])];
        Assert.Equal(committed.Select(i => i.IdempotencyKey), keys); // every event, each accepted exactly once, in commit order
        Assert.Equal(3, receiver.Requests.Count(r => r.Status == 503));
        foreach (ReceivedRequest request in receiver.Requests)
        {
            string timestamp = request.Headers["X-Monitor-Timestamp"];
            string expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret),
                Encoding.UTF8.GetBytes(timestamp + "." + request.Body)));
            Assert.Equal(expected, request.Headers["X-Monitor-Signature"]);
            using JsonDocument body = JsonDocument.Parse(request.Body);
            Assert.Equal(request.Headers["Idempotency-Key"], body.RootElement.GetProperty("idempotencyKey").GetString());
            Assert.Equal(request.Headers["X-Monitor-Event"], body.RootElement.GetProperty("type").GetString());
        }

        ReceivedRequest rollback = accepted.First(r => r.Headers["Idempotency-Key"] == "rollback-1");
        using JsonDocument signal = JsonDocument.Parse(rollback.Body);
        JsonElement payload = signal.RootElement.GetProperty("rollback");
        Assert.Equal(("v2", "v1", "ops"), (payload.GetProperty("fromVersion").GetString(), payload.GetProperty("toVersion").GetString(),
            payload.GetProperty("actor").GetString()));

        // Delivered entries are not sent again.
        int requests = receiver.Requests.Count;
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        Assert.Equal(requests, receiver.Requests.Count);
        string metrics = await sidecar.Http.GetStringAsync("/metrics");
        Assert.Contains("drift_monitor_deliveries_total{sink=\"webhook:ops\",outcome=\"delivered\"} 6", metrics);
        Assert.Contains("drift_monitor_outbox_pending{sink=\"webhook:ops\"} 0", metrics);
    }

    [Fact]
    public async Task A_signal_committed_before_a_kill_9_is_delivered_after_the_restart()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        int webhookPort = Receiver.FreePort();
        await using (SidecarProcess first = await SidecarProcess.StartAsync(database, WebhookSettings(webhookPort)))
        {
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first.GrpcPort}");
            var admin = new Admin.AdminClient(channel);
            await admin.RegisterModelAsync(new RegisterModelRequest { Name = Sidecar.Model, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
            foreach (string version in new[] { "v1", "v2" })
            {
                await admin.RegisterVersionAsync(new RegisterVersionRequest
                {
                    Model = Sidecar.Model,
                    Version = version,
                    ArtifactSha256 = Sidecar.Digest(version),
                    InitialState = version == "v1" ? VersionState.KnownGood : VersionState.Candidate,
                });
            }

            RollBackVersionResponse response = await admin.RollBackVersionAsync(
                new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", ToVersion = "v1", Actor = "ops", Reason = "before the crash" });
            Assert.Equal((1ul, "v1"), (response.SignalSequence, response.ToVersion));
            first.Kill(); // SIGKILL: no shutdown, no flush
        }

        // Committed but never delivered: the outbox says so on disk.
        var store = new SqliteOutboxStore(new SqliteDatabase(Options.Create(new MonitorOptions { Database = new DatabaseOptions { Path = database } })));
        List<OutboxItem> pending = store.LoadOutbox(Sink);
        Assert.Contains(pending, i => i.IdempotencyKey == "rollback-1" && i.DeliveredAt is null);

        await using Receiver receiver = await Receiver.StartAsync(webhookPort);
        await using SidecarProcess second = await SidecarProcess.StartAsync(database, WebhookSettings(webhookPort));
        Assert.True(await Eventually.HoldsAsync(() => receiver.Requests.Any(r => r.Headers["Idempotency-Key"] == "rollback-1"), TimeSpan.FromSeconds(30)),
            "the signal should be delivered by the restarted sidecar");
        Assert.True(await Eventually.HoldsAsync(() => store.LoadOutbox(Sink).All(i => i.DeliveredAt is not null), TimeSpan.FromSeconds(10)));
        Assert.Equal(pending.Select(i => i.IdempotencyKey).Order(), receiver.Requests.Select(r => r.Headers["Idempotency-Key"]).Order());
        using JsonDocument body = JsonDocument.Parse(receiver.Requests.First(r => r.Headers["Idempotency-Key"] == "rollback-1").Body);
        Assert.Equal("before the crash", body.RootElement.GetProperty("rollback").GetProperty("reason").GetString()!.Split(": ")[^1]);
    }

    private static string[] WebhookSettings(int port) =>
    [
        "--Monitor:Delivery:Webhooks:0:Name=ops",
        $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/hooks/monitor",
        $"--Monitor:Delivery:Webhooks:0:Secret={Secret}",
        "--Monitor:Delivery:InitialBackoff=00:00:00.100",
        "--Monitor:Delivery:MaxBackoff=00:00:00.500",
        "--Monitor:Delivery:Timeout=00:00:02",
    ];
}
