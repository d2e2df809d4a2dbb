using Monitor.Core;

namespace Monitor.Server.Alerting;

/// <summary>Bounds of the resumable watches (WatchAlerts, WatchRollbackSignals).</summary>
public sealed class WatchOptions
{
    /// <summary>
    /// Changes the sidecar may hold for one watcher that its connection has not taken (the page of stored history being
    /// sent and the live changes queued behind it); one more cuts the watcher off.
    /// </summary>
    public int MaxBehindChanges { get; set; } = 256;

    /// <summary>The same bound in bytes of the encoded messages.</summary>
    public long MaxBehindBytes { get; set; } = 256 * 1024;

    /// <summary>Calls open at once on each watch (alerts, rollback signals); one more is refused with RESOURCE_EXHAUSTED.</summary>
    public int MaxWatchers { get; set; } = 256;

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Watch").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MaxBehindChanges", MaxBehindChanges, 1, 1_000_000),
            SettingChecks.Range($"{section}:MaxBehindBytes", MaxBehindBytes, 1024, long.MaxValue),
            SettingChecks.Range($"{section}:MaxWatchers", MaxWatchers, 1, 1_000_000),
        ];
        return problems.OfType<string>();
    }
}
