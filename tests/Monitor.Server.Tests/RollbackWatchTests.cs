using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Simulation;
using Monitor.Server.Models;

namespace Monitor.Server.Tests;

/// <summary>The rollback signals a controller watches: live, resumable from a sequence number, acknowledgeable.</summary>
public sealed class RollbackWatchTests
{
    [Fact]
    public async Task Signals_arrive_live_resume_from_a_sequence_and_are_acknowledged()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 4);
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        var rollbacks = new Rollbacks.RollbacksClient(sidecar.Channel);
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Sidecar.Model, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
        foreach (string version in new[] { "v0", "v1", "v2" })
        {
            await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = version, ArtifactSha256 = Sidecar.Digest(version),
                InitialState = version == "v0" ? VersionState.KnownGood : VersionState.Candidate,
            });
        }

        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 10, version: "v0", digest: Sidecar.Digest("v0"))); // v0 has served

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(60));
        using AsyncServerStreamingCall<RollbackSignal> watch = rollbacks.WatchRollbackSignals(
            new WatchRollbackSignalsRequest { Model = Sidecar.Model }, cancellationToken: cancel.Token);

        // A rollback of v1 reaches the open watch.
        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "v1", Actor = "ops", Reason = "red team" });
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        RollbackSignal first = watch.ResponseStream.Current;
        Assert.Equal((1ul, "v1", "v0"), (first.Sequence, first.FromVersion, first.ToVersion));
        Assert.Equal("rolled back by ops: red team", first.Reason);

        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "ops", Reason = "red team" });
        Assert.True(await watch.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal((2ul, "v2"), (watch.ResponseStream.Current.Sequence, watch.ResponseStream.Current.FromVersion));

        // A controller that saw signal 1 resumes after it and gets signal 2 from the store.
        using AsyncServerStreamingCall<RollbackSignal> resumed = rollbacks.WatchRollbackSignals(
            new WatchRollbackSignalsRequest { Model = Sidecar.Model, AfterSequence = 1 }, cancellationToken: cancel.Token);
        Assert.True(await resumed.ResponseStream.MoveNext(cancel.Token));
        Assert.Equal(2ul, resumed.ResponseStream.Current.Sequence);

        RollbackSignal acknowledged = await rollbacks.AcknowledgeRollbackSignalAsync(
            new AcknowledgeRollbackSignalRequest { Sequence = 1, Actor = "argo-controller", Reason = "rolled back" });
        Assert.True(acknowledged.Acknowledged);
        Assert.Equal("argo-controller", acknowledged.AcknowledgedBy);
        ListRollbackSignalsResponse all = await rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest());
        Assert.Equal([true, false], all.Signals.Select(s => s.Acknowledged));
        Assert.Contains(sidecar.App.Services.GetRequiredService<IModelStore>().LoadAudit(Sidecar.Model),
            a => a.Action == "acknowledge-rollback" && a.Actor == "argo-controller");

        RpcException missing = await Assert.ThrowsAsync<RpcException>(async () =>
            await rollbacks.AcknowledgeRollbackSignalAsync(new AcknowledgeRollbackSignalRequest { Sequence = 99, Actor = "x" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        await cancel.CancelAsync();
    }
}
