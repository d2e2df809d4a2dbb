using Monitor.Server.Alerting;

namespace Monitor.Server.Delivery;

/// <summary>One pending or delivered outbox entry.</summary>
/// <param name="Event">Null when the stored payload could not be read (the entry is then recorded as failing, never dropped silently).</param>
internal sealed record OutboxItem(long Id, string Sink, string IdempotencyKey, DeliveryEvent? Event, int Attempts, DateTimeOffset CreatedAt,
    DateTimeOffset NextAttemptAt, DateTimeOffset? DeliveredAt, string? LastError);

/// <summary>
/// The dispatcher's side of the outbox: each sink's undelivered entries in order, and what became of each attempt.
/// Entries are written with the incidents that cause them (<see cref="IIncidentStore"/>).
/// </summary>
internal interface IOutboxStore
{
    /// <summary>A sink's undelivered entries, oldest first, when its oldest one is due (or was scheduled beyond <paramref name="latest"/>); empty otherwise.</summary>
    List<OutboxItem> LoadSinkBacklog(string sink, DateTimeOffset now, int limit, TimeSpan latest);

    /// <summary>Every outbox entry of a sink (for inspection and tests), in order.</summary>
    List<OutboxItem> LoadOutbox(string sink);

    /// <summary>When the head (oldest undelivered entry) of one of the given sinks is next due; null when none has a backlog.</summary>
    DateTimeOffset? NextOutboxAttempt(IEnumerable<string> sinks);

    /// <summary>Alert deliveries dropped for a sink whose backlog was full, in total.</summary>
    long CountDroppedAlerts(string sink);

    /// <summary>Pending entries per sink (for the backlog gauge).</summary>
    Dictionary<string, long> CountPendingOutbox();

    void MarkDelivered(long id, int attempts, DateTimeOffset at);

    void MarkAttemptFailed(long id, int attempts, DateTimeOffset nextAttempt, string error);
}
