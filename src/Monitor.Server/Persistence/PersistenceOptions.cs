using Monitor.Core;

namespace Monitor.Server.Persistence;

public sealed class DatabaseOptions
{
    /// <summary>SQLite file; relative paths are resolved against the working directory.</summary>
    public string Path { get; set; } = "data/monitor.db";

    /// <summary>How often a store that refused a write is probed with a write, to learn that it recovered.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>What is wrong, naming the keys under <paramref name="section"/> (e.g. "Monitor:Database").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            string.IsNullOrWhiteSpace(Path) ? $"{section}:Path is empty" : null,
            SettingChecks.Positive($"{section}:ProbeInterval", ProbeInterval),
        ];
        return problems.OfType<string>();
    }
}

/// <summary>How long history is kept, and how often the database is trimmed and compacted.</summary>
public sealed class RetentionOptions
{
    /// <summary>Closed windows, findings, resolved alerts (with their change events), delivered outbox entries and digest mismatches older than this are deleted.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often retention runs (and frees the space it deleted).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>What is wrong, naming the keys under <paramref name="section"/> (e.g. "Monitor:Retention").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems = [SettingChecks.Positive($"{section}:Period", Period), SettingChecks.Positive($"{section}:Interval", Interval)];
        return problems.OfType<string>();
    }
}
