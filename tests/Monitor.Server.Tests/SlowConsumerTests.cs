using System.Globalization;
using Grpc.Core;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>A watcher that stops reading and a webhook that answers after 30 s hold up nothing but themselves.</summary>
public sealed class SlowConsumerTests
{
    [Fact]
    public async Task A_watcher_that_stops_reading_is_cut_off_and_told_where_to_resume_while_ingest_and_other_watchers_go_on()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 61);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        const int signals = 600;
        string reason = new('r', 2000);

        using AsyncServerStreamingCall<RollbackSignal> stalled = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest());
        using AsyncServerStreamingCall<RollbackSignal> reading = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest());
        var seen = new List<ulong>();
        Task readAll = Task.Run(async () =>
        {
            while (seen.Count < signals && await reading.ResponseStream.MoveNext(CancellationToken.None))
            {
                seen.Add(reading.ResponseStream.Current.Sequence);
            }
        });

        for (int i = 1; i <= signals; i++)
        {
            await sidecar.RegisterCandidateAsync($"c{i}");
            await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = $"c{i}", Actor = "ops", Reason = reason });
            if (i % 50 == 0)
            {
                // Ingest goes on while the stalled watcher's stream is full.
                MirrorAck ack = await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 100), deadline: DateTime.UtcNow.AddSeconds(10));
                Assert.Equal(100u, ack.Accepted);
            }
        }

        await readAll.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal([.. Enumerable.Range(1, signals).Select(i => (ulong)i)], seen);

        // The stalled watcher gets what was buffered for it, then RESOURCE_EXHAUSTED naming where to resume.
        var received = new List<ulong>();
        RpcException cut = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await stalled.ResponseStream.MoveNext(CancellationToken.None))
            {
                received.Add(stalled.ResponseStream.Current.Sequence);
            }
        });
        Assert.Equal(StatusCode.ResourceExhausted, cut.StatusCode);
        Assert.Equal("the watcher fell behind by more than 256 changes or 262144 bytes (Monitor:Watch:MaxBehindChanges, MaxBehindBytes); " +
            $"watch again with after_sequence = {received[^1]}", cut.Status.Detail);
        Assert.InRange(received.Count, 1, signals - 1);

        using AsyncServerStreamingCall<RollbackSignal> resumed = sidecar.Rollbacks.WatchRollbackSignals(
            new WatchRollbackSignalsRequest { AfterSequence = received[^1] });
        while (received.Count < signals && await resumed.ResponseStream.MoveNext(TestContext.Current.CancellationToken))
        {
            received.Add(resumed.ResponseStream.Current.Sequence);
        }

        Assert.Equal(seen, received);
    }

    [Fact]
    public async Task A_webhook_that_answers_after_30_s_delays_only_itself_its_backlog_is_bounded_and_it_is_told_what_it_missed()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 62);
        await using Receiver slow = await Receiver.StartAsync();
        await using Receiver fast = await Receiver.StartAsync();
        slow.Delay = TimeSpan.FromSeconds(30);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Delivery:Webhooks:0:Name=slow", $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{slow.Port}/hook",
            "--Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123",
            "--Monitor:Delivery:Webhooks:1:Name=fast", $"--Monitor:Delivery:Webhooks:1:Url=http://127.0.0.1:{fast.Port}/hook",
            "--Monitor:Delivery:Webhooks:1:Secret=0123456789abcdef0123",
            "--Monitor:Delivery:Timeout=00:00:02", "--Monitor:Delivery:InitialBackoff=00:00:00.100", "--Monitor:Delivery:MaxBackoff=00:00:00.500",
            "--Monitor:Delivery:MaxPendingAlertsPerSink=5");
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = "second", Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = "second", Version = "v1", ArtifactSha256 = Sidecar.DigestV1, Source = "test", InitialState = VersionState.KnownGood,
        });

        // Each rollback (an alert and a signal) reaches the fast receiver promptly while the slow one still sits on its first request.
        const int rollbacks = 20;
        for (int i = 1; i <= rollbacks; i++)
        {
            await sidecar.RegisterCandidateAsync($"c{i}");
            await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = $"c{i}", Actor = "ops", Reason = "drill" });
            Assert.True(await Eventually.HoldsAsync(() => Accepted(fast) == 2 * i, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken),
                $"the fast webhook got {Accepted(fast)} of {2 * i}");
        }

        // Ingest to both models is not held up.
        foreach (string model in (string[])[Sidecar.Model, "second"])
        {
            MirrorBatch batch = Sidecar.Batch(traffic, 100);
            batch.Model = model;
            Assert.Equal(100u, (await sidecar.Mirror.IngestAsync(batch, deadline: DateTime.UtcNow.AddSeconds(10))).Accepted);
        }

        // The slow receiver's backlog holds at most 5 alert changes; the other 15 were dropped and counted; no signal was dropped.
        var store = (Delivery.IOutboxStore)sidecar.App.Services.GetService(typeof(Delivery.IOutboxStore))!;
        List<Delivery.OutboxItem> backlog = store.LoadOutbox("webhook:slow").Where(i => i.DeliveredAt is null).ToList();
        Assert.Equal(5, backlog.Count(i => i.IdempotencyKey.StartsWith("alert-", StringComparison.Ordinal)));
        Assert.Equal(rollbacks, backlog.Count(i => i.IdempotencyKey.StartsWith("rollback-", StringComparison.Ordinal)));
        Assert.Equal(rollbacks - 5, store.CountDroppedAlerts("webhook:slow"));
        Assert.Equal(0, store.CountDroppedAlerts("webhook:fast"));

        // It recovers: everything kept is delivered, each request saying how many alert changes it missed.
        slow.Delay = TimeSpan.Zero;
        Assert.True(await Eventually.HoldsAsync(() => Accepted(slow) == 5 + rollbacks, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken),
            $"the slow webhook got {Accepted(slow)} of {5 + rollbacks}");
        Assert.All(slow.Requests.Where(r => r.Status == 200), r => Assert.Equal((rollbacks - 5).ToString(CultureInfo.InvariantCulture),
            r.Headers["X-Monitor-Alerts-Dropped"]));
        Assert.Contains("drift_monitor_outbox_dropped_alerts{sink=\"webhook:slow\"} 15",
            await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken));
    }

    private static int Accepted(Receiver receiver) => receiver.Requests.Where(r => r.Status == 200).Select(r => r.Headers["Idempotency-Key"]).Distinct().Count();
}
