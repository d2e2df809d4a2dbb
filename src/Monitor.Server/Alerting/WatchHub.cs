using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Monitor.Server.Alerting;

/// <summary>
/// Tells live watchers of each item as it is committed. Each watcher is bounded in changes and bytes held for it
/// (Monitor:Watch:MaxBehindChanges, MaxBehindBytes): one that stops reading is cut off, and told where to resume, rather
/// than holding anything up or growing.
/// </summary>
internal abstract class WatchHub<T>
{
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();
    private readonly Func<T, long> _sequence;
    private readonly Func<T, int> _size;
    private readonly WatchOptions _options;
    private readonly WatcherCount _watchers = new();
    private readonly Metrics.MonitorMetrics _metrics;

    protected WatchHub(Func<T, long> sequence, Func<T, int> size, IOptions<MonitorOptions> options, Metrics.MonitorMetrics metrics)
    {
        _sequence = sequence;
        _size = size;
        _options = options.Value.Watch;
        _metrics = metrics;
        PageChanges = Math.Max(1, _options.MaxBehindChanges / 16);
    }

    /// <summary>Watch calls open now.</summary>
    public int OpenWatchers => _watchers.Open;

    /// <summary>Stored changes read at a time while a watcher catches up.</summary>
    public int PageChanges { get; }

    public Subscription Subscribe(Func<T, bool> filter)
    {
        var subscription = new Subscription(this, filter);
        _subscriptions[subscription] = 0;
        return subscription;
    }

    /// <summary>Called after the item is committed to the store.</summary>
    public void Publish(T item)
    {
        int size = -1;
        foreach (Subscription subscription in _subscriptions.Keys)
        {
            if (subscription.Filter(item))
            {
                if (size < 0)
                {
                    size = _size(item);
                }

                subscription.Offer(item, size);
            }
        }
    }

    /// <summary>
    /// Streams the stored items after <paramref name="after"/> (a page at a time), then live ones, in sequence order, until
    /// the call ends. Subscribes before reading the store so nothing committed in between is missed; repeats are skipped by
    /// sequence. A watcher that fell behind ends with RESOURCE_EXHAUSTED naming where to resume.
    /// </summary>
    /// <param name="stored">The stored items after a sequence, at most the given number.</param>
    public async Task StreamAsync<TMessage>(Func<T, bool> filter, long after, Func<long, int, IReadOnlyList<T>> stored, Func<T, TMessage> toProto,
        IServerStreamWriter<TMessage> responseStream, CancellationToken cancellationToken)
    {
        if (!_watchers.TryOpen(_options.MaxWatchers))
        {
            _metrics.LimitBreaches.WithLabels("watchers").Inc();
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"{_options.MaxWatchers} watchers are open (Monitor:Watch:MaxWatchers); watch again later with after_sequence = {after}"));
        }

        try
        {
            using Subscription subscription = Subscribe(filter);
            long last = after;
            try
            {
                bool more = true;
                while (more && !subscription.FellBehind)
                {
                    IReadOnlyList<T> page = stored(last, PageChanges);
                    foreach (T item in page)
                    {
                        if (subscription.FellBehind)
                        {
                            break;
                        }

                        await responseStream.WriteAsync(toProto(item), cancellationToken);
                        last = _sequence(item);
                    }

                    more = page.Count == PageChanges;
                }

                while (await subscription.Reader.WaitToReadAsync(cancellationToken))
                {
                    while (subscription.Reader.TryPeek(out (T Item, int Size) live))
                    {
                        if (_sequence(live.Item) > last)
                        {
                            await responseStream.WriteAsync(toProto(live.Item), cancellationToken);
                            last = _sequence(live.Item);
                        }

                        subscription.Taken(live.Size);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            if (subscription.FellBehind)
            {
                _metrics.LimitBreaches.WithLabels("watch_behind").Inc();
                throw new RpcException(new Status(StatusCode.ResourceExhausted,
                    $"the watcher fell behind by more than {_options.MaxBehindChanges} changes or {_options.MaxBehindBytes} bytes " +
                    $"(Monitor:Watch:MaxBehindChanges, MaxBehindBytes); watch again with after_sequence = {last}"));
            }
        }
        finally
        {
            _watchers.Close();
        }
    }

    /// <summary>
    /// One watcher's live queue, bounded in changes and bytes. Past either bound the watcher is cut off: the queue is
    /// emptied and closed, and the call ends, once a write in progress is taken, naming the last change sent.
    /// </summary>
    internal sealed class Subscription(WatchHub<T> hub, Func<T, bool> filter) : IDisposable
    {
        private readonly Channel<(T Item, int Size)> _queue = Channel.CreateUnbounded<(T, int)>();
        private readonly Lock _lock = new();
        private int _changes;
        private long _bytes;
        private volatile bool _fellBehind;

        public Func<T, bool> Filter { get; } = filter;
        public bool FellBehind => _fellBehind;

        /// <summary>The live changes queued for the watcher; each stays counted until <see cref="Taken"/>.</summary>
        public ChannelReader<(T Item, int Size)> Reader => _queue.Reader;

        public void Offer(T item, int size)
        {
            lock (_lock)
            {
                if (_fellBehind)
                {
                    return;
                }

                if (_changes + 1 <= hub._options.MaxBehindChanges && _bytes + size <= hub._options.MaxBehindBytes)
                {
                    _changes++;
                    _bytes += size;
                    _queue.Writer.TryWrite((item, size));
                    return;
                }

                _fellBehind = true;
                _queue.Writer.TryComplete();
                while (_queue.Reader.TryRead(out _))
                {
                }
            }
        }

        /// <summary>The change at the head of the queue was sent (or skipped as a repeat): it no longer counts.</summary>
        public void Taken(int size)
        {
            lock (_lock)
            {
                if (!_fellBehind)
                {
                    _queue.Reader.TryRead(out _);
                    _changes--;
                    _bytes -= size;
                }
            }
        }

        public void Dispose()
        {
            hub._subscriptions.TryRemove(this, out _);
            _queue.Writer.TryComplete();
        }
    }
}

/// <summary>Watch calls open on one watch (Monitor:Watch:MaxWatchers).</summary>
internal sealed class WatcherCount
{
    private int _open;

    public int Open => Volatile.Read(ref _open);

    public bool TryOpen(int max)
    {
        if (Interlocked.Increment(ref _open) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        return false;
    }

    public void Close() => Interlocked.Decrement(ref _open);
}

/// <summary>Live rollback signals.</summary>
internal sealed class RollbackSignalHub(IOptions<MonitorOptions> options, Metrics.MonitorMetrics metrics)
    : WatchHub<StoredRollback>(r => r.Sequence, r => ToProto(r).CalculateSize(), options, metrics)
{
    /// <summary>A rollback signal as watchers and reports receive it.</summary>
    public static Protos.V1.RollbackSignal ToProto(StoredRollback signal)
    {
        var proto = new Protos.V1.RollbackSignal
        {
            Sequence = (ulong)signal.Sequence,
            Model = signal.Model,
            FromVersion = signal.From,
            ToVersion = signal.To ?? "",
            Reason = signal.Reason,
            IssuedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(signal.At),
            Acknowledged = signal.AcknowledgedBy is not null,
            AcknowledgedBy = signal.AcknowledgedBy ?? "",
            Actor = signal.Actor,
        };
        proto.AlertIds.AddRange(signal.AlertIds.Select(id => (ulong)id));
        return proto;
    }
}

/// <summary>Live alert changes.</summary>
internal sealed class AlertHub(IOptions<MonitorOptions> options, Metrics.MonitorMetrics metrics)
    : WatchHub<StoredAlert>(a => a.Sequence, a => AlertService.ToProto(a).CalculateSize(), options, metrics);
