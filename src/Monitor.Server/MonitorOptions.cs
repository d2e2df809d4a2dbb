using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Monitor.Server.Baselines;
using Monitor.Server.Delivery;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Server.Security;
using Monitor.Server.Windows;
using Monitor.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;

namespace Monitor.Server;

/// <summary>
/// Everything configurable, bound from the "Monitor" section (appsettings.json, MONITOR__… environment variables, command line).
/// A section that configures both the sidecar and the core binds to two objects: the sidecar's options type and, under the
/// same key (<see cref="ConfigurationKeyNameAttribute"/>), Core's settings type, whose defaults and range checks are the only ones.
/// </summary>
public sealed class MonitorOptions
{
    public const string Section = "Monitor";

    public ListenerOptions Grpc { get; set; } = new() { Port = 50051 };
    public ListenerOptions Http { get; set; } = new() { Port = 9464 };
    public DatabaseOptions Database { get; set; } = new();
    public IngestOptions Ingest { get; set; } = new();
    public WindowOptions Windows { get; set; } = new();
    public BaselineOptions Baselines { get; set; } = new();

    /// <summary>How baselines are profiled and calibrated: the Core keys of Monitor:Baselines.</summary>
    [ConfigurationKeyName("Baselines")]
    public BaselineSettings BaselineSettings { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    /// <summary>The text limits of a record: the Core keys of Monitor:Limits.</summary>
    [ConfigurationKeyName("Limits")]
    public TextLimits TextLimits { get; set; } = new();

    public DetectorOptions Detectors { get; set; } = new();

    /// <summary>The detectors' thresholds and sizes: the Core keys of Monitor:Detectors.</summary>
    [ConfigurationKeyName("Detectors")]
    public DetectorSettings DetectorSettings { get; set; } = new();
    /// <summary>When versions become known-good, fail and are rolled back (bound straight onto the Core policy's settings).</summary>
    public Core.Versions.VersionPolicySettings Versions { get; set; } = new();
    /// <summary>How problems become alerts: hysteresis and cooldown (bound straight onto the Core policy's settings).</summary>
    public Core.Alerts.AlertPolicySettings Alerts { get; set; } = new();
    public DeliveryOptions Delivery { get; set; } = new();
    public SecurityOptions Security { get; set; } = new();
    /// <summary>What of mirrored text is kept in findings and alerts.</summary>
    public KeyPrivacy Privacy { get; set; } = new();
    public RetentionOptions Retention { get; set; } = new();
    public Registry.ProvenanceOptions Provenance { get; set; } = new();
    public Alerting.WatchOptions Watch { get; set; } = new();

    /// <summary>The settings every version's detectors run with (text keys under <see cref="Privacy"/>); null when Monitor:Detectors:Enabled is false.</summary>
    internal DetectorSettings? DetectorsInForce => Detectors.Enabled ? DetectorSettings.WithTextKeys(Privacy) : null;
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
        BaselineSettings baselines = o.BaselineSettings;
        errors.AddRange(baselines.Problems("Monitor:Baselines"));
        Range("Monitor:Baselines:MaxOpenUploads", o.Baselines.MaxOpenUploads, 1, 10_000, errors);
        if (o.Baselines.UploadIdleTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Monitor:Baselines:UploadIdleTimeout: {o.Baselines.UploadIdleTimeout} must be at least 00:00:01");
        }

        if (BaselineSettings.FalseAlarmRateProblem("Monitor:Baselines:FalseAlarmRate", o.Baselines.FalseAlarmRate, baselines.BootstrapWindows)
            is { } falseAlarmProblem)
        {
            errors.Add(falseAlarmProblem);
        }

        if (baselines.ProfileFraction is > 0 and < 1 && o.Baselines.ReservoirRecords < BaselineBuilder.RequiredRecords(o.Windows.Records, baselines))
        {
            errors.Add($"Monitor:Baselines:ReservoirRecords ({o.Baselines.ReservoirRecords}) is too small to build a baseline for windows of " +
                $"{o.Windows.Records} records: need at least {BaselineBuilder.RequiredRecords(o.Windows.Records, baselines)}");
        }

        if (o.Detectors.CheckpointInterval < TimeSpan.Zero)
        {
            errors.Add($"Monitor:Detectors:CheckpointInterval must be 0 (every window) or positive, got {o.Detectors.CheckpointInterval}");
        }

        errors.AddRange(o.DetectorSettings.Problems("Monitor:Detectors"));

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
        errors.AddRange(o.TextLimits.Problems("Monitor:Limits"));
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
        errors.AddRange(o.Privacy.Problems("Monitor:Privacy"));

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
        if (SettingChecks.Positive(key, value) is { } problem)
        {
            errors.Add(problem);
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
        if (SettingChecks.Range(key, value, min, max) is { } problem)
        {
            errors.Add(problem);
        }
    }
}
