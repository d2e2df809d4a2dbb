namespace Monitor.Core.Versions;

/// <summary>A version's verdict, in the words deployment tools use.</summary>
public enum Verdict
{
    /// <summary>Too little data to say: never a failure.</summary>
    Inconclusive,

    Successful,

    /// <summary>The failure limit of consecutive failing windows was reached, or the artifact was swapped.</summary>
    Failed,
}

/// <summary>One window as the version policy sees it: a measurement that failed or not, and why.</summary>
public sealed record WindowMeasurement(ulong Index, long Records, bool Failing, DateTimeOffset ClosedAt, IReadOnlyList<string> Reasons);

/// <summary>When versions are trusted, failed and rolled back.</summary>
public sealed record VersionPolicySettings
{
    /// <summary>Consecutive clean windows after which a candidate becomes known-good.</summary>
    public int PromoteAfterCleanWindows { get; init; } = 20;

    /// <summary>Records a candidate must have been judged on before it becomes known-good.</summary>
    public long PromoteAfterRecords { get; init; } = 20_000;

    /// <summary>Consecutive failing windows that make the verdict Failed.</summary>
    public int FailureLimit { get; init; } = 3;

    /// <summary>Windows judged before any verdict other than Inconclusive.</summary>
    public int MinWindowsForVerdict { get; init; } = 3;
}

/// <summary>What a window did to a version.</summary>
public sealed record LifecycleChange(VersionState From, VersionState To, Verdict Verdict, bool Failed, string Reason);

/// <summary>
/// The state machine of one version: candidate → known-good after a run of clean windows and records;
/// any failing window → suspect; the failure limit of consecutive failing windows (or an artifact swap)
/// → Failed and quarantined. A known-good version fails the same way. Inconclusive until enough
/// windows were judged. Pure: the caller persists the state and acts on <see cref="LifecycleChange.Failed"/>.
/// </summary>
public sealed class VersionLifecycle(VersionState state, VersionPolicySettings settings)
{
    public VersionState State { get; private set; } = state;
    public int ConsecutiveFailing { get; private set; }
    public int ConsecutiveClean { get; private set; }
    public int WindowsJudged { get; private set; }
    public long RecordsJudged { get; private set; }
    public long CleanRecords { get; private set; }

    public Verdict Verdict => State == VersionState.Quarantined || ConsecutiveFailing >= settings.FailureLimit
        ? Verdict.Failed
        : WindowsJudged < settings.MinWindowsForVerdict ? Verdict.Inconclusive : Verdict.Successful;

    public LifecycleChange Observe(WindowMeasurement window)
    {
        VersionState from = State;
        WindowsJudged++;
        RecordsJudged += window.Records;
        if (State == VersionState.Quarantined)
        {
            return new LifecycleChange(from, State, Verdict.Failed, false, "quarantined");
        }

        if (window.Failing)
        {
            ConsecutiveFailing++;
            ConsecutiveClean = 0;
            CleanRecords = 0;
            if (ConsecutiveFailing >= settings.FailureLimit)
            {
                State = VersionState.Quarantined;
                return new LifecycleChange(from, State, Verdict.Failed, true,
                    $"{ConsecutiveFailing} consecutive failing windows (limit {settings.FailureLimit}): {string.Join("; ", window.Reasons)}");
            }

            State = VersionState.Suspect;
            return new LifecycleChange(from, State, Verdict, false, $"failing window {window.Index}: {string.Join("; ", window.Reasons)}");
        }

        ConsecutiveFailing = 0;
        ConsecutiveClean++;
        CleanRecords += window.Records;
        if (State is VersionState.Candidate or VersionState.Suspect
            && ConsecutiveClean >= settings.PromoteAfterCleanWindows && CleanRecords >= settings.PromoteAfterRecords)
        {
            State = VersionState.KnownGood;
            return new LifecycleChange(from, State, Verdict, false,
                $"{ConsecutiveClean} consecutive clean windows over {CleanRecords} records");
        }

        if (State == VersionState.Suspect && ConsecutiveClean >= settings.MinWindowsForVerdict)
        {
            State = VersionState.Candidate;
        }

        return new LifecycleChange(from, State, Verdict, false, "clean window");
    }

    /// <summary>An admin's promotion: known-good, counters cleared.</summary>
    public void Promote()
    {
        State = VersionState.KnownGood;
        ConsecutiveFailing = 0;
    }

    /// <summary>An artifact swapped under the version's name: Failed at once.</summary>
    public LifecycleChange ArtifactMismatch(string reported)
    {
        VersionState from = State;
        State = VersionState.Quarantined;
        ConsecutiveFailing = Math.Max(ConsecutiveFailing, settings.FailureLimit);
        return new LifecycleChange(from, State, Verdict.Failed, true, $"artifact {reported} differs from the registered one");
    }
}

/// <summary>A version as the rollback planner sees it.</summary>
public sealed record VersionRecord(string Version, VersionState State, DateTimeOffset? PromotedAt);

/// <summary>Chooses where a rollback goes.</summary>
public static class RollbackPlanner
{
    /// <summary>The most recently promoted known-good version that is not quarantined and is not the failed one; null when there is none.</summary>
    public static string? Target(IEnumerable<VersionRecord> versions, string failed) =>
        versions
            .Where(v => v.State == VersionState.KnownGood && v.Version != failed && v.PromotedAt is not null)
            .OrderByDescending(v => v.PromotedAt)
            .ThenByDescending(v => v.Version, StringComparer.Ordinal)
            .FirstOrDefault()?.Version;
}
