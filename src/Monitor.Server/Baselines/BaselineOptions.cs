using Monitor.Core;
using Monitor.Core.Baselines;

namespace Monitor.Server.Baselines;

/// <summary>
/// The sidecar's own keys of the Monitor:Baselines section: reservoirs, the default false-alarm rate and uploads. The
/// profiling and calibration keys of the same section bind to Core's <see cref="Core.Baselines.BaselineSettings"/>
/// (<see cref="MonitorOptions.BaselineSettings"/>).
/// </summary>
public sealed class BaselineOptions
{
    /// <summary>Records kept in a baseline's reservoir sample.</summary>
    public int ReservoirRecords { get; set; } = 50_000;

    /// <summary>Default whole-window false-alarm rate.</summary>
    public double FalseAlarmRate { get; set; } = 0.01;

    /// <summary>Baseline uploads and captures open at once.</summary>
    public int MaxOpenUploads { get; set; } = 16;

    /// <summary>An appended upload with no append for this long is aborted when the next upload begins.</summary>
    public TimeSpan UploadIdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Baselines"): the default rate is
    /// checked against the bootstrap windows of <paramref name="settings"/>, the reservoir against windows of <paramref name="windowRecords"/>.
    /// </summary>
    internal IEnumerable<string> Problems(string section, BaselineSettings settings, int windowRecords)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MaxOpenUploads", MaxOpenUploads, 1, 10_000),
            UploadIdleTimeout < TimeSpan.FromSeconds(1) ? $"{section}:UploadIdleTimeout: {UploadIdleTimeout} must be at least 00:00:01" : null,
            BaselineSettings.FalseAlarmRateProblem($"{section}:FalseAlarmRate", FalseAlarmRate, settings.BootstrapWindows),
            settings.ProfileFraction is > 0 and < 1 && ReservoirRecords < BaselineBuilder.RequiredRecords(windowRecords, settings)
                ? $"{section}:ReservoirRecords ({ReservoirRecords}) is too small to build a baseline for windows of " +
                  $"{windowRecords} records: need at least {BaselineBuilder.RequiredRecords(windowRecords, settings)}"
                : null,
        ];
        return problems.OfType<string>();
    }
}
