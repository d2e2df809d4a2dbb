using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;

namespace Monitor.Server.Alerting;

/// <summary>
/// Commits alert changes, version state changes and rollback signals (with their outbox entries) in one
/// transaction, then tells live watchers, metrics and the dispatcher: nobody hears of anything that is not
/// yet durable.
/// </summary>
internal sealed class Incidents(IIncidentStore store, AlertHub alerts, RollbackSignalHub rollbacks, IDeliveryRouting sinks, IDeliveryWakeup wakeup,
    MonitorMetrics metrics, StoreHealth health, ILogger<Incidents> logger) : IDeferredWrites
{
    // Sequence numbers are global, and every model's pipeline commits on its own thread: committing and
    // publishing under one lock keeps live watchers seeing sequences in order, so none is skipped.
    private readonly Lock _order = new();

    /// <summary>Policy incidents the store refused, oldest first, committed (and only then published) once it accepts writes.</summary>
    private readonly Queue<IncidentCommit> _deferred = new();

    /// <summary>The state and severity last logged of each firing alert (under the lock): only a change is a warning.</summary>
    private readonly Dictionary<long, (AlertState State, Severity Severity)> _logged = [];

    public bool HasDeferred
    {
        get
        {
            lock (_order)
            {
                return _deferred.Count > 0;
            }
        }
    }

    /// <summary>Deferred rollbacks of a model that count against its rollback rate limit (not yet in the store's count).</summary>
    public int DeferredRateLimitedRollbacks(string model)
    {
        lock (_order)
        {
            return _deferred.Count(i => i.Model == model && i.Rollback is { RateLimited: true, HeldBecause: null });
        }
    }

    /// <summary>
    /// Commits an incident a person asked for; throws when the store refuses it (the caller is told), after the
    /// deferred incidents, which go first.
    /// </summary>
    public IncidentResult Commit(IncidentCommit incident)
    {
        lock (_order)
        {
            CommitDeferredInOrder();
            return Publish(Store(incident));
        }
    }

    /// <summary>
    /// Commits an incident the policy raised. If the store refuses it, the incident waits, in order, and is committed
    /// and published when the store recovers: nobody hears of it before it is durable, and it is not lost while the process lives.
    /// </summary>
    public void CommitOrDefer(IncidentCommit incident)
    {
        lock (_order)
        {
            if (_deferred.Count > 0)
            {
                _deferred.Enqueue(incident);
                Log.IncidentDeferred(logger, incident.Model, incident.Version, _deferred.Count, "older incidents are still waiting");
                TryCommitDeferred();
                return;
            }

            IncidentResult result;
            try
            {
                result = Store(incident);
            }
            catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
            {
                _deferred.Enqueue(incident);
                Log.IncidentDeferred(logger, incident.Model, incident.Version, _deferred.Count, StoreHealth.Describe(ex));
                return;
            }

            Publish(result);
        }
    }

    /// <summary>Commits the deferred incidents in order; throws a storage fault at the first the store still refuses.</summary>
    public void CommitDeferred()
    {
        lock (_order)
        {
            CommitDeferredInOrder();
        }
    }

    private void TryCommitDeferred()
    {
        try
        {
            CommitDeferredInOrder();
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            // Still refused: the recovery probe retries.
        }
    }

    /// <summary>
    /// Each deferred incident is committed, taken off the queue, then published: a failure after its commit cannot
    /// commit it twice. One that fails for a reason other than storage is dropped (logged), so it cannot block the rest.
    /// </summary>
    private void CommitDeferredInOrder()
    {
        while (_deferred.TryPeek(out IncidentCommit? next))
        {
            IncidentResult result;
            try
            {
                result = Store(next);
            }
            catch (Exception ex) when (!StoreHealth.IsStorageFault(ex))
            {
                _deferred.Dequeue();
                Log.IncidentDropped(logger, ex, next.Model, next.Version);
                continue;
            }

            _deferred.Dequeue();
            Publish(result);
        }
    }

    /// <summary>The transaction alone; a storage fault marks the store faulted and is thrown.</summary>
    private IncidentResult Store(IncidentCommit incident)
    {
        try
        {
            return store.Commit(incident, sinks.For);
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            health.Failed("incidents", ex);
            throw;
        }
    }

    /// <summary>Tells watchers, metrics, the log and the dispatcher of a committed incident; never fails for the store.</summary>
    private IncidentResult Publish(IncidentResult result)
    {
        foreach (StoredAlert stored in result.Alerts)
        {
            Alert alert = stored.Alert;
            alerts.Publish(stored);
            metrics.AlertChanges.WithLabels(alert.Model, Label(alert.Severity), alert.State.ToString().ToLowerInvariant()).Inc();
            // An alert that fires, resolves or changes severity is a warning in the log; its growing evidence is debug.
            bool news = !_logged.TryGetValue(stored.Id, out var last) || last.State != alert.State || last.Severity != alert.Severity;
            if (alert.State == AlertState.Firing)
            {
                _logged[stored.Id] = (alert.State, alert.Severity);
            }
            else
            {
                _logged.Remove(stored.Id);
            }

            string state = alert.State == AlertState.Firing ? "firing" : "resolved", severity = Label(alert.Severity);
            if (news)
            {
                Log.AlertChanged(logger, stored.Id, alert.Model, alert.Version, state, severity, alert.Kind, alert.Evidence[^1]);
            }
            else
            {
                Log.AlertGrew(logger, stored.Id, alert.Model, alert.Version, state, severity, alert.Kind, alert.Evidence[^1]);
            }
        }

        if (result.Rollback is { } rollback)
        {
            Published(rollback);
        }

        if (result.Held is { } held)
        {
            metrics.RollbacksHeld.WithLabels(held.Model).Inc();
            Log.RollbackHeld(logger, held.Id, held.Model, held.From, held.To ?? "(no known-good version)", held.HeldBecause, held.Reason);
        }

        if (result.OutboxEntries > 0)
        {
            wakeup.Wake();
        }

        if (result.Alerts.Count > 0)
        {
            try
            {
                RefreshFiringGauges();
            }
            catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
            {
                // The gauges catch up at the next alert change; the incident itself is committed.
                health.Failed("gauges", ex);
            }
        }

        return result;
    }

    /// <summary>Releases or dismisses a held rollback; see <see cref="IIncidentStore.DecideHeldRollback"/>.</summary>
    /// <param name="to">The rollback target now (the one chosen when it was held may have been quarantined since).</param>
    public (StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)? Decide(long id, bool release, string? to, string actor,
        string reason, DateTimeOffset at)
    {
        lock (_order)
        {
            CommitDeferredInOrder(); // older deferred incidents keep their place in the sequence
            var decided = store.DecideHeldRollback(id, release, to, actor, reason, at, sinks.For);
            if (decided is { Issued: { } issued })
            {
                Published(issued);
                wakeup.Wake();
            }

            return decided;
        }
    }

    /// <summary>Sets drift_monitor_alerts_firing for every model and severity from the store.</summary>
    public void RefreshFiringGauges()
    {
        var counts = store.CountFiringAlerts();
        foreach (string model in counts.Select(c => c.Model).Concat(metrics.AlertsFiring.GetAllLabelValues().Select(l => l[0])).Distinct())
        {
            foreach (Severity severity in Enum.GetValues<Severity>())
            {
                long count = counts.Where(c => c.Model == model && c.Severity == severity).Sum(c => c.Count);
                metrics.AlertsFiring.WithLabels(model, Label(severity)).Set(count);
            }
        }
    }

    private void Published(StoredRollback rollback)
    {
        rollbacks.Publish(rollback);
        metrics.RollbackSignals.WithLabels(rollback.Model).Inc();
        metrics.RollbackRecommended.WithLabels(rollback.Model, rollback.From).Set(1);
        Log.RollbackSignal(logger, rollback.Sequence, rollback.Model, rollback.From, rollback.To ?? "(no known-good version)", rollback.Reason);
    }

    public static string Label(Severity severity) => severity.ToString().ToLowerInvariant();
}
