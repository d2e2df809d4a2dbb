namespace Monitor.Server.Windows;

public sealed class WindowOptions
{
    /// <summary>Default records per tumbling window (a baseline may set its own).</summary>
    public int Records { get; set; } = 1000;

    /// <summary>Closed windows kept in memory per version for reports.</summary>
    public int HistoryInMemory { get; set; } = 50;

    /// <summary>Closed windows kept in the database per version.</summary>
    public int HistoryRetained { get; set; } = 1000;

    /// <summary>
    /// A window with records also closes after this long, so low traffic yields Inconclusive measurements
    /// rather than silence; zero closes windows by count alone.
    /// </summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>The trigger-pattern detectors (D1–D6). Defaults are the ones the attack-scenario evaluation was run with.</summary>
public sealed class DetectorOptions
{
    public bool Enabled { get; set; } = true;
    public int MinSupport { get; set; } = 30;
    public double MinZ { get; set; } = 6;
    public double MinRate { get; set; } = 0.9;
    public double MinRateIncrease { get; set; } = 0.3;
    public int PromoteSupport { get; set; } = 3;
    public int SketchWidth { get; set; } = 1 << 17;
    public int HeavyHitters { get; set; } = 32_768;
    public int Candidates { get; set; } = 4096;
    public long HorizonRecords { get; set; } = 5_000_000;
    public int MaxKeysPerRecord { get; set; } = 96;

    public Core.Detectors.DetectorSettings? ToSettings(Core.Detectors.KeyPrivacy? privacy = null) => !Enabled ? null : new()
    {
        TextKeys = privacy ?? Core.Detectors.KeyPrivacy.None,
        MinSupport = MinSupport,
        MinZ = MinZ,
        MinRate = MinRate,
        MinRateIncrease = MinRateIncrease,
        PromoteSupport = PromoteSupport,
        SketchWidth = SketchWidth,
        HeavyHitters = HeavyHitters,
        Candidates = Candidates,
        HorizonRecords = HorizonRecords,
        MaxKeysPerRecord = MaxKeysPerRecord,
    };
}
