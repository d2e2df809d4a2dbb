using System.Globalization;
using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Core.Windows;

namespace Monitor.Core.Versions;

/// <summary>A finding as the version policy sees it: its latest state and the window it was last raised or updated in.</summary>
public readonly record struct LiveFinding(Finding Finding, ulong RaisedIn);

/// <summary>What a closed window says about its version: whether it fails, why, and the problems it shows.</summary>
/// <param name="Measurement">The window as the version's lifecycle takes it.</param>
/// <param name="Signals">The problems the window shows, for the version's alert policy.</param>
public sealed record WindowJudgement(WindowMeasurement Measurement, IReadOnlyList<Signal> Signals)
{
    public bool Failing => Measurement.Failing;
}

/// <summary>
/// Judges a closed window on evidence that the version is the cause. It fails while a critical trigger finding
/// is live, or when a critical output channel drifted over its calibrated threshold while no input channel drifted
/// (output drift the inputs do not explain). Input drift never fails a window: on a critical channel it raises a
/// critical alert, elsewhere a warning. A window closed by time before it filled is inconclusive unless a trigger
/// fails it. Pure: the caller gives the findings and the time.
/// </summary>
public static class WindowJudge
{
    /// <summary>Judges <paramref name="window"/>, closed at <paramref name="at"/>.</summary>
    /// <param name="triggerLive">Whether a critical trigger finding is live (its key hit within the detector's active span).</param>
    /// <param name="findings">The version's findings; the critical ones are the reasons a live trigger gives.</param>
    /// <param name="criticalChannels">Channels whose drift fails a window.</param>
    /// <param name="liveFindings">Each finding with the window it was last raised or updated in.</param>
    public static WindowJudgement Judge(WindowResult window, DateTimeOffset at, bool triggerLive, IEnumerable<Finding> findings,
        IReadOnlySet<string> criticalChannels, IEnumerable<LiveFinding> liveFindings)
    {
        var signals = new List<Signal>();
        var reasons = new List<string>();
        if (triggerLive)
        {
            reasons.AddRange(findings.Where(f => f.Severity == Severity.Critical).Select(f => f.Summary).Take(3));
        }

        if (window.Complete)
        {
            // Inputs are the caller's to choose: their drift alerts (critical on a critical channel) but never fails the
            // version. Output drift fails it only where the inputs did not drift in the same window to explain it.
            string[] inputsDrifted = [.. window.Channels.Where(c => c.Drifted && !IsOutput(c.Name)).Select(c => c.Name)];
            foreach (ChannelResult channel in window.Channels.Where(c => c.Drifted))
            {
                bool critical = criticalChannels.Contains(channel.Name);
                bool output = IsOutput(channel.Name);
                string evidence = $"window {window.Index}: {channel.Name} {Exceedances(channel)}";
                if (critical && output && inputsDrifted.Length > 0)
                {
                    evidence += $" (with input drift in {string.Join(", ", inputsDrifted.Take(3))}{(inputsDrifted.Length > 3 ? ", …" : "")}: not failing)";
                }
                else if (critical && !output)
                {
                    evidence += " (input drift: alerts, never fails a version)";
                }

                signals.Add(new Signal(AlertKinds.DriftKey(channel.Name), AlertKinds.Drift, critical ? Severity.Critical : Severity.Warning, evidence));
                if (critical && output && inputsDrifted.Length == 0)
                {
                    reasons.Add($"critical output {channel.Name} drifted with no input drift to explain it ({Exceedances(channel)})");
                }
            }
        }

        // A finding stays a live problem while its key was hit within the detector's active span of windows.
        foreach ((Finding finding, ulong raisedIn) in liveFindings)
        {
            if (window.Index - Math.Min(raisedIn, window.Index) < TriggerDetector.ActiveWindows)
            {
                signals.Add(new Signal(AlertKinds.FindingKey(finding.DedupeKey), AlertKinds.Trigger(finding.Detector.ToString()), finding.Severity,
                    finding.Summary));
            }
        }

        var measurement = new WindowMeasurement(window.Index, window.Records, reasons.Count > 0, at, reasons, Conclusive: window.Complete);
        return new WindowJudgement(measurement, signals);
    }

    /// <summary>
    /// Whether the version's live critical trigger findings fail its windows (the <c>triggerLive</c> of <see cref="Judge"/>).
    /// A key and the outputs of the records carrying it are the sender's to choose, and a dozen forged records with a made-up
    /// key make it critical, so a version a person trusted (known-good) fails on key evidence only when a live critical key
    /// holds <paramref name="minFailingRecords"/> distinct records (its support): below that its finding alerts, critical,
    /// and the version is neither failed nor rolled back. Paired evidence (D8) never fails a known-good version: it says the version
    /// differs from another one the sender names as trusted, on outputs the sender reports. An untrusted version fails on any live
    /// critical key, and on version-wide paired disagreement: that is the
    /// detection the sidecar is for, and its rollback goes to a version a person trusted.
    /// </summary>
    /// <param name="criticalActive">Whether a key found critical was hit within the detector's active span of windows.</param>
    /// <param name="trusted">Whether the version is known-good.</param>
    /// <param name="windowIndex">The index of the window being judged.</param>
    /// <param name="liveFindings">Each finding with the window it was last raised or updated in.</param>
    /// <param name="minFailingRecords">Monitor:Versions:MinFailingRecords.</param>
    public static bool TriggerFails(bool criticalActive, bool trusted, ulong windowIndex, IEnumerable<LiveFinding> liveFindings, long minFailingRecords) =>
        criticalActive && (!trusted || liveFindings.Any(live => live.Finding.Severity == Severity.Critical && live.Finding.Key is not null
            && live.Finding.Detector != DetectorId.D8 && live.Finding.Support >= minFailingRecords && windowIndex - Math.Min(live.RaisedIn, windowIndex) < TriggerDetector.ActiveWindows));

    /// <summary>Whether a channel measures the output (output.class, output.confidence, …) rather than an input.</summary>
    public static bool IsOutput(string channel) => channel.StartsWith(Schema.ModelSchema.OutputPrefix, StringComparison.Ordinal);

    /// <summary>The statistics of a channel over their thresholds, e.g. "psi 0.31 > 0.2".</summary>
    public static string Exceedances(ChannelResult channel) => string.Join(", ", Enumerable.Range(0, channel.Statistics.Length)
        .Where(s => channel.Exceeded[s])
        .Select(s => string.Create(CultureInfo.InvariantCulture,
            $"{Schema.StatisticNames.Of(channel.Statistics[s])} {channel.Values[s]:G4} > {channel.Thresholds[s]:G4}")));
}
