using System.Net;
using Microsoft.Extensions.Options;
using Monitor.Server.Baselines;
using Monitor.Server.Delivery;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Server.Security;
using Monitor.Server.Windows;
using Monitor.Core.Baselines;

namespace Monitor.Server;

/// <summary>Everything configurable, bound from the "Monitor" section (appsettings.json, MONITOR__… environment variables, command line).</summary>
public sealed class MonitorOptions
{
    public const string Section = "Monitor";

    public ListenerOptions Grpc { get; set; } = new() { Port = 50051 };
    public ListenerOptions Http { get; set; } = new() { Port = 9464 };
    public DatabaseOptions Database { get; set; } = new();
    public IngestOptions Ingest { get; set; } = new();
    public WindowOptions Windows { get; set; } = new();
    public BaselineOptions Baselines { get; set; } = new();
    public LimitOptions Limits { get; set; } = new();
    public DetectorOptions Detectors { get; set; } = new();
    /// <summary>When versions become known-good, fail and are rolled back (bound straight onto the Core policy's settings).</summary>
    public Core.Versions.VersionPolicySettings Versions { get; set; } = new();
    /// <summary>How problems become alerts: hysteresis and cooldown (bound straight onto the Core policy's settings).</summary>
    public Core.Alerts.AlertPolicySettings Alerts { get; set; } = new();
    public DeliveryOptions Delivery { get; set; } = new();
    public SecurityOptions Security { get; set; } = new();
    public PrivacyOptions Privacy { get; set; } = new();
    public RetentionOptions Retention { get; set; } = new();
    public Registry.ProvenanceOptions Provenance { get; set; } = new();
    public Alerting.WatchOptions Watch { get; set; } = new();
}

/// <summary>Checks the options at start-up and names every bad setting by its configuration key.</summary>
internal sealed class MonitorOptionsValidator : IValidateOptions<MonitorOptions>
{
    public ValidateOptionsResult Validate(string? name, MonitorOptions o)
    {
        var errors = new List<string>();
        Listener("Monitor:Grpc", o.Grpc, errors);
        Listener("Monitor:Http", o.Http, errors);
        if (o.Grpc.Port != 0 && o.Grpc.Port == o.Http.Port)
        {
            errors.Add($"Monitor:Grpc:Port and Monitor:Http:Port are both {o.Grpc.Port}; gRPC and HTTP need their own ports");
        }

        if (string.IsNullOrWhiteSpace(o.Database.Path))
        {
            errors.Add("Monitor:Database:Path is empty");
        }

        Positive("Monitor:Database:ProbeInterval", o.Database.ProbeInterval, errors);
        Range("Monitor:Ingest:QueueCapacity", o.Ingest.QueueCapacity, 1, 1_000_000, errors);
        Range("Monitor:Ingest:MaxRecordsPerBatch", o.Ingest.MaxRecordsPerBatch, 1, 10_000_000, errors);
        Range("Monitor:Ingest:MaxMessageBytes", o.Ingest.MaxMessageBytes, 1024, int.MaxValue, errors);
        Range("Monitor:Ingest:QueueBytesPerModel", o.Ingest.QueueBytesPerModel, 1024, long.MaxValue, errors);
        Range("Monitor:Ingest:QueueBytesTotal", o.Ingest.QueueBytesTotal, 1024, long.MaxValue, errors);
        Range("Monitor:Watch:MaxBehindChanges", o.Watch.MaxBehindChanges, 1, 1_000_000, errors);
        Range("Monitor:Watch:MaxBehindBytes", o.Watch.MaxBehindBytes, 1024, long.MaxValue, errors);
        Range("Monitor:Watch:MaxWatchers", o.Watch.MaxWatchers, 1, 1_000_000, errors);
        Range("Monitor:Windows:Records", o.Windows.Records, 10, 100_000_000, errors);
        Range("Monitor:Windows:HistoryInMemory", o.Windows.HistoryInMemory, 1, 100_000, errors);
        Range("Monitor:Windows:HistoryRetained", o.Windows.HistoryRetained, 1, 100_000_000, errors);
        Range("Monitor:Baselines:ReservoirRecords", o.Baselines.ReservoirRecords, 100, 10_000_000, errors);
        Range("Monitor:Baselines:Bins", o.Baselines.Bins, 2, 1000, errors);
        Range("Monitor:Baselines:MaxCategories", o.Baselines.MaxCategories, 1, 1_000_000, errors);
        Range("Monitor:Baselines:BootstrapWindows", o.Baselines.BootstrapWindows, 1000, 1_000_000, errors);
        Range("Monitor:Baselines:MinProfileRecords", o.Baselines.MinProfileRecords, 10, 10_000_000, errors);
        Range("Monitor:Baselines:MaxOpenUploads", o.Baselines.MaxOpenUploads, 1, 10_000, errors);
        if (!double.IsFinite(o.Baselines.CaptureCheckZ) || o.Baselines.CaptureCheckZ <= 0)
        {
            errors.Add($"Monitor:Baselines:CaptureCheckZ must be a positive number, got {o.Baselines.CaptureCheckZ}");
        }

        if (o.Baselines.UploadIdleTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Monitor:Baselines:UploadIdleTimeout: {o.Baselines.UploadIdleTimeout} must be at least 00:00:01");
        }
        if (o.Baselines.ProfileFraction is <= 0 or >= 1)
        {
            errors.Add($"Monitor:Baselines:ProfileFraction must lie strictly between 0 and 1, got {o.Baselines.ProfileFraction}");
        }

        if (BaselineSettings.FalseAlarmRateProblem("Monitor:Baselines:FalseAlarmRate", o.Baselines.FalseAlarmRate, o.Baselines.BootstrapWindows)
            is { } falseAlarmProblem)
        {
            errors.Add(falseAlarmProblem);
        }

        if (o.Baselines.ReservoirRecords < BaselineBuilder.RequiredRecords(o.Windows.Records, o.Baselines.ToSettings()) &&
            o.Baselines.ProfileFraction is > 0 and < 1)
        {
            errors.Add($"Monitor:Baselines:ReservoirRecords ({o.Baselines.ReservoirRecords}) is too small to build a baseline for windows of " +
                $"{o.Windows.Records} records: need at least {BaselineBuilder.RequiredRecords(o.Windows.Records, o.Baselines.ToSettings())}");
        }

        Range("Monitor:Detectors:MinSupport", o.Detectors.MinSupport, 1, 1_000_000, errors);
        if (o.Detectors.CheckpointInterval < TimeSpan.Zero)
        {
            errors.Add($"Monitor:Detectors:CheckpointInterval must be 0 (every window) or positive, got {o.Detectors.CheckpointInterval}");
        }

        Range("Monitor:Detectors:PromoteSupport", o.Detectors.PromoteSupport, 1, 1_000_000, errors);
        Range("Monitor:Detectors:HeavyHitters", o.Detectors.HeavyHitters, 16, 10_000_000, errors);
        Range("Monitor:Detectors:Candidates", o.Detectors.Candidates, 16, 1_000_000, errors);
        Range("Monitor:Detectors:HorizonRecords", o.Detectors.HorizonRecords, 1000, long.MaxValue, errors);
        Range("Monitor:Detectors:MaxKeysPerRecord", o.Detectors.MaxKeysPerRecord, 1, 100_000, errors);
        if (o.Detectors.SketchWidth < 16 || (o.Detectors.SketchWidth & (o.Detectors.SketchWidth - 1)) != 0)
        {
            errors.Add($"Monitor:Detectors:SketchWidth must be a power of two of at least 16, got {o.Detectors.SketchWidth}");
        }

        if (o.Detectors.MinRate is < 0 or > 1)
        {
            errors.Add($"Monitor:Detectors:MinRate must lie in [0, 1], got {o.Detectors.MinRate}");
        }

        Range("Monitor:Versions:PromoteAfterCleanWindows", o.Versions.PromoteAfterCleanWindows, 1, 1_000_000, errors);
        // One window never fails a version: the least evidence is two consecutive failing windows.
        Range("Monitor:Versions:FailureLimit", o.Versions.FailureLimit, 2, 1_000_000, errors);
        Range("Monitor:Versions:MinWindowsForVerdict", o.Versions.MinWindowsForVerdict, 1, 1_000_000, errors);
        Range("Monitor:Versions:MinFailingRecords", o.Versions.MinFailingRecords, 0, long.MaxValue, errors);
        Range("Monitor:Versions:MaxRollbacksPerPeriod", o.Versions.MaxRollbacksPerPeriod, 1, 1_000_000, errors);
        Positive("Monitor:Versions:RollbackRatePeriod", o.Versions.RollbackRatePeriod, errors);
        Positive("Monitor:Versions:LiveFor", o.Versions.LiveFor, errors);
        Positive("Monitor:Provenance:ArtifactCheckInterval", o.Provenance.ArtifactCheckInterval, errors);
        if (o.Windows.MaxAge < TimeSpan.Zero)
        {
            errors.Add($"Monitor:Windows:MaxAge must not be negative, got {o.Windows.MaxAge}");
        }
        else if (o.Windows.MaxAge > TimeSpan.Zero && o.Windows.MaxAge < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Monitor:Windows:MaxAge must be zero (off) or at least 00:00:01, got {o.Windows.MaxAge}");
        }

        Range("Monitor:Alerts:FireAfterWindows", o.Alerts.FireAfterWindows, 1, 1_000_000, errors);
        Range("Monitor:Alerts:ResolveAfterWindows", o.Alerts.ResolveAfterWindows, 1, 1_000_000, errors);
        Range("Monitor:Alerts:EvidenceKept", o.Alerts.EvidenceKept, 1, 10_000, errors);
        if (o.Alerts.Cooldown < TimeSpan.Zero)
        {
            errors.Add($"Monitor:Alerts:Cooldown must not be negative, got {o.Alerts.Cooldown}");
        }

        Positive("Monitor:Delivery:InitialBackoff", o.Delivery.InitialBackoff, errors);
        Positive("Monitor:Delivery:Timeout", o.Delivery.Timeout, errors);
        Range("Monitor:Delivery:MaxPendingAlertsPerSink", o.Delivery.MaxPendingAlertsPerSink, 1, 10_000_000, errors);
        if (o.Delivery.MaxBackoff < o.Delivery.InitialBackoff)
        {
            errors.Add($"Monitor:Delivery:MaxBackoff ({o.Delivery.MaxBackoff}) is shorter than Monitor:Delivery:InitialBackoff ({o.Delivery.InitialBackoff})");
        }

        if (o.Delivery.Alertmanager.Url.Length > 0)
        {
            HttpUrl("Monitor:Delivery:Alertmanager:Url", o.Delivery.Alertmanager.Url, errors);
            Positive("Monitor:Delivery:Alertmanager:ResendInterval", o.Delivery.Alertmanager.ResendInterval, errors);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < o.Delivery.Webhooks.Count; i++)
        {
            WebhookOptions hook = o.Delivery.Webhooks[i];
            string key = $"Monitor:Delivery:Webhooks:{i}";
            if (string.IsNullOrWhiteSpace(hook.Name) || !hook.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                errors.Add($"{key}:Name must be letters, digits, '-' or '_', got '{hook.Name}'");
            }
            else if (!names.Add(hook.Name))
            {
                errors.Add($"{key}:Name '{hook.Name}' is used by another webhook");
            }

            HttpUrl($"{key}:Url", hook.Url, errors);
            if (hook.Secret.Length < 16)
            {
                errors.Add($"{key}:Secret must be at least 16 characters (it keys the HMAC-SHA256 signature)");
            }

            if (!hook.Alerts && !hook.Rollbacks)
            {
                errors.Add($"{key}: neither Alerts nor Rollbacks is on; remove the webhook or turn one on");
            }
        }

        Range("Monitor:Limits:MaxModels", o.Limits.MaxModels, 1, 100_000, errors);
        Range("Monitor:Limits:MaxFeatures", o.Limits.MaxFeatures, 1, 1_000_000, errors);
        Range("Monitor:Limits:MaxTextBytes", o.Limits.MaxTextBytes, 1, int.MaxValue, errors);
        Range("Monitor:Limits:MaxTokensPerRecord", o.Limits.MaxTokensPerRecord, 1, int.MaxValue, errors);
        Range("Monitor:Limits:MaxCategoryBytes", o.Limits.MaxCategoryBytes, 1, int.MaxValue, errors);
        Range("Monitor:Limits:MaxRequestIdBytes", o.Limits.MaxRequestIdBytes, 1, int.MaxValue, errors);
        Range("Monitor:Limits:ClientBurstRecords", o.Limits.ClientBurstRecords, 0, long.MaxValue, errors);
        Range("Monitor:Limits:ClientBurstBatches", o.Limits.ClientBurstBatches, 0, long.MaxValue, errors);
        if (o.Limits.ClientBatchesPerSecond < 0 || !double.IsFinite(o.Limits.ClientBatchesPerSecond))
        {
            errors.Add($"Monitor:Limits:ClientBatchesPerSecond must be 0 (off) or positive, got {o.Limits.ClientBatchesPerSecond}");
        }

        if (o.Limits.ClientRecordsPerSecond < 0 || !double.IsFinite(o.Limits.ClientRecordsPerSecond))
        {
            errors.Add($"Monitor:Limits:ClientRecordsPerSecond must be 0 (off) or positive, got {o.Limits.ClientRecordsPerSecond}");
        }
        Security.SecurityValidation.Validate(o, errors);
        if (o.Privacy.Tokens != Core.Detectors.TokenDisplay.Plain && o.Privacy.HashKey.Length < 16)
        {
            errors.Add($"Monitor:Privacy:HashKey must be at least 16 characters when Monitor:Privacy:Tokens is {o.Privacy.Tokens} (it keys the HMAC)");
        }

        Positive("Monitor:Retention:Period", o.Retention.Period, errors);
        Positive("Monitor:Retention:Interval", o.Retention.Interval, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Listener(string key, ListenerOptions listener, List<string> errors)
    {
        if (!IPAddress.TryParse(listener.Address, out IPAddress? address))
        {
            errors.Add($"{key}:Address '{listener.Address}' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::)");
        }
        else if (address.IsIPv4MappedToIPv6)
        {
            errors.Add($"{key}:Address '{listener.Address}' is an IPv4 address written as IPv6, which cannot be listened on; " +
                $"write {address.MapToIPv4()}");
        }

        Range($"{key}:Port", listener.Port, 0, 65535, errors);
    }

    private static void Positive(string key, TimeSpan value, List<string> errors)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{key} must be positive, got {value}");
        }
    }

    private static void HttpUrl(string key, string url, List<string> errors)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"{key} must be an absolute http:// or https:// URL, got '{url}'");
        }
    }

    private static void Range(string key, long value, long min, long max, List<string> errors)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key} must lie in {min}..{max}, got {value}");
        }
    }
}
