using Monitor.Core;

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

    /// <summary>What is wrong, naming the keys under <paramref name="section"/> (e.g. "Monitor:Delivery").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        var errors = new List<string?>
        {
            SettingChecks.Positive($"{section}:InitialBackoff", InitialBackoff),
            SettingChecks.Positive($"{section}:Timeout", Timeout),
            SettingChecks.Range($"{section}:MaxPendingAlertsPerSink", MaxPendingAlertsPerSink, 1, 10_000_000),
            MaxBackoff < InitialBackoff ? $"{section}:MaxBackoff ({MaxBackoff}) is shorter than {section}:InitialBackoff ({InitialBackoff})" : null,
        };
        if (Alertmanager.Url.Length > 0)
        {
            errors.Add(HttpUrlProblem($"{section}:Alertmanager:Url", Alertmanager.Url));
            errors.Add(SettingChecks.Positive($"{section}:Alertmanager:ResendInterval", Alertmanager.ResendInterval));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Webhooks.Count; i++)
        {
            WebhookOptions hook = Webhooks[i];
            string key = $"{section}:Webhooks:{i}";
            if (string.IsNullOrWhiteSpace(hook.Name) || !hook.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                errors.Add($"{key}:Name must be letters, digits, '-' or '_', got '{hook.Name}'");
            }
            else if (!names.Add(hook.Name))
            {
                errors.Add($"{key}:Name '{hook.Name}' is used by another webhook");
            }

            errors.Add(HttpUrlProblem($"{key}:Url", hook.Url));
            if (hook.Secret.Length < 16)
            {
                errors.Add($"{key}:Secret must be at least 16 characters (it keys the HMAC-SHA256 signature)");
            }

            if (!hook.Alerts && !hook.Rollbacks)
            {
                errors.Add($"{key}: neither Alerts nor Rollbacks is on; remove the webhook or turn one on");
            }
        }

        return errors.OfType<string>();
    }

    private static string? HttpUrlProblem(string key, string url) =>
        !Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            ? $"{key} must be an absolute http:// or https:// URL, got '{url}'"
            : null;
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
