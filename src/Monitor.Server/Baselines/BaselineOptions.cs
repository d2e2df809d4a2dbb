using Monitor.Core.Baselines;

namespace Monitor.Server.Baselines;

public sealed class BaselineOptions
{
    /// <summary>Records kept in a baseline's reservoir sample.</summary>
    public int ReservoirRecords { get; set; } = 50_000;

    public int Bins { get; set; } = 20;
    public int MaxCategories { get; set; } = 1000;
    public double ProfileFraction { get; set; } = 0.5;
    public int BootstrapWindows { get; set; } = 2000;

    /// <summary>Default whole-window false-alarm rate.</summary>
    public double FalseAlarmRate { get; set; } = 0.01;

    public int MinProfileRecords { get; set; } = 1000;

    /// <summary>Baseline uploads and captures open at once.</summary>
    public int MaxOpenUploads { get; set; } = 16;

    /// <summary>An appended upload with no append for this long is aborted when the next upload begins.</summary>
    public TimeSpan UploadIdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Seed of reservoirs, splits and bootstraps.</summary>
    public int Seed { get; set; } = 20_261_125;

    public BaselineSettings ToSettings() => new()
    {
        Bins = Bins,
        MaxCategories = MaxCategories,
        ProfileFraction = ProfileFraction,
        BootstrapWindows = BootstrapWindows,
        MinProfileRecords = MinProfileRecords,
        Seed = Seed,
    };
}
