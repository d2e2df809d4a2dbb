using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;

namespace Monitor.Server.Verdicts;

/// <summary>
/// Tells live watchers of each rollback signal as it is committed. Every watcher has a bounded queue:
/// one that stops reading is cut off (and told where to resume) rather than holding anything up.
/// </summary>
internal sealed class RollbackSignalHub
{
    private const int WatcherCapacity = 256;
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();

    public Subscription Subscribe(string model)
    {
        var subscription = new Subscription(this, model);
        _subscriptions[subscription] = 0;
        return subscription;
    }

    /// <summary>Called after the signal is committed to the store.</summary>
    public void Publish(StoredRollback signal)
    {
        foreach (Subscription subscription in _subscriptions.Keys)
        {
            if (subscription.Model.Length == 0 || subscription.Model == signal.Model)
            {
                subscription.Offer(signal);
            }
        }
    }

    internal sealed class Subscription(RollbackSignalHub hub, string model) : IDisposable
    {
        private readonly Channel<StoredRollback> _queue = Channel.CreateBounded<StoredRollback>(WatcherCapacity);

        public string Model { get; } = model;
        public bool FellBehind { get; private set; }
        public ChannelReader<StoredRollback> Reader => _queue.Reader;

        public void Offer(StoredRollback signal)
        {
            if (!_queue.Writer.TryWrite(signal))
            {
                FellBehind = true;
                _queue.Writer.TryComplete();
            }
        }

        public void Dispose()
        {
            hub._subscriptions.TryRemove(this, out _);
            _queue.Writer.TryComplete();
        }
    }
}

/// <summary>The gRPC rollbacks service: list, watch (resumable) and acknowledge rollback signals.</summary>
internal sealed class RollbackService(SqliteStore store, RollbackSignalHub hub, TimeProvider time) : Rollbacks.RollbacksBase
{
    public override Task<ListRollbackSignalsResponse> ListRollbackSignals(ListRollbackSignalsRequest request, ServerCallContext context)
    {
        var response = new ListRollbackSignalsResponse();
        response.Signals.AddRange(store.LoadRollbackSignals(request.Model, (long)Math.Min(request.AfterSequence, long.MaxValue)).Select(ToProto));
        return Task.FromResult(response);
    }

    public override async Task WatchRollbackSignals(WatchRollbackSignalsRequest request, IServerStreamWriter<RollbackSignal> responseStream,
        ServerCallContext context)
    {
        // Subscribe before reading the store, so nothing committed in between is missed; duplicates are skipped by sequence.
        using RollbackSignalHub.Subscription subscription = hub.Subscribe(request.Model);
        long last = (long)Math.Min(request.AfterSequence, long.MaxValue);
        foreach (StoredRollback stored in store.LoadRollbackSignals(request.Model, last))
        {
            await responseStream.WriteAsync(ToProto(stored), context.CancellationToken);
            last = stored.Sequence;
        }

        try
        {
            await foreach (StoredRollback live in subscription.Reader.ReadAllAsync(context.CancellationToken))
            {
                if (live.Sequence > last)
                {
                    await responseStream.WriteAsync(ToProto(live), context.CancellationToken);
                    last = live.Sequence;
                }
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            return;
        }

        if (subscription.FellBehind)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the watcher fell behind; watch again with after_sequence = {last}"));
        }
    }

    public override Task<RollbackSignal> AcknowledgeRollbackSignal(AcknowledgeRollbackSignalRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Actor))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "actor: say who acknowledges the signal"));
        }

        StoredRollback acknowledged = store.AcknowledgeRollback((long)Math.Min(request.Sequence, long.MaxValue), request.Actor, request.Reason,
            time.GetUtcNow()) ?? throw new RpcException(new Status(StatusCode.NotFound, $"rollback signal {request.Sequence} does not exist"));
        return Task.FromResult(ToProto(acknowledged));
    }

    private static RollbackSignal ToProto(StoredRollback signal) => new()
    {
        Sequence = (ulong)signal.Sequence,
        Model = signal.Model,
        FromVersion = signal.From,
        ToVersion = signal.To ?? "",
        Reason = signal.Reason,
        IssuedAt = ProtoTranslation.ToProto(signal.At),
        Acknowledged = signal.AcknowledgedBy is not null,
        AcknowledgedBy = signal.AcknowledgedBy ?? "",
    };
}
