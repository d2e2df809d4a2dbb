using Monitor.Core.Detectors;
using Monitor.Core.Windows;

namespace Monitor.Server.Windows;

/// <summary>
/// A version's counters at one time: records accepted, windows closed, its lifecycle's counters (what it has judged)
/// and when it last served. Stored at window close and at shutdown, restored at start.
/// </summary>
internal sealed record VersionCounters(long RecordsAccepted, long WindowsClosed, Core.Versions.LifecycleCounters Lifecycle, DateTimeOffset? LastServedAt);

/// <summary>
/// A closed window to store, with its version's counters at the time, the retention, and (at a checkpoint) its
/// trigger detectors' state.
/// </summary>
internal sealed record WindowWrite(string Model, string Version, WindowResult Window, VersionCounters Counters, int Retained,
    DetectorState? Detector = null);

/// <summary>Closed windows of every version (a bounded history), its counters, and the trigger detector's findings.</summary>
internal interface IWindowStore
{
    /// <summary>Stores a closed window, the version's counters, and drops windows beyond the retention.</summary>
    void SaveWindow(WindowWrite write);

    /// <summary>Stores closed windows with their versions' counters, dropping windows beyond the retention, in one transaction.</summary>
    void SaveWindows(IReadOnlyList<WindowWrite> windows);

    /// <summary>Raises a version's stored counters to these (they never go back; the lifecycle's are taken when as new).</summary>
    void SaveCounters(string model, string version, VersionCounters counters);

    /// <summary>The most recent closed windows of a version, newest first.</summary>
    List<WindowResult> LoadRecentWindows(string model, string version, int count);

    /// <summary>Stores new and updated findings of a version in one transaction.</summary>
    void SaveFindings(string model, string version, IReadOnlyList<Finding> findings);

    List<Finding> LoadFindings(string model, string version);

    /// <summary>Replaces the version's detector checkpoint.</summary>
    void SaveDetectorState(string model, string version, DetectorState state);

    /// <summary>The trigger detectors' state at the version's latest checkpoint; null when none was stored.</summary>
    DetectorState? LoadDetectorState(string model, string version);
}
