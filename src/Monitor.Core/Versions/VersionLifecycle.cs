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
/// <param name="Conclusive">
/// False for a window closed by time before it filled: too little data to judge drift, so it neither
/// fails (unless <paramref name="Failing"/> says so on other evidence) nor counts as clean.
/// </param>
public sealed record WindowMeasurement(ulong Index, long Records, bool Failing, DateTimeOffset ClosedAt, IReadOnlyList<string> Reasons,
    bool Conclusive = true);

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

    /// <summary>
    /// Records the consecutive failing windows must hold together before they fail the version: the least
    /// evidence a rollback is issued on (inputs are attacker-controlled; a handful of records must not force one).
    /// </summary>
    public long MinFailingRecords { get; init; } = 1000;

    /// <summary>Hold every automatic rollback for a human's decision instead of signalling it.</summary>
    public bool HoldRollbacks { get; init; }

    /// <summary>Automatic rollback signals allowed per model within <see cref="RollbackRatePeriod"/>; more are held for a human.</summary>
    public int MaxRollbacksPerPeriod { get; init; } = 1;

    /// <summary>The period <see cref="MaxRollbacksPerPeriod"/> counts over.</summary>
    public TimeSpan RollbackRatePeriod { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>What a window did to a version.</summary>
public sealed record LifecycleChange(VersionState From, VersionState To, Verdict Verdict, bool Failed, string Reason);

/// <summary>
/// The state machine of one version: candidate → known-good after a run of clean windows and records;
/// any failing window → suspect; the failure limit of consecutive failing windows (or an artifact swap)
/// → Failed and quarantined. A known-good version fails the same way. Inconclusive until enough
/// windows were judged. Pure: the caller persists the state and acts on <see cref="LifecycleChange.Failed"/>.
/// The one place a version's state is held: one writer (the model's pipeline), read from any thread.
/// </summary>
public sealed class VersionLifecycle(VersionState state, VersionPolicySettings settings, DateTimeOffset? promotedAt = null)
{
    private int _state = (int)state;
    private object? _promotedAt = promotedAt;

    public VersionState State
    {
        get => (VersionState)Volatile.Read(ref _state);
        private set => Volatile.Write(ref _state, (int)value);
    }

    /// <summary>When the version last became known-good (null if never): rollbacks go to the most recently promoted.</summary>
    public DateTimeOffset? PromotedAt
    {
        get => (DateTimeOffset?)Volatile.Read(ref _promotedAt);
        private set => Volatile.Write(ref _promotedAt, value);
    }

    public VersionPolicySettings Settings => settings;
    public int ConsecutiveFailing { get; private set; }
    public int ConsecutiveClean { get; private set; }
    public int WindowsJudged { get; private set; }
    public long RecordsJudged { get; private set; }
    public long CleanRecords { get; private set; }

    /// <summary>Records in the current run of consecutive failing windows.</summary>
    public long FailingRecords { get; private set; }

    /// <summary>Whether the latest window was closed by time before it filled (traffic too low to judge now).</summary>
    public bool LatestInconclusive { get; private set; }

    public Verdict Verdict => State == VersionState.Quarantined
        ? Verdict.Failed
        : WindowsJudged < settings.MinWindowsForVerdict || LatestInconclusive || State == VersionState.Suspect
            ? Verdict.Inconclusive
            : Verdict.Successful;

    public LifecycleChange Observe(WindowMeasurement window)
    {
        VersionState from = State;
        if (State == VersionState.Quarantined)
        {
            return new LifecycleChange(from, State, Verdict.Failed, false, "quarantined");
        }

        LatestInconclusive = !window.Conclusive && !window.Failing;
        if (LatestInconclusive)
        {
            return new LifecycleChange(from, State, Verdict, false,
                $"window {window.Index} closed by time with {window.Records} records: too few to judge");
        }

        WindowsJudged++;
        RecordsJudged += window.Records;
        if (window.Failing)
        {
            ConsecutiveFailing++;
            FailingRecords += window.Records;
            ConsecutiveClean = 0;
            CleanRecords = 0;
            if (ConsecutiveFailing >= settings.FailureLimit && FailingRecords >= settings.MinFailingRecords)
            {
                State = VersionState.Quarantined;
                return new LifecycleChange(from, State, Verdict.Failed, true,
                    $"{ConsecutiveFailing} consecutive failing windows (limit {settings.FailureLimit}) over {FailingRecords} records: " +
                    string.Join("; ", window.Reasons));
            }

            State = VersionState.Suspect;
            return new LifecycleChange(from, State, Verdict, false, $"failing window {window.Index}: {string.Join("; ", window.Reasons)}");
        }

        ConsecutiveFailing = 0;
        FailingRecords = 0;
        ConsecutiveClean++;
        CleanRecords += window.Records;
        if (State is VersionState.Candidate or VersionState.Suspect
            && ConsecutiveClean >= settings.PromoteAfterCleanWindows && CleanRecords >= settings.PromoteAfterRecords)
        {
            State = VersionState.KnownGood;
            PromotedAt = window.ClosedAt;
            return new LifecycleChange(from, State, Verdict, false,
                $"{ConsecutiveClean} consecutive clean windows over {CleanRecords} records");
        }

        if (State == VersionState.Suspect && ConsecutiveClean >= settings.MinWindowsForVerdict)
        {
            State = VersionState.Candidate;
        }

        return new LifecycleChange(from, State, Verdict, false, "clean window");
    }

    /// <summary>An admin's promotion at <paramref name="at"/>: known-good, counters cleared.</summary>
    public void Promote(DateTimeOffset at)
    {
        State = VersionState.KnownGood;
        PromotedAt = at;
        ConsecutiveFailing = 0;
        FailingRecords = 0;
    }

    /// <summary>An admin's quarantine (or rollback by hand): Failed from now on, until an admin promotes the version again.</summary>
    public LifecycleChange Quarantine(string reason)
    {
        VersionState from = State;
        State = VersionState.Quarantined;
        return new LifecycleChange(from, State, Verdict.Failed, true, reason);
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
