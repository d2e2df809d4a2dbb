using Monitor.Core.Baselines;

namespace Monitor.Server.Baselines;

/// <summary>
/// Baselines: the keys of Core's <see cref="BaselineSettings"/> that configuration may set (every default is Core's;
/// these properties read and write that one settings record), and the sidecar's own upload settings.
/// </summary>
public sealed class BaselineOptions
{
    /// <summary>The Core settings the profiling and calibration keys below set.</summary>
    internal BaselineSettings Settings { get; private set; } = new();

    /// <summary>Records kept in a baseline's reservoir sample.</summary>
    public int ReservoirRecords { get; set; } = 50_000;

    public int Bins { get => Settings.Bins; set => Settings = Settings with { Bins = value }; }
    public int MaxCategories { get => Settings.MaxCategories; set => Settings = Settings with { MaxCategories = value }; }
    public double ProfileFraction { get => Settings.ProfileFraction; set => Settings = Settings with { ProfileFraction = value }; }
    public int BootstrapWindows { get => Settings.BootstrapWindows; set => Settings = Settings with { BootstrapWindows = value }; }
    public int MinProfileRecords { get => Settings.MinProfileRecords; set => Settings = Settings with { MinProfileRecords = value }; }

    /// <summary>Pooled z at which a key of a live capture counts as label-skewed against the baseline in force and is kept out of the new key table.</summary>
    public double CaptureCheckZ
    {
        get => Settings.Triggers.CaptureCheckZ;
        set => Settings = Settings with { Triggers = Settings.Triggers with { CaptureCheckZ = value } };
    }

    /// <summary>Seed of reservoirs, splits and bootstraps.</summary>
    public int Seed { get => Settings.Seed; set => Settings = Settings with { Seed = value }; }

    /// <summary>Default whole-window false-alarm rate.</summary>
    public double FalseAlarmRate { get; set; } = 0.01;

    /// <summary>Baseline uploads and captures open at once.</summary>
    public int MaxOpenUploads { get; set; } = 16;

    /// <summary>An appended upload with no append for this long is aborted when the next upload begins.</summary>
    public TimeSpan UploadIdleTimeout { get; set; } = TimeSpan.FromHours(1);

    public BaselineSettings ToSettings() => Settings;
}
