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
}

/// <summary>Hysteresis and cooldown of alerts.</summary>
public sealed record AlertPolicySettings
{
    /// <summary>Consecutive windows a problem must be seen in before it fires (critical problems fire at once).</summary>
    public int FireAfterWindows { get; init; } = 2;

    /// <summary>Consecutive windows without the problem before its alert resolves.</summary>
    public int ResolveAfterWindows { get; init; } = 3;

    /// <summary>A problem back within this time of its resolution reopens the same alert instead of a new one.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromMinutes(30);

    public int EvidenceKept { get; init; } = 20;
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
    public IReadOnlyList<Alert> Observe(IReadOnlyCollection<Signal> signals, DateTimeOffset at)
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
            if (seen.Contains(key))
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

    private Alert Grow(Alert alert, Signal signal, DateTimeOffset at) => alert with
    {
        LastSeen = at,
        Severity = (Severity)Math.Max((int)alert.Severity, (int)signal.Severity),
        Evidence = [.. alert.Evidence.Append(signal.Evidence).TakeLast(settings.EvidenceKept)],
        Windows = alert.Windows + 1,
    };

    private sealed class Tracked
    {
        public int Seen { get; set; }
        public int Missed { get; set; }
        public Alert? Alert { get; set; }
    }
}
