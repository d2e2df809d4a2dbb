using Grpc.Core;
using Monitor.Server.Security;
using Monitor.Protos.V1;
using Monitor.Server.Alerting;
using Monitor.Server.Ingest;

using Monitor.Server.Models;

namespace Monitor.Server.Verdicts;

/// <summary>The gRPC rollbacks service: list, watch (resumable) and acknowledge rollback signals; decide held rollbacks.</summary>
internal sealed class RollbackService(IIncidentStore store, RollbackSignalHub hub, ModelCatalog models, ModelPipelines pipelines, TimeProvider time)
    : Rollbacks.RollbacksBase
{
    public override Task<ListRollbackSignalsResponse> ListRollbackSignals(ListRollbackSignalsRequest request, ServerCallContext context)
    {
        var response = new ListRollbackSignalsResponse();
        response.Signals.AddRange(store.LoadRollbackSignals(request.Model, Sequence(request.AfterSequence)).Select(RollbackSignalHub.ToProto));
        return Task.FromResult(response);
    }

    public override Task WatchRollbackSignals(WatchRollbackSignalsRequest request, IServerStreamWriter<RollbackSignal> responseStream,
        ServerCallContext context) =>
        hub.StreamAsync(r => request.Model.Length == 0 || r.Model == request.Model, Sequence(request.AfterSequence),
            (after, limit) => store.LoadRollbackSignals(request.Model, after, limit), RollbackSignalHub.ToProto, responseStream, context.CancellationToken);

    public override Task<RollbackSignal> AcknowledgeRollbackSignal(AcknowledgeRollbackSignalRequest request, ServerCallContext context)
    {
        string actor = Audit.Actor(request.Actor, "acknowledges the signal", context);
        StoredRollback acknowledged = store.AcknowledgeRollback(Sequence(request.Sequence), actor, Audit.Reason(request.Reason), time.GetUtcNow())
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"rollback signal {request.Sequence} does not exist"));
        return Task.FromResult(RollbackSignalHub.ToProto(acknowledged));
    }

    public override Task<ListHeldRollbacksResponse> ListHeldRollbacks(ListHeldRollbacksRequest request, ServerCallContext context)
    {
        var response = new ListHeldRollbacksResponse();
        response.Rollbacks.AddRange(store.LoadHeldRollbacks(request.Model, request.PendingOnly).Select(ToProto));
        return Task.FromResult(response);
    }

    public override async Task<HeldRollback> DecideHeldRollback(DecideHeldRollbackRequest request, ServerCallContext context)
    {
        string actor = Audit.Actor(request.Actor, request.Release ? "releases the rollback" : "dismisses the rollback", context);
        StoredHeldRollback held = store.LoadHeldRollbacks("", pendingOnly: false).FirstOrDefault(h => h.Id == Sequence(request.Id))
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"held rollback {request.Id} does not exist"));
        var decided = await pipelines.Of(models.Get(held.Model)).DecideHeldAsync(held, request.Release, actor, Audit.Reason(request.Reason),
            context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"held rollback {request.Id} does not exist"));
        if (decided.AlreadyDecided)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"held rollback {request.Id} was already {decided.Held.Decision} by {decided.Held.DecidedBy}"));
        }

        return ToProto(decided.Held);
    }

    private static long Sequence(ulong value) => (long)Math.Min(value, long.MaxValue);

    private static HeldRollback ToProto(StoredHeldRollback held)
    {
        var proto = new HeldRollback
        {
            Id = (ulong)held.Id,
            Model = held.Model,
            FromVersion = held.From,
            ToVersion = held.To ?? "",
            Reason = held.Reason,
            HeldAt = ProtoTranslation.ToProto(held.At),
            HeldBecause = held.HeldBecause,
            Decision = held.Decision ?? "",
            DecidedBy = held.DecidedBy ?? "",
            ReleasedSequence = (ulong)(held.ReleasedSequence ?? 0),
        };
        proto.AlertIds.AddRange(held.AlertIds.Select(id => (ulong)id));
        return proto;
    }
}
