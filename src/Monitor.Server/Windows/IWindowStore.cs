using Monitor.Core.Detectors;
using Monitor.Core.Windows;

namespace Monitor.Server.Windows;

/// <summary>A closed window to store, with its version's counters at the time and the retention.</summary>
internal sealed record WindowWrite(string Model, string Version, WindowResult Window, long RecordsAccepted, long WindowsClosed, int Retained);

/// <summary>Closed windows of every version (a bounded history), its counters, and the trigger detector's findings.</summary>
internal interface IWindowStore
{
    /// <summary>Stores a closed window, the version's counters, and drops windows beyond the retention.</summary>
    void SaveWindow(string model, string version, WindowResult window, long recordsAccepted, long windowsClosed, int retained);

    /// <summary>Stores closed windows with their versions' counters, dropping windows beyond the retention, in one transaction.</summary>
    void SaveWindows(IReadOnlyList<WindowWrite> windows);

    /// <summary>Raises a version's stored counters to these (they never go back).</summary>
    void SaveCounters(string model, string version, long recordsAccepted, long windowsClosed);

    /// <summary>The most recent closed windows of a version, newest first.</summary>
    List<WindowResult> LoadRecentWindows(string model, string version, int count);

    /// <summary>Stores new and updated findings of a version in one transaction.</summary>
    void SaveFindings(string model, string version, IReadOnlyList<Finding> findings);

    List<Finding> LoadFindings(string model, string version);
}
