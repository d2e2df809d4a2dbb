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
}
