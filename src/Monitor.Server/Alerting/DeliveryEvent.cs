namespace Monitor.Server.Alerting;

/// <summary>What the outbox carries to a sink: an alert change or a rollback signal, as committed.</summary>
internal sealed record DeliveryEvent(string Type, StoredAlert? Alert, StoredRollback? Rollback)
{
    public const string AlertType = "alert";
    public const string RollbackType = "rollback";

    /// <summary>The same key on every attempt, so a receiver can drop repeats.</summary>
    public string IdempotencyKey => Type == AlertType ? $"alert-{Alert!.Id}-{Alert.Sequence}" : $"rollback-{Rollback!.Sequence}";
}

/// <summary>Which sinks want an event: the incident store writes one outbox entry for each (implemented by the delivery sinks).</summary>
internal interface IDeliveryRouting
{
    IEnumerable<string> For(DeliveryEvent delivery);
}

/// <summary>Tells the dispatcher that new outbox entries were committed.</summary>
internal interface IDeliveryWakeup
{
    void Wake();
}
