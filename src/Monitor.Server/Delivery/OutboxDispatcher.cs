using Microsoft.Extensions.Options;
using Monitor.Core.Alerts;
using Monitor.Server.Alerting;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;

namespace Monitor.Server.Delivery;

/// <summary>Wakes every sink's delivery loop when new outbox entries were committed.</summary>
internal sealed class DeliveryWakeup : IDeliveryWakeup
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Wake"/>. Taken before looking at the outbox, so no wake between the look and the wait is missed.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Wake() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public static async Task WaitAsync(Task woken, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(Task.Delay(timeout, time, timer.Token), woken.WaitAsync(timer.Token));
        await timer.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
    }
}

/// <summary>
/// Delivers the outbox: every committed alert change and rollback signal, to every sink that wants it, at
/// least once. Each sink has a loop of its own, so a slow or dead receiver delays only itself. Each sink gets
/// its entries in order; a failed attempt is retried after an exponential backoff with ±50% jitter, and later
/// entries of that sink wait behind it (entries of a sink no longer configured stay in the outbox, undelivered).
/// Attempts and delivery are persisted, so a restart carries on where the last process stopped. Firing alerts
/// are re-sent to Alertmanager periodically.
/// </summary>
internal sealed class OutboxDispatcher(IOutboxStore store, IIncidentStore incidents, DeliverySinks sinks, DeliveryWakeup wakeup, MonitorMetrics metrics,
    IOptions<MonitorOptions> options, TimeProvider time, StoreHealth health, ILogger<OutboxDispatcher> logger) : BackgroundService
{
    private const int BatchSize = 100;
    private readonly DeliveryOptions _options = options.Value.Delivery;
    private DateTimeOffset _nextResend = DateTimeOffset.MinValue;

    /// <summary>The latest a retry can be scheduled from now; a head due later was scheduled before the wall clock jumped back.</summary>
    private TimeSpan RetryHorizon => _options.MaxBackoff + _options.MaxBackoff;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (sinks.All.Count == 0)
        {
            return;
        }

        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        await Task.WhenAll(sinks.All.Select(sink => Task.Run(() => SinkLoopAsync(http, sink, stoppingToken), CancellationToken.None)));
    }

    /// <summary>Delivers one sink's backlog whenever its head is due or something new was committed, until the host stops.</summary>
    private async Task SinkLoopAsync(HttpClient http, IDeliverySink sink, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Task woken = wakeup.Next;
            try
            {
                await DeliverBacklogAsync(http, sink, stoppingToken);
                if (sink is AlertmanagerSink alertmanager)
                {
                    await ResendFiringAsync(http, alertmanager, stoppingToken);
                }

                metrics.OutboxPending.WithLabels(sink.Name).Set(store.CountPendingOutbox().GetValueOrDefault(sink.Name));
                metrics.OutboxDropped.WithLabels(sink.Name).Set(store.CountDroppedAlerts(sink.Name));
                await DeliveryWakeup.WaitAsync(woken, UntilNextWork(sink), time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The store may be briefly unavailable (busy, disk full): wait and go on; never stop the host.
                if (StoreHealth.IsStorageFault(ex))
                {
                    health.Failed("outbox", ex);
                }

                Log.DeliveryFailed(logger, "(outbox)", sink.Name, 0, _options.InitialBackoff, ex.Message);
                try
                {
                    await Task.Delay(_options.InitialBackoff, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Delivers the sink's backlog in order if its oldest undelivered entry is due; stops at the first failure, so
    /// nothing overtakes an entry waiting for its retry.
    /// </summary>
    private async Task DeliverBacklogAsync(HttpClient http, IDeliverySink sink, CancellationToken cancellationToken)
    {
        foreach (OutboxItem item in store.LoadSinkBacklog(sink.Name, time.GetUtcNow(), BatchSize, RetryHorizon))
        {
            if (!await TryDeliverAsync(http, sink, item, cancellationToken))
            {
                return;
            }
        }
    }

    private async Task<bool> TryDeliverAsync(HttpClient http, IDeliverySink sink, OutboxItem item, CancellationToken cancellationToken)
    {
        int attempt = item.Attempts + 1;
        string error;
        if (item.Event is not { } delivery)
        {
            error = "the stored payload could not be read";
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.Timeout);
            try
            {
                await sink.DeliverAsync(http, item, delivery, time.GetUtcNow(), store.CountDroppedAlerts(sink.Name), timeout.Token);
                store.MarkDelivered(item.Id, attempt, time.GetUtcNow());
                metrics.Deliveries.WithLabels(item.Sink, "delivered").Inc();
                Log.Delivered(logger, item.IdempotencyKey, item.Sink, attempt);
                return true;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error = $"no answer within {_options.Timeout}";
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                error = ex.Message;
            }
        }

        TimeSpan delay = Backoff(attempt);
        store.MarkAttemptFailed(item.Id, attempt, time.GetUtcNow() + delay, error);
        metrics.Deliveries.WithLabels(item.Sink, "failed").Inc();
        Log.DeliveryFailed(logger, item.IdempotencyKey, item.Sink, attempt, delay, error);
        return false;
    }

    /// <summary>InitialBackoff × 2^(attempt−1), at most MaxBackoff, times a jitter factor in [0.5, 1.5).</summary>
    internal TimeSpan Backoff(int attempt)
    {
        double exponential = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        double capped = Math.Min(exponential, _options.MaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + Random.Shared.NextDouble()));
    }

    private async Task ResendFiringAsync(HttpClient http, AlertmanagerSink alertmanager, CancellationToken cancellationToken)
    {
        if (time.GetUtcNow() < _nextResend)
        {
            return;
        }

        DateTimeOffset now = time.GetUtcNow();
        _nextResend = now + alertmanager.ResendInterval;
        List<StoredAlert> firing = incidents.LoadAlerts("", "", options.Value.Delivery.Alertmanager.MinSeverity, AlertState.Firing, 10_000);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            await alertmanager.ResendAsync(http, firing, now, timeout.Token);
            if (firing.Count > 0)
            {
                metrics.Deliveries.WithLabels(alertmanager.Name, "resent").Inc();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            metrics.Deliveries.WithLabels(alertmanager.Name, "failed").Inc();
            Log.DeliveryFailed(logger, "(re-send of firing alerts)", alertmanager.Name, 1, alertmanager.ResendInterval, ex.Message);
        }
    }

    private TimeSpan UntilNextWork(IDeliverySink sink)
    {
        DateTimeOffset now = time.GetUtcNow();
        DateTimeOffset next = store.NextOutboxAttempt([sink.Name]) ?? DateTimeOffset.MaxValue;
        if (next != DateTimeOffset.MaxValue && next > now + RetryHorizon)
        {
            next = now; // scheduled before the wall clock jumped back: due now (LoadSinkBacklog agrees)
        }

        if (sink is AlertmanagerSink alertmanager)
        {
            if (_nextResend > now + alertmanager.ResendInterval)
            {
                _nextResend = now; // likewise
            }

            if (_nextResend < next)
            {
                next = _nextResend;
            }
        }

        TimeSpan wait = next == DateTimeOffset.MaxValue ? TimeSpan.FromMinutes(1) : next - now;
        return wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : wait > TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : wait;
    }
}
