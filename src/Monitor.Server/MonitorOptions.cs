using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Monitor.Server.Baselines;
using Monitor.Server.Delivery;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Server.Security;
using Monitor.Server.Windows;
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
    public CallOptions Calls { get; set; } = new();

    /// <summary>The settings every version's detectors run with (text keys under <see cref="Privacy"/>); null when Monitor:Detectors:Enabled is false.</summary>
    internal DetectorSettings? DetectorsInForce => Detectors.Enabled ? DetectorSettings.WithTextKeys(Privacy) : null;
}

/// <summary>
/// Checks the options at start-up and names every bad setting by its configuration key. Each setting is checked once, by the
/// type that declares it (its <c>Problems</c>): Core's settings in Core, the sidecar's next to the feature they configure.
/// </summary>
internal sealed class MonitorOptionsValidator : IValidateOptions<MonitorOptions>
{
    public ValidateOptionsResult Validate(string? name, MonitorOptions o)
    {
        var errors = new List<string>();
        errors.AddRange(o.Grpc.Problems("Monitor:Grpc"));
        errors.AddRange(o.Http.Problems("Monitor:Http"));
        if (o.Grpc.Port != 0 && o.Grpc.Port == o.Http.Port)
        {
            errors.Add($"Monitor:Grpc:Port and Monitor:Http:Port are both {o.Grpc.Port}; gRPC and HTTP need their own ports");
        }

        errors.AddRange(o.Database.Problems("Monitor:Database"));
        errors.AddRange(o.Ingest.Problems("Monitor:Ingest"));
        errors.AddRange(o.Watch.Problems("Monitor:Watch"));
        errors.AddRange(o.Calls.Problems("Monitor:Calls"));
        errors.AddRange(o.Windows.Problems("Monitor:Windows"));
        errors.AddRange(o.BaselineSettings.Problems("Monitor:Baselines"));
        errors.AddRange(o.Baselines.Problems("Monitor:Baselines", o.BaselineSettings, o.Windows.Records));
        errors.AddRange(o.Detectors.Problems("Monitor:Detectors"));
        errors.AddRange(o.DetectorSettings.Problems("Monitor:Detectors"));
        errors.AddRange(o.Versions.Problems("Monitor:Versions"));
        errors.AddRange(o.Provenance.Problems("Monitor:Provenance"));
        errors.AddRange(o.Alerts.Problems("Monitor:Alerts"));
        errors.AddRange(o.Delivery.Problems("Monitor:Delivery"));
        errors.AddRange(o.Limits.Problems("Monitor:Limits"));
        errors.AddRange(o.TextLimits.Problems("Monitor:Limits"));
        Security.SecurityValidation.Validate(o, errors);
        errors.AddRange(o.Privacy.Problems("Monitor:Privacy"));
        errors.AddRange(o.Retention.Problems("Monitor:Retention"));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
