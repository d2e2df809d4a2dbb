using System.Text;
using Grpc.Core;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// The bounds that keep the process's memory stated: queued batches in bytes per model and in total, categorical values
/// and request ids in bytes, open watchers per watch. (The process-level flood with the defaults is in the functional tests.)
/// </summary>
public sealed class MemoryBoundTests
{
    [Fact(Timeout = 60_000)]
    public async Task Queued_batches_are_bounded_in_bytes_per_model_and_in_total_and_the_bytes_are_released_once_processed()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 71);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Ingest:QueueBytesPerModel=65536", "--Monitor:Ingest:QueueBytesTotal=98304");
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = "second", Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = "second", Version = "v1", ArtifactSha256 = Sidecar.DigestV1, Source = "test", InitialState = VersionState.KnownGood,
        });

        ModelPipeline first = sidecar.Pipeline(Sidecar.Model);
        ModelPipeline second = sidecar.Pipeline("second");
        await using (await first.HoldAsync(TestContext.Current.CancellationToken))
        await using (await second.HoldAsync(TestContext.Current.CancellationToken))
        {
            (int accepted, RpcException refused) = await FloodAsync(sidecar, traffic, Sidecar.Model);
            Assert.True(accepted >= 2, $"only {accepted} batches queued");
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            Assert.Matches(@"^the ingest queue of model 'fraud-scorer' holds \d+ bytes; this batch's \d+ bytes would pass " +
                @"Monitor:Ingest:QueueBytesPerModel \(65536\); the batch was dropped$", refused.Status.Detail);
            Assert.InRange(first.QueuedBytes, 65536 / 2, 65536);

            (_, RpcException total) = await FloodAsync(sidecar, traffic, "second");
            Assert.Equal(StatusCode.ResourceExhausted, total.StatusCode);
            Assert.Matches(@"^the ingest queues of all models hold \d+ bytes; this batch's \d+ bytes would pass " +
                @"Monitor:Ingest:QueueBytesTotal \(98304\); the batch was dropped$", total.Status.Detail);
            Assert.InRange(first.QueuedBytes + second.QueuedBytes, 98304 / 2, 98304);
        }

        await first.FlushAsync(TestContext.Current.CancellationToken);
        await second.FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, first.QueuedBytes);
        Assert.Equal(0, second.QueuedBytes);
        Assert.Equal(100u, (await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 100))).Accepted);
        string metrics = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("drift_monitor_limit_breaches_total{limit=\"queue_bytes_per_model\"} 1", metrics);
        Assert.Contains("drift_monitor_limit_breaches_total{limit=\"queue_bytes_total\"} 1", metrics);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_categorical_value_or_request_id_over_its_byte_limit_is_refused_naming_the_field_and_record()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 72);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));

        MirrorBatch batch = Sidecar.Batch(traffic, 10);
        batch.Batch.Categorical[1] = Column(10, record => record == 3 ? new string('x', 257) : "de");
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Mirror.IngestAsync(batch, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("batch.categorical[1] ('country'): value 3 is 257 bytes; the limit is 256 (Monitor:Limits:MaxCategoryBytes)", ex.Status.Detail);

        batch = Sidecar.Batch(traffic, 10);
        batch.Batch.Categorical[1] = Column(10, _ => new string('y', 256));
        batch.Batch.RequestIds = Column(10, record => record == 9 ? new string('r', 1 << 20) : $"req-{record}");
        ex = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Mirror.IngestAsync(batch, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal("batch.request_ids: value 9 is 1048576 bytes; the limit is 256 (Monitor:Limits:MaxRequestIdBytes)", ex.Status.Detail);

        batch.Batch.RequestIds = Column(10, record => $"req-{record}");
        Assert.Equal(10u, (await sidecar.Mirror.IngestAsync(batch, cancellationToken: TestContext.Current.CancellationToken)).Accepted); // 256 bytes is within the limit
    }

    [Fact(Timeout = 60_000)]
    public async Task Watchers_beyond_the_limit_of_a_watch_are_refused_and_a_closed_one_frees_its_place()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Watch:MaxWatchers=2");
        using AsyncServerStreamingCall<RollbackSignal> one = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest());
        using AsyncServerStreamingCall<RollbackSignal> two = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest());
        Assert.True(await Eventually.HoldsAsync(() => Open(sidecar) == 2, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        using AsyncServerStreamingCall<RollbackSignal> third = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest { AfterSequence = 5 });
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await third.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("2 watchers are open (Monitor:Watch:MaxWatchers); watch again later with after_sequence = 5", ex.Status.Detail);

        // The alert watch has its own limit.
        using AsyncServerStreamingCall<Alert> alerts = sidecar.Alerts.WatchAlerts(new WatchAlertsRequest());

        one.Dispose();
        Assert.True(await Eventually.HoldsAsync(() => Open(sidecar) == 1, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        using AsyncServerStreamingCall<RollbackSignal> fourth = sidecar.Rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest());
        Assert.True(await Eventually.HoldsAsync(() => Open(sidecar) == 2, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        await sidecar.RegisterCandidateAsync("c1");
        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "c1", Actor = "ops", Reason = "drill" });
        Assert.True(await fourth.ResponseStream.MoveNext(TestContext.Current.CancellationToken));
        Assert.Equal(1u, fourth.ResponseStream.Current.Sequence);
    }

    [Fact(Timeout = 60_000)]
    public async Task Calls_beyond_the_in_flight_limit_of_a_role_are_refused_before_they_are_read_and_other_roles_still_get_through()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 73);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Calls:MaxInFlightPerRole=2");

        // Two ingest streams in flight hold both places of the ingest role.
        using AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> one = sidecar.Mirror.IngestStream(cancellationToken: cancel);
        using AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> two = sidecar.Mirror.IngestStream(cancellationToken: cancel);
        foreach (AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream in new[] { one, two })
        {
            await stream.RequestStream.WriteAsync(Sidecar.Batch(traffic, 10), cancel);
            Assert.True(await stream.ResponseStream.MoveNext(cancel));
            Assert.Equal(10u, stream.ResponseStream.Current.Accepted);
        }

        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 10), cancellationToken: cancel));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("2 calls needing the ingest role are in flight (Monitor:Calls:MaxInFlightPerRole); this call was not read: retry after a pause",
            ex.Status.Detail);

        // Calls needing another role have their own places.
        Assert.Equal(Sidecar.Model, (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model }, cancellationToken: cancel)).Name);
        await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = Sidecar.Model }, cancellationToken: cancel);

        // A stream that ends frees its place.
        await one.RequestStream.CompleteAsync();
        Assert.False(await one.ResponseStream.MoveNext(cancel));
        Security.CallLimiter limiter = (Security.CallLimiter)sidecar.App.Services.GetService(typeof(Security.CallLimiter))!;
        Assert.True(await Eventually.HoldsAsync(() => limiter.InFlight(Security.Roles.Ingest) == 1, TimeSpan.FromSeconds(10), cancel));
        Assert.Equal(10u, (await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 10), cancellationToken: cancel)).Accepted);

        string metrics = await sidecar.Http.GetStringAsync("/metrics", cancel);
        Assert.Matches("drift_monitor_limit_breaches_total\\{limit=\"calls_in_flight\"\\} [1-9]", metrics);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_query_or_an_http_body_over_64_KiB_is_refused_while_batches_may_be_as_big_as_the_message_limit()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));

        string name = new('m', 70 * 1024);
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = name }, cancellationToken: cancel));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("exceeds the maximum", ex.Status.Detail);
        ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = name }, cancellationToken: cancel));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);

        // HTTP bodies too (the Flagger webhook reads its JSON body).
        using var content = new System.Net.Http.StringContent("{\"name\":\"" + name + "\"}", Encoding.UTF8, "application/json");
        using HttpResponseMessage posted = await sidecar.Http.PostAsync("/api/v1/flagger/rollback", content, cancel);
        Assert.Equal(System.Net.HttpStatusCode.RequestEntityTooLarge, posted.StatusCode);

        // Admin still reads a big message (and answers about its content), and so does Mirror.
        ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = name }, cancellationToken: cancel));
        Assert.NotEqual(StatusCode.ResourceExhausted, ex.StatusCode);
        MirrorBatch batch = Sidecar.Batch(new FraudTraffic(seed: 74), 1000);
        Assert.True(batch.CalculateSize() > 64 * 1024);
        Assert.Equal(1000u, (await sidecar.Mirror.IngestAsync(batch, cancellationToken: cancel)).Accepted);
    }

    [Fact(Timeout = 60_000)]
    public async Task Connections_beyond_the_limit_are_closed()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Calls:MaxConnections=3");

        // Each channel keeps its own connection open: at most three connections exist, whoever holds them.
        var channels = Enumerable.Range(0, 6).Select(_ => sidecar.OpenChannel(key: null)).ToList();
        int served = 0, closed = 0;
        foreach (Grpc.Net.Client.GrpcChannel channel in channels)
        {
            try
            {
                await new Admin.AdminClient(channel).GetModelAsync(new GetModelRequest { Name = Sidecar.Model }, cancellationToken: cancel);
                served++;
            }
            // Kestrel closes the connection at once: the client sees it as unavailable or as an HTTP/2 handshake that never completed.
            catch (RpcException refused) when (refused.StatusCode == StatusCode.Unavailable
                || (refused.StatusCode == StatusCode.Internal && refused.Status.Detail.Contains("HTTP/2 connection could not be established", StringComparison.Ordinal)))
            {
                closed++;
            }
        }

        channels.ForEach(c => c.Dispose());
        Assert.InRange(served, 1, 3);
        Assert.Equal(6 - served, closed);
    }

    [Fact(Timeout = 60_000)]
    public async Task An_admin_reason_over_4_KiB_is_refused_and_nothing_changes()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.RegisterCandidateAsync("c1");

        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RollBackVersionAsync(
            new RollBackVersionRequest { Model = Sidecar.Model, Version = "c1", Actor = "ops", Reason = new string('r', 4097) }, cancellationToken: cancel));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("reason: 4097 bytes; the limit is 4096", ex.Status.Detail);
        ex = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.QuarantineVersionAsync(
            new QuarantineVersionRequest { Model = Sidecar.Model, Version = "c1", Actor = new string('a', 257), Reason = "r" }, cancellationToken: cancel));
        Assert.Equal("actor: 257 bytes; the limit is 256", ex.Status.Detail);

        ModelVersion version = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "c1" }, cancellationToken: cancel);
        Assert.Equal(VersionState.Candidate, version.State);
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest(), cancellationToken: cancel)).Signals);
        await sidecar.Admin.RollBackVersionAsync(
            new RollBackVersionRequest { Model = Sidecar.Model, Version = "c1", Actor = "ops", Reason = new string('r', 4096) }, cancellationToken: cancel);
    }

    private static int Open(Sidecar sidecar) =>
        ((Alerting.RollbackSignalHub)sidecar.App.Services.GetService(typeof(Alerting.RollbackSignalHub))!).OpenWatchers;

    /// <summary>Sends batches of 100 records to a held model until one is refused.</summary>
    private static async Task<(int Accepted, RpcException Refused)> FloodAsync(Sidecar sidecar, FraudTraffic traffic, string model)
    {
        for (int accepted = 0; accepted < 1000; accepted++)
        {
            MirrorBatch batch = Sidecar.Batch(traffic, 100);
            batch.Model = model;
            try
            {
                await sidecar.Mirror.IngestAsync(batch);
            }
            catch (RpcException ex)
            {
                return (accepted, ex);
            }
        }

        throw new InvalidOperationException($"1000 batches queued for '{model}' without a refusal");
    }

    private static StringColumn Column(int records, Func<int, string> value)
    {
        var column = new StringColumn();
        var bytes = new List<byte>();
        for (int i = 0; i < records; i++)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(value(i)));
            column.Ends.Add((uint)bytes.Count);
        }

        column.Utf8 = Google.Protobuf.ByteString.CopyFrom([.. bytes]);
        return column;
    }
}
