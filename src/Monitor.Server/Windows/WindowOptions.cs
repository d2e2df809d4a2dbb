using Monitor.Core;
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

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Windows").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:Records", Records, 10, 100_000_000),
            SettingChecks.Range($"{section}:HistoryInMemory", HistoryInMemory, 1, 100_000),
            SettingChecks.Range($"{section}:HistoryRetained", HistoryRetained, 1, 100_000_000),
            MaxAge < TimeSpan.Zero
                ? $"{section}:MaxAge must not be negative, got {MaxAge}"
                : MaxAge > TimeSpan.Zero && MaxAge < TimeSpan.FromSeconds(1)
                    ? $"{section}:MaxAge must be zero (off) or at least 00:00:01, got {MaxAge}"
                    : null,
        ];
        return problems.OfType<string>();
    }
}

/// <summary>
/// The sidecar's own keys of the Monitor:Detectors section. The detectors' thresholds and sizes in the same section bind to
/// Core's <see cref="DetectorSettings"/> (<see cref="MonitorOptions.DetectorSettings"/>).
/// </summary>
public sealed class DetectorOptions
{
    /// <summary>False runs no trigger detectors.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The least time between two stored checkpoints of a version's detector state (taken at a window's close);
    /// 0 stores one at every window's close. A restart resumes from the latest.
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Detectors").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        if (CheckpointInterval < TimeSpan.Zero)
        {
            yield return $"{section}:CheckpointInterval must be 0 (every window) or positive, got {CheckpointInterval}";
        }
    }
}
