using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;

namespace Monitor.Server.Alerting;

/// <summary>
/// Tells live watchers of each item as it is committed. Every watcher has a bounded queue: one that stops
/// reading is cut off (and told where to resume) rather than holding anything up.
/// </summary>
internal abstract class WatchHub<T>(Func<T, long> sequence)
{
    private const int WatcherCapacity = 256;
    private readonly ConcurrentDictionary<Subscription, byte> _subscriptions = new();

    public Subscription Subscribe(Func<T, bool> filter)
    {
        var subscription = new Subscription(this, filter);
        _subscriptions[subscription] = 0;
        return subscription;
    }

    /// <summary>Called after the item is committed to the store.</summary>
    public void Publish(T item)
    {
        foreach (Subscription subscription in _subscriptions.Keys)
        {
            if (subscription.Filter(item))
            {
                subscription.Offer(item);
            }
        }
    }

    /// <summary>
    /// Streams the stored items after <paramref name="after"/>, then live ones, in sequence order, until the
    /// call ends. Subscribes before reading the store so nothing committed in between is missed; repeats are
    /// skipped by sequence. A watcher that fell behind ends with RESOURCE_EXHAUSTED naming where to resume.
    /// </summary>
    public async Task StreamAsync<TMessage>(Func<T, bool> filter, long after, Func<long, IEnumerable<T>> stored, Func<T, TMessage> toProto,
        IServerStreamWriter<TMessage> responseStream, CancellationToken cancellationToken)
    {
        using Subscription subscription = Subscribe(filter);
        long last = after;
        foreach (T item in stored(after))
        {
            await responseStream.WriteAsync(toProto(item), cancellationToken);
            last = sequence(item);
        }

        try
        {
            await foreach (T live in subscription.Reader.ReadAllAsync(cancellationToken))
            {
                if (sequence(live) > last)
                {
                    await responseStream.WriteAsync(toProto(live), cancellationToken);
                    last = sequence(live);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        if (subscription.FellBehind)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"the watcher fell behind; watch again with after_sequence = {last}"));
        }
    }

    internal sealed class Subscription(WatchHub<T> hub, Func<T, bool> filter) : IDisposable
    {
        private readonly Channel<T> _queue = Channel.CreateBounded<T>(WatcherCapacity);

        public Func<T, bool> Filter { get; } = filter;
        public bool FellBehind { get; private set; }
        public ChannelReader<T> Reader => _queue.Reader;

        public void Offer(T item)
        {
            if (!_queue.Writer.TryWrite(item))
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

/// <summary>Live rollback signals.</summary>
internal sealed class RollbackSignalHub() : WatchHub<StoredRollback>(r => r.Sequence);

/// <summary>Live alert changes.</summary>
internal sealed class AlertHub() : WatchHub<StoredAlert>(a => a.Sequence);
