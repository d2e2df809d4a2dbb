using Monitor.Core.Baselines;
using Monitor.Core.Versions;

namespace Monitor.Core.Windows;

/// <summary>
/// How a version's judged windows fared against one baseline: of the complete windows kept in its history that were
/// judged against the baseline, how many drifted. A trusted version's clean traffic drifts in a share α of windows
/// (the baseline's stated false-alarm rate); when it drifts in most of them, the fault is the reference, not the
/// version: the baseline does not represent the live traffic.
/// </summary>
/// <param name="Judged">Complete windows judged against the baseline, among those kept.</param>
/// <param name="Drifted">Of those, the windows in which some statistic exceeded its threshold.</param>
public readonly record struct ReferenceFit(int Judged, int Drifted)
{
    /// <summary>Fewest judged windows before a version's windows can say anything about the reference.</summary>
    public const int MinWindows = 10;

    /// <summary>Whether more than half of at least <see cref="MinWindows"/> judged windows drifted.</summary>
    public bool MostlyDrifted => Judged >= MinWindows && 2 * Drifted > Judged;

    /// <summary>The tally of the windows in <paramref name="history"/> judged against baseline <paramref name="baselineId"/>.</summary>
    public static ReferenceFit Of(IEnumerable<WindowResult> history, long baselineId)
    {
        int judged = 0;
        int drifted = 0;
        foreach (WindowResult window in history)
        {
            if (window.Complete && window.BaselineId == baselineId)
            {
                judged++;
                drifted += window.Drifted ? 1 : 0;
            }
        }

        return new ReferenceFit(judged, drifted);
    }

    /// <summary>Whether the version's windows say something about the baseline: it is trusted, or the baseline was captured from it.</summary>
    public static bool Speaks(string version, VersionState state, BaselineProfile baseline) =>
        state == VersionState.KnownGood || baseline.Source == $"captured:{version}" || baseline.Source == $"reference:{version}";

    /// <summary>
    /// The warning for a trusted version (or the baseline's own) whose windows mostly drift against the baseline; null
    /// when they do not, or when the version is not one whose traffic the baseline should represent.
    /// </summary>
    public string? Warning(string model, string version, VersionState state, BaselineProfile baseline)
    {
        if (!MostlyDrifted || !Speaks(version, state, baseline))
        {
            return null;
        }

        string whose = state == VersionState.KnownGood ? "trusted version" : "version";
        return FormattableString.Invariant(
            $"{Drifted} of the last {Judged} windows of {whose} '{version}' drifted against baseline {baseline.Id}, whose stated ") +
            FormattableString.Invariant(
            $"false-alarm rate is {baseline.FalseAlarmRate:0.##%}: the baseline's reference does not represent this version's live traffic. ") +
            $"If the traffic is right, capture a new baseline from it: drift baseline capture -m {model} --from-version {version} --records N";
    }
}
