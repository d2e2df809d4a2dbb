using Monitor.Core.Detectors;

namespace Monitor.Core.Alerts;

/// <summary>Whether an alert is open.</summary>
public enum AlertState
{
    Firing,
    Resolved,
}

/// <summary>A problem raised by a window: what kind, how severe, and the evidence in one line.</summary>
/// <param name="DedupeKey">One problem, one key: the same key in later windows grows the same alert.</param>
public sealed record Signal(string DedupeKey, string Kind, Severity Severity, string Evidence);

/// <summary>One alert: a problem of a model version whose evidence grows while it lasts.</summary>
public sealed record Alert
{
    public required string DedupeKey { get; init; }
    public required string Model { get; init; }
    public required string Version { get; init; }
    public required string Kind { get; init; }
    public required Severity Severity { get; init; }
    public required AlertState State { get; init; }
    public required DateTimeOffset FirstSeen { get; init; }
    public required DateTimeOffset LastSeen { get; init; }
    public DateTimeOffset? ResolvedAt { get; init; }

    /// <summary>Evidence lines, newest last, at most <see cref="AlertPolicySettings.EvidenceKept"/>.</summary>
    public required IReadOnlyList<string> Evidence { get; init; }

    /// <summary>Windows in which the problem was seen.</summary>
    public required int Windows { get; init; }

    /// <summary>1 for the first alert of a dedupe key; a problem back after the cooldown opens episode 2, and so on.</summary>
    public int Episode { get; init; } = 1;

    /// <summary>Raised between windows (a failed verdict, an artifact swap, a held rollback): it lasts until someone acts, not until a clean window.</summary>
    public bool Raised { get; init; }
}

/// <summary>Hysteresis and cooldown of alerts; bound from the Monitor:Alerts configuration section, range-checked by <see cref="Problems"/>.</summary>
public sealed record AlertPolicySettings
{
    /// <summary>Consecutive windows a problem must be seen in before it fires (critical problems fire at once).</summary>
    public int FireAfterWindows { get; init; } = 2;

    /// <summary>Consecutive windows without the problem before its alert resolves.</summary>
    public int ResolveAfterWindows { get; init; } = 3;

    /// <summary>A problem back within this time of its resolution reopens the same alert instead of a new one.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(30);

    public int EvidenceKept { get; init; } = 20;

    /// <summary>What is out of range, each naming its key under <paramref name="section"/> (e.g. "Monitor:Alerts").</summary>
    public IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:FireAfterWindows", FireAfterWindows, 1, 1_000_000),
            SettingChecks.Range($"{section}:ResolveAfterWindows", ResolveAfterWindows, 1, 1_000_000),
            SettingChecks.Range($"{section}:EvidenceKept", EvidenceKept, 1, 10_000),
            Cooldown < TimeSpan.Zero ? $"{section}:Cooldown must not be negative, got {Cooldown}" : null,
        ];
        return problems.OfType<string>();
    }
}

/// <summary>
/// Turns each window's signals into alerts for one model version: a problem fires after K windows in a
/// row (at once if critical), grows one alert while it lasts, resolves after M windows without it, and
/// reopens the same alert if it returns within the cooldown. One problem is one alert, not a storm.
/// </summary>
public sealed class AlertPolicy(string model, string version, AlertPolicySettings settings)
{
    private readonly Dictionary<string, Tracked> _tracked = new(StringComparer.Ordinal);

    /// <summary>Alerts fired so far, open and resolved, by dedupe key.</summary>
    public IReadOnlyDictionary<string, Alert> Alerts => _tracked.Where(t => t.Value.Alert is not null)
        .ToDictionary(t => t.Key, t => t.Value.Alert!, StringComparer.Ordinal);

    /// <summary>Applies a closed window's signals; returns the alerts that fired, grew or resolved.</summary>
    /// <param name="countAbsence">
    /// False for a window too small to judge (closed by time): problems it does not show are not counted as
    /// gone, so they neither resolve nor reset their run.
    /// </param>
    public IReadOnlyList<Alert> Observe(IReadOnlyCollection<Signal> signals, DateTimeOffset at, bool countAbsence = true)
    {
        var changed = new List<Alert>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (Signal signal in signals)
        {
            if (!seen.Add(signal.DedupeKey))
            {
                continue;
            }

            if (!_tracked.TryGetValue(signal.DedupeKey, out Tracked? tracked))
            {
                tracked = new Tracked();
                _tracked[signal.DedupeKey] = tracked;
            }

            tracked.Seen++;
            tracked.Missed = 0;
            Alert? alert = tracked.Alert;
            bool due = signal.Severity == Severity.Critical || tracked.Seen >= settings.FireAfterWindows;
            if (alert is { State: AlertState.Firing })
            {
                tracked.Alert = Grow(alert, signal, at);
                changed.Add(tracked.Alert);
            }
            else if (due && alert is { State: AlertState.Resolved } && at - alert.ResolvedAt <= settings.Cooldown)
            {
                tracked.Alert = Grow(alert with { State = AlertState.Firing, ResolvedAt = null }, signal, at);
                changed.Add(tracked.Alert);
            }
            else if (due)
            {
                tracked.Alert = new Alert
                {
                    Episode = (alert?.Episode ?? 0) + 1,
                    DedupeKey = signal.DedupeKey,
                    Model = model,
                    Version = version,
                    Kind = signal.Kind,
                    Severity = signal.Severity,
                    State = AlertState.Firing,
                    FirstSeen = at,
                    LastSeen = at,
                    Evidence = [signal.Evidence],
                    Windows = tracked.Seen,
                };
                changed.Add(tracked.Alert);
            }
        }

        foreach ((string key, Tracked tracked) in _tracked)
        {
            if (!countAbsence || tracked.Sticky || seen.Contains(key))
            {
                continue;
            }

            tracked.Seen = 0;
            tracked.Missed++;
            if (tracked.Alert is { State: AlertState.Firing } firing && tracked.Missed >= settings.ResolveAfterWindows)
            {
                tracked.Alert = firing with { State = AlertState.Resolved, ResolvedAt = at };
                changed.Add(tracked.Alert);
            }
        }

        return changed;
    }

    /// <summary>
    /// Raises a problem found between windows (an artifact swap, a failed verdict): it fires, or grows its
    /// alert, at once; other alerts are untouched. Returns the alert.
    /// </summary>
    public Alert Raise(Signal signal, DateTimeOffset at)
    {
        if (!_tracked.TryGetValue(signal.DedupeKey, out Tracked? tracked))
        {
            tracked = new Tracked();
            _tracked[signal.DedupeKey] = tracked;
        }

        tracked.Missed = 0;
        tracked.Sticky = true;
        Alert? alert = tracked.Alert;
        tracked.Alert = alert switch
        {
            { State: AlertState.Firing } => Grow(alert, signal, at, windows: 0),
            { State: AlertState.Resolved } when at - alert.ResolvedAt <= settings.Cooldown =>
                Grow(alert with { State = AlertState.Firing, ResolvedAt = null }, signal, at, windows: 0),
            _ => new Alert
            {
                Raised = true,
                Episode = (alert?.Episode ?? 0) + 1,
                DedupeKey = signal.DedupeKey,
                Model = model,
                Version = version,
                Kind = signal.Kind,
                Severity = signal.Severity,
                State = AlertState.Firing,
                FirstSeen = at,
                LastSeen = at,
                Evidence = [signal.Evidence],
                Windows = 0,
            },
        };
        return tracked.Alert;
    }

    /// <summary>
    /// Resolves firing alerts raised between windows (the problems that last until someone acts: a failed
    /// verdict, an artifact swap, a held rollback), those of the given keys or all; returns them.
    /// </summary>
    public IReadOnlyList<Alert> ResolveRaised(DateTimeOffset at, params string[] keys)
    {
        var resolved = new List<Alert>();
        foreach ((string key, Tracked tracked) in _tracked)
        {
            if (tracked.Sticky && tracked.Alert is { State: AlertState.Firing } firing && (keys.Length == 0 || keys.Contains(key)))
            {
                tracked.Alert = firing with { State = AlertState.Resolved, ResolvedAt = at, LastSeen = at };
                resolved.Add(tracked.Alert);
            }
        }

        return resolved;
    }

    /// <summary>Takes up alerts stored before a restart, so they grow and resolve instead of firing again.</summary>
    public void Restore(IEnumerable<Alert> alerts)
    {
        foreach (Alert alert in alerts)
        {
            if (!_tracked.TryGetValue(alert.DedupeKey, out Tracked? tracked))
            {
                tracked = new Tracked();
                _tracked[alert.DedupeKey] = tracked;
            }

            if (tracked.Alert is null || alert.Episode >= tracked.Alert.Episode)
            {
                tracked.Alert = alert;
                tracked.Sticky = alert.Raised;
                tracked.Seen = alert.State == AlertState.Firing ? settings.FireAfterWindows : 0;
            }
        }
    }

    /// <summary>Records another sighting; evidence repeating the latest line is not added again.</summary>
    private Alert Grow(Alert alert, Signal signal, DateTimeOffset at, int windows = 1) => alert with
    {
        LastSeen = at,
        Severity = (Severity)Math.Max((int)alert.Severity, (int)signal.Severity),
        Evidence = alert.Evidence.Count > 0 && alert.Evidence[^1] == signal.Evidence
            ? alert.Evidence
            : [.. alert.Evidence.Append(signal.Evidence).TakeLast(settings.EvidenceKept)],
        Windows = alert.Windows + windows,
    };

    private sealed class Tracked
    {
        /// <summary>Raised between windows: resolved only by <see cref="ResolveRaised"/>, never by absence.</summary>
        public bool Sticky { get; set; }

        public int Seen { get; set; }
        public int Missed { get; set; }
        public Alert? Alert { get; set; }
    }
}
