using Monitor.Core.Detectors;

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

/// <summary>
/// The trigger-pattern detectors (D1–D6): the keys of Core's <see cref="DetectorSettings"/> that configuration may set
/// (the validated ones). Every default is Core's; these properties read and write that one settings record.
/// </summary>
public sealed class DetectorOptions
{
    /// <summary>The Core settings the keys below set.</summary>
    internal DetectorSettings Settings { get; private set; } = new();

    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The least time between two stored checkpoints of a version's detector state (taken at a window's close);
    /// 0 stores one at every window's close. A restart resumes from the latest.
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    public int MinSupport { get => Settings.MinSupport; set => Settings = Settings with { MinSupport = value }; }
    public double MinZ { get => Settings.MinZ; set => Settings = Settings with { MinZ = value }; }
    public double MinRate { get => Settings.MinRate; set => Settings = Settings with { MinRate = value }; }
    public double MinRateIncrease { get => Settings.MinRateIncrease; set => Settings = Settings with { MinRateIncrease = value }; }
    public int PromoteSupport { get => Settings.PromoteSupport; set => Settings = Settings with { PromoteSupport = value }; }
    public int SketchWidth { get => Settings.SketchWidth; set => Settings = Settings with { SketchWidth = value }; }
    public int HeavyHitters { get => Settings.HeavyHitters; set => Settings = Settings with { HeavyHitters = value }; }
    public int Candidates { get => Settings.Candidates; set => Settings = Settings with { Candidates = value }; }
    public long HorizonRecords { get => Settings.HorizonRecords; set => Settings = Settings with { HorizonRecords = value }; }
    public int MaxKeysPerRecord { get => Settings.MaxKeysPerRecord; set => Settings = Settings with { MaxKeysPerRecord = value }; }

    /// <summary>The detectors' settings with <paramref name="privacy"/> for text keys; null when the detectors are off.</summary>
    public DetectorSettings? ToSettings(KeyPrivacy? privacy = null) => !Enabled ? null : Settings with { TextKeys = privacy ?? KeyPrivacy.None };
}
