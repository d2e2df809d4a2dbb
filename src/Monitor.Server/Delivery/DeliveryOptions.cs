namespace Monitor.Server.Delivery;

/// <summary>Where alerts and rollback signals are pushed, and how hard delivery tries.</summary>
public sealed class DeliveryOptions
{
    public AlertmanagerOptions Alertmanager { get; set; } = new();

    /// <summary>Generic webhooks, each signed with HMAC-SHA256 of its own secret.</summary>
    public List<WebhookOptions> Webhooks { get; set; } = [];

    /// <summary>Delay before the second attempt; doubles each attempt (with ±50% jitter) up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time allowed for one delivery request.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Undelivered alert changes kept per sink; beyond this a slow or dead receiver's new alert deliveries are dropped and
    /// counted (it is told the count), so its backlog stays bounded. Rollback signals are never dropped.
    /// </summary>
    public int MaxPendingAlertsPerSink { get; set; } = 10_000;
}

public sealed class AlertmanagerOptions
{
    /// <summary>Base URL of an Alertmanager (http://alertmanager:9093); empty = off.</summary>
    public string Url { get; set; } = "";

    /// <summary>Firing alerts are re-sent this often, so Alertmanager keeps them active.</summary>
    public TimeSpan ResendInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Least severity pushed: Info, Warning or Critical.</summary>
    public Core.Detectors.Severity MinSeverity { get; set; } = Core.Detectors.Severity.Warning;
}

public sealed class WebhookOptions
{
    /// <summary>Names the sink in metrics and the outbox.</summary>
    public string Name { get; set; } = "";

    public string Url { get; set; } = "";

    /// <summary>HMAC-SHA256 key; every request carries X-Monitor-Signature: sha256=hex(HMAC(secret, timestamp + "." + body)).</summary>
    public string Secret { get; set; } = "";

    public bool Alerts { get; set; } = true;
    public bool Rollbacks { get; set; } = true;
    public Core.Detectors.Severity MinSeverity { get; set; } = Core.Detectors.Severity.Warning;
}
