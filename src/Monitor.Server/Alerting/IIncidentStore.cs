using Monitor.Core.Alerts;
using Monitor.Core.Detectors;

namespace Monitor.Server.Alerting;

/// <summary>An alert as stored: its id, and the sequence number of its latest change.</summary>
internal sealed record StoredAlert(long Id, long Sequence, Alert Alert);

/// <summary>A rollback signal as stored: issued by the policy or by hand (<paramref name="Actor"/>), with the alerts that led to it.</summary>
internal sealed record StoredRollback(long Sequence, string Model, string From, string? To, string Reason, DateTimeOffset At, string? AcknowledgedBy,
    string Actor = "policy", long[]? AlertIds = null)
{
    public long[] AlertIds { get; init; } = AlertIds ?? [];
}

/// <summary>A rollback the policy held for a human (or the per-model rate limit held), and what was decided.</summary>
internal sealed record StoredHeldRollback(long Id, string Model, string From, string? To, string Reason, DateTimeOffset At, long[] AlertIds,
    string HeldBecause, string? Decision, string? DecidedBy, long? ReleasedSequence);

/// <summary>A rollback the policy (or an admin) wants issued with the rest of an incident.</summary>
/// <param name="HeldBecause">Non-null: hold it for a human's decision instead of signalling.</param>
/// <param name="RateLimited">Whether it counts toward the per-model rate limit (automatic rollbacks on evidence from inputs do; an artifact swap or an admin's does not).</param>
internal sealed record PlannedRollback(string? To, string Reason, string Actor, string? HeldBecause, bool RateLimited = false);

/// <summary>Everything one incident changes, committed in one transaction before anyone is told.</summary>
internal sealed class IncidentCommit(string model, string version, DateTimeOffset at)
{
    public string Model { get; } = model;
    public string Version { get; } = version;
    public DateTimeOffset At { get; } = at;
    public List<Alert> Alerts { get; } = [];
    public (string State, string Actor, string Action, string Reason)? StateChange { get; set; }
    public PlannedRollback? Rollback { get; set; }

    public bool IsEmpty => Alerts.Count == 0 && StateChange is null && Rollback is null;
}

/// <summary>What a committed incident stored: its alerts as stored, the signal issued or the rollback held, and how many outbox entries.</summary>
internal sealed record IncidentResult(IReadOnlyList<StoredAlert> Alerts, StoredRollback? Rollback, StoredHeldRollback? Held, int OutboxEntries);

/// <summary>
/// Incidents: alerts with their change events, rollback signals, held rollbacks, and the outbox entries that carry
/// them to sinks. Everything one incident changes is committed together.
/// </summary>
internal interface IIncidentStore
{
    /// <summary>
    /// Commits an incident atomically: alert changes, a version state change with its audit entry, a rollback signal
    /// or held rollback, and an outbox entry for every sink <paramref name="sinks"/> names for each of them.
    /// </summary>
    IncidentResult Commit(IncidentCommit incident, Func<DeliveryEvent, IEnumerable<string>> sinks);

    /// <summary>
    /// Releases (issues the signal of) or dismisses a held rollback, audited, atomically. Null when there is no such held
    /// rollback; the decision already taken when it was decided before.
    /// </summary>
    (StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)? DecideHeldRollback(long id, bool release, string? to,
        string actor, string reason, DateTimeOffset at, Func<DeliveryEvent, IEnumerable<string>> sinks);

    /// <summary>Marks a rollback signal acknowledged and audits who and why; null when there is no such signal.</summary>
    StoredRollback? AcknowledgeRollback(long sequence, string actor, string reason, DateTimeOffset at);

    /// <summary>Held rollbacks of one model or (empty) of all, oldest first.</summary>
    List<StoredHeldRollback> LoadHeldRollbacks(string model, bool pendingOnly);

    /// <summary>Automatic rollback signals on evidence from inputs issued for a model since a time (for the per-model rate limit).</summary>
    int CountRateLimitedRollbacksSince(string model, DateTimeOffset since);

    /// <summary>Rollback signals after a sequence number, of one model or (empty) of all, in order.</summary>
    List<StoredRollback> LoadRollbackSignals(string model, long afterSequence, int limit = int.MaxValue);

    /// <summary>Alerts, newest change first, filtered by model, version, least severity and state (null = any).</summary>
    List<StoredAlert> LoadAlerts(string model, string version, Severity minSeverity, AlertState? state, int limit);

    StoredAlert? LoadAlert(long id);

    /// <summary>Alert changes after a sequence number, in order, each as the alert was at that change.</summary>
    List<StoredAlert> LoadAlertEvents(string model, Severity minSeverity, long afterSequence, int limit = int.MaxValue);

    /// <summary>The latest episode of every alert of a version (to restore its alert policy after a restart).</summary>
    List<Alert> LoadLatestAlerts(string model, string version);

    /// <summary>Firing alerts per model and severity.</summary>
    List<(string Model, Severity Severity, long Count)> CountFiringAlerts();
}
