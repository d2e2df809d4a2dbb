using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Server.Alerting;

namespace Monitor.Server.Delivery;

/// <summary>A place alerts or rollback signals are pushed to; delivery throws on anything but success.</summary>
internal interface IDeliverySink
{
    /// <summary>Names the sink in the outbox and in metrics: alertmanager, webhook:&lt;name&gt;.</summary>
    string Name { get; }

    bool Wants(DeliveryEvent delivery);

    /// <param name="alertsDropped">Alert deliveries to this sink dropped so far because its backlog was full (told to webhooks).</param>
    Task DeliverAsync(HttpClient http, OutboxItem item, DeliveryEvent delivery, DateTimeOffset now, long alertsDropped,
        CancellationToken cancellationToken);
}

/// <summary>A delivery the receiver refused or could not take; the dispatcher retries it.</summary>
internal sealed class DeliveryException(string message) : Exception(message);

/// <summary>The sinks configured under Monitor:Delivery.</summary>
internal sealed class DeliverySinks : IDeliveryRouting
{
    public DeliverySinks(Microsoft.Extensions.Options.IOptions<MonitorOptions> options)
    {
        DeliveryOptions delivery = options.Value.Delivery;
        var sinks = new List<IDeliverySink>();
        if (delivery.Alertmanager.Url.Length > 0)
        {
            Alertmanager = new AlertmanagerSink(delivery.Alertmanager);
            sinks.Add(Alertmanager);
        }

        sinks.AddRange(delivery.Webhooks.Select(hook => new WebhookSink(hook)));
        All = sinks;
    }

    public IReadOnlyList<IDeliverySink> All { get; }

    public AlertmanagerSink? Alertmanager { get; }

    /// <summary>The names of the sinks that want an event (the outbox gets one entry for each).</summary>
    public IEnumerable<string> For(DeliveryEvent delivery) => All.Where(s => s.Wants(delivery)).Select(s => s.Name);

    public IDeliverySink? Get(string name) => All.FirstOrDefault(s => s.Name == name);
}

/// <summary>Pushes alerts to Prometheus Alertmanager's API v2; firing alerts are re-sent so they stay active, resolved ones carry endsAt.</summary>
internal sealed class AlertmanagerSink(AlertmanagerOptions options) : IDeliverySink
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly Uri _endpoint = new(options.Url.TrimEnd('/') + "/api/v2/alerts");

    public string Name => "alertmanager";

    public TimeSpan ResendInterval => options.ResendInterval;

    public bool Wants(DeliveryEvent delivery) => delivery.Alert is { } alert && alert.Alert.Severity >= options.MinSeverity;

    public Task DeliverAsync(HttpClient http, OutboxItem item, DeliveryEvent delivery, DateTimeOffset now, long alertsDropped,
        CancellationToken cancellationToken) =>
        PostAsync(http, [delivery.Alert!], now, cancellationToken);

    /// <summary>Re-sends the firing alerts with a fresh endsAt, as Prometheus does, so Alertmanager keeps them active.</summary>
    public Task ResendAsync(HttpClient http, IReadOnlyList<StoredAlert> firing, DateTimeOffset now, CancellationToken cancellationToken) =>
        firing.Count == 0 ? Task.CompletedTask : PostAsync(http, firing, now, cancellationToken);

    private async Task PostAsync(HttpClient http, IReadOnlyList<StoredAlert> alerts, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var body = alerts.Select(a => ToPostable(a, now)).ToArray();
        using HttpResponseMessage response = await http.PostAsync(_endpoint,
            new StringContent(JsonSerializer.Serialize(body, Json), Encoding.UTF8, "application/json"), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            string text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new DeliveryException($"Alertmanager answered {(int)response.StatusCode} {response.ReasonPhrase}: {Clip(text)}");
        }
    }

    /// <summary>An alert as Alertmanager's postableAlert: labels identify it, annotations describe it.</summary>
    public PostableAlert ToPostable(StoredAlert stored, DateTimeOffset now)
    {
        Alert alert = stored.Alert;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["alertname"] = AlertName(alert.Kind),
            ["model"] = alert.Model,
            ["version"] = alert.Version,
            ["severity"] = alert.Severity.ToString().ToLowerInvariant(),
            ["kind"] = alert.Kind,
            ["dedupe_key"] = alert.DedupeKey,
            ["alert_id"] = stored.Id.ToString(CultureInfo.InvariantCulture),
        };
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["summary"] = $"{alert.Kind} on {alert.Model} version {alert.Version}: {alert.Evidence[^1]}",
            ["description"] = string.Join("\n", alert.Evidence),
            ["windows"] = alert.Windows.ToString(CultureInfo.InvariantCulture),
        };
        // Alertmanager refuses an endsAt that is not after startsAt (both at whole seconds on its side).
        DateTimeOffset endsAt = alert.State == AlertState.Resolved
            ? Max(alert.ResolvedAt ?? now, alert.FirstSeen + TimeSpan.FromSeconds(1))
            : Max(now, alert.FirstSeen) + (4 * options.ResendInterval);
        return new PostableAlert(labels, annotations, alert.FirstSeen, endsAt);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static string AlertName(string kind) => kind switch
    {
        AlertKinds.Drift => "ModelDrift",
        AlertKinds.ArtifactDigest => "ModelArtifactSwapped",
        AlertKinds.ArtifactUnreadable => "ModelArtifactUnreadable",
        AlertKinds.Verdict => "ModelVersionFailed",
        AlertKinds.RollbackHeld => "ModelRollbackHeld",
        _ when AlertKinds.IsTrigger(kind) => "ModelTriggerPattern",
        _ => "ModelAlert",
    };

    internal static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "…";

    internal sealed record PostableAlert(Dictionary<string, string> Labels, Dictionary<string, string> Annotations, DateTimeOffset StartsAt,
        DateTimeOffset EndsAt);
}

/// <summary>
/// POSTs each alert change or rollback signal as JSON to a URL, signed: X-Monitor-Timestamp is the Unix time
/// in seconds and X-Monitor-Signature is "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body).
/// Idempotency-Key is the same on every attempt of one event.
/// </summary>
internal sealed class WebhookSink(WebhookOptions options) : IDeliverySink
{
    public const string SignatureHeader = "X-Monitor-Signature";
    public const string TimestampHeader = "X-Monitor-Timestamp";
    public const string EventHeader = "X-Monitor-Event";

    /// <summary>Alert deliveries to this webhook dropped so far because its backlog was full: a rise tells the receiver it fell behind.</summary>
    public const string DroppedHeader = "X-Monitor-Alerts-Dropped";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Secret);

    public string Name => "webhook:" + options.Name;

    public bool Wants(DeliveryEvent delivery) => delivery.Type == DeliveryEvent.AlertType
        ? options.Alerts && delivery.Alert!.Alert.Severity >= options.MinSeverity
        : options.Rollbacks;

    public async Task DeliverAsync(HttpClient http, OutboxItem item, DeliveryEvent delivery, DateTimeOffset now, long alertsDropped,
        CancellationToken cancellationToken)
    {
        string body = Body(delivery);
        string timestamp = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, options.Url)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", item.IdempotencyKey);
        request.Headers.Add(EventHeader, delivery.Type);
        request.Headers.Add(TimestampHeader, timestamp);
        request.Headers.Add(SignatureHeader, Sign(_key, timestamp, body));
        request.Headers.Add(DroppedHeader, alertsDropped.ToString(CultureInfo.InvariantCulture));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("drift-monitor", "1"));
        using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            string text = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new DeliveryException($"webhook {options.Name} answered {(int)response.StatusCode} {response.ReasonPhrase}: {AlertmanagerSink.Clip(text)}");
        }
    }

    /// <summary>"sha256=" + lower-case hex HMAC-SHA256(key, timestamp + "." + body): what a receiver recomputes to verify.</summary>
    public static string Sign(byte[] key, string timestamp, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(timestamp + "." + body)));

    public static string Body(DeliveryEvent delivery) => delivery.Type == DeliveryEvent.AlertType
        ? JsonSerializer.Serialize(new { type = delivery.Type, idempotencyKey = delivery.IdempotencyKey, alert = AlertDocument.From(delivery.Alert!) }, Json)
        : JsonSerializer.Serialize(new { type = delivery.Type, idempotencyKey = delivery.IdempotencyKey, rollback = RollbackDocument.From(delivery.Rollback!) }, Json);

    internal sealed record AlertDocument(long Id, long Sequence, string Model, string Version, string Kind, Severity Severity, AlertState State,
        string DedupeKey, int Episode, DateTimeOffset FirstSeen, DateTimeOffset LastSeen, DateTimeOffset? ResolvedAt, int Windows,
        IReadOnlyList<string> Evidence)
    {
        public static AlertDocument From(StoredAlert stored)
        {
            Alert a = stored.Alert;
            return new AlertDocument(stored.Id, stored.Sequence, a.Model, a.Version, a.Kind, a.Severity, a.State, a.DedupeKey, a.Episode,
                a.FirstSeen, a.LastSeen, a.ResolvedAt, a.Windows, a.Evidence);
        }
    }

    internal sealed record RollbackDocument(long Sequence, string Model, string FromVersion, string? ToVersion, string Reason, DateTimeOffset IssuedAt,
        string Actor, long[] AlertIds)
    {
        public static RollbackDocument From(StoredRollback r) => new(r.Sequence, r.Model, r.From, r.To, r.Reason, r.At, r.Actor, r.AlertIds);
    }
}
