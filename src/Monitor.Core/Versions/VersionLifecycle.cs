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

/// <summary>When versions are trusted, failed and rolled back; bound from the Monitor:Versions configuration section, range-checked by <see cref="Problems"/>.</summary>
public sealed record VersionPolicySettings
{
    /// <summary>
    /// Consecutive clean windows after which a candidate becomes observed-clean; known-good only when its artifact's signature
    /// verified against a key an admin pinned (otherwise only an admin trusts).
    /// </summary>
    public int PromoteAfterCleanWindows { get; init; } = 20;

    /// <summary>Records a candidate must have been judged on before it becomes observed-clean.</summary>
    public long PromoteAfterRecords { get; init; } = 20_000;

    /// <summary>
    /// The rarest trigger a candidate must have had the chance to show before it is promoted by the policy or its verdict is
    /// Successful: it must have served the records in which a trigger at this rate occurs as often as the baseline's readiness
    /// report says the detectors need to find it (at most <see cref="EvidenceOccurrences"/> times). An admin's promotion does not wait.
    /// </summary>
    public double MinTriggerRate { get; init; } = 1e-4;

    /// <summary>The most occurrences of a trigger at <see cref="MinTriggerRate"/> a candidate waits for (blind detectors count as this).</summary>
    public const int EvidenceOccurrences = 50;

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

    /// <summary>
    /// Whether a digest mismatch reported by a mirroring client quarantines the version by itself. Off: a client's
    /// claim is evidence (recorded, alerted critical), not a verdict, since any ingest key can make it.
    /// </summary>
    public bool QuarantineOnReportedDigestMismatch { get; init; }

    /// <summary>How long after its latest mirrored record a version counts as live for the model-level verdict.</summary>
    public TimeSpan LiveFor { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>What is out of range, each naming its key under <paramref name="section"/> (e.g. "Monitor:Versions").</summary>
    public IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:PromoteAfterCleanWindows", PromoteAfterCleanWindows, 1, 1_000_000),
            // One window never fails a version: the least evidence is two consecutive failing windows.
            SettingChecks.Range($"{section}:FailureLimit", FailureLimit, 2, 1_000_000),
            SettingChecks.Range($"{section}:MinWindowsForVerdict", MinWindowsForVerdict, 1, 1_000_000),
            SettingChecks.Range($"{section}:MinFailingRecords", MinFailingRecords, 0, long.MaxValue),
            MinTriggerRate is > 0 and <= 1 ? null : $"{section}:MinTriggerRate must lie in (0, 1], got {MinTriggerRate}",
            SettingChecks.Range($"{section}:MaxRollbacksPerPeriod", MaxRollbacksPerPeriod, 1, 1_000_000),
            SettingChecks.Positive($"{section}:RollbackRatePeriod", RollbackRatePeriod),
            SettingChecks.Positive($"{section}:LiveFor", LiveFor),
        ];
        return problems.OfType<string>();
    }
}

/// <summary>What a window did to a version.</summary>
public sealed record LifecycleChange(VersionState From, VersionState To, Verdict Verdict, bool Failed, string Reason);

/// <summary>A version's counters: what its lifecycle has judged. Stored at window close and restored at start.</summary>
public sealed record LifecycleCounters(
    int WindowsJudged,
    long RecordsJudged,
    int ConsecutiveFailing,
    long FailingRecords,
    int ConsecutiveClean,
    long CleanRecords,
    bool LatestInconclusive)
{
    public static readonly LifecycleCounters Zero = new(0, 0, 0, 0, 0, 0, false);
}

/// <summary>
/// The state machine of one version. Candidate → observed-clean after a run of clean windows and records (known-good
/// instead only when the artifact's signature verified against a key an admin pinned: otherwise only an admin trusts). A failing window marks a candidate suspect and counts towards
/// the failure limit; it never demotes an observed-clean or known-good version. The failure limit of
/// consecutive failing windows over enough records (or an artifact swap the policy acts on) → Failed and
/// quarantined. Inconclusive until enough windows were judged, and while a run of failing windows is open.
/// Pure: the caller persists the state and counters and acts on <see cref="LifecycleChange.Failed"/>. The one
/// place a version's state is held: one writer (the model's pipeline), read from any thread.
/// </summary>
public sealed class VersionLifecycle
{
    private readonly VersionPolicySettings _settings;
    private int _state;
    private object? _promotedAt;
    private object _counters;
    private long _requiredRecords;

    /// <param name="signatureVerified">
    /// Whether the version's artifact carries a signature verified against a key pinned for its model: such a version
    /// becomes known-good, not merely observed-clean, after its clean run (the signature is the trust a person gave).
    /// </param>
    public VersionLifecycle(VersionState state, VersionPolicySettings settings, DateTimeOffset? promotedAt = null, LifecycleCounters? counters = null,
        bool signatureVerified = false)
    {
        SignatureVerified = signatureVerified;
        _state = (int)state;
        _settings = settings;
        _promotedAt = promotedAt;
        _counters = counters ?? LifecycleCounters.Zero;
    }

    public VersionState State
    {
        get => (VersionState)Volatile.Read(ref _state);
        private set => Volatile.Write(ref _state, (int)value);
    }

    /// <summary>When an admin last made the version known-good (null if never).</summary>
    public DateTimeOffset? PromotedAt
    {
        get => (DateTimeOffset?)Volatile.Read(ref _promotedAt);
        private set => Volatile.Write(ref _promotedAt, value);
    }

    /// <summary>Whether rollbacks may go to the version and its traffic may become a baseline: known-good, set by a person.</summary>
    public bool Trusted => State == VersionState.KnownGood;

    public VersionPolicySettings Settings => _settings;

    /// <summary>Whether the artifact's signature verified against a pinned key: a clean run then makes the version known-good.</summary>
    public bool SignatureVerified { get; }

    /// <summary>The counters as one consistent snapshot (read from any thread).</summary>
    public LifecycleCounters Counters
    {
        get => (LifecycleCounters)Volatile.Read(ref _counters);
        private set => Volatile.Write(ref _counters, value);
    }

    public int ConsecutiveFailing => Counters.ConsecutiveFailing;
    public int ConsecutiveClean => Counters.ConsecutiveClean;
    public int WindowsJudged => Counters.WindowsJudged;
    public long RecordsJudged => Counters.RecordsJudged;
    public long CleanRecords => Counters.CleanRecords;

    /// <summary>Records in the current run of consecutive failing windows.</summary>
    public long FailingRecords => Counters.FailingRecords;

    /// <summary>Whether the latest window was closed by time before it filled (traffic too low to judge now).</summary>
    public bool LatestInconclusive => Counters.LatestInconclusive;

    /// <summary>
    /// Records a candidate must have been judged on before the policy promotes it or calls it Successful: enough for a trigger at
    /// <see cref="VersionPolicySettings.MinTriggerRate"/> to have occurred as often as the baseline's readiness report says the
    /// detectors need (<see cref="Detectors.ReadinessReport.RecordsNeeded"/>). Set by whoever holds the baseline in force; until it
    /// is, the most (<see cref="VersionPolicySettings.EvidenceOccurrences"/> occurrences).
    /// </summary>
    public long RequiredRecords
    {
        get => Volatile.Read(ref _requiredRecords) is var r && r > 0 ? r : FullEvidence(_settings);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            Volatile.Write(ref _requiredRecords, value);
        }
    }

    /// <summary>Records in which a trigger at the minimum rate occurs <see cref="VersionPolicySettings.EvidenceOccurrences"/> times.</summary>
    public static long FullEvidence(VersionPolicySettings settings) =>
        Detectors.ReadinessReport.RecordsFor(VersionPolicySettings.EvidenceOccurrences, settings.MinTriggerRate);

    /// <summary>Whether the policy waits for evidence: a version no person trusted that has not yet served <see cref="RequiredRecords"/>.</summary>
    public bool AwaitingEvidence => State is VersionState.Candidate or VersionState.Suspect && Counters.RecordsJudged < RequiredRecords;

    /// <summary>Why the verdict is not yet Successful for want of evidence (null when it is not waiting for it).</summary>
    public string? Waiting
    {
        get
        {
            if (!AwaitingEvidence)
            {
                return null;
            }

            long required = RequiredRecords;
            long judged = Counters.RecordsJudged;
            return string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"waiting for evidence: {judged:N0} of {required:N0} records judged, {required - judged:N0} more needed before a trigger at {_settings.MinTriggerRate:G3} of the records would have occurred as often as the baseline's readiness report says the detectors need") +
                " (Monitor:Versions:MinTriggerRate; an admin can promote the version instead)";
        }
    }

    public Verdict Verdict
    {
        get
        {
            LifecycleCounters c = Counters;
            return State == VersionState.Quarantined
                ? Verdict.Failed
                : c.WindowsJudged < _settings.MinWindowsForVerdict || c.LatestInconclusive || c.ConsecutiveFailing > 0 || State == VersionState.Suspect
                    || AwaitingEvidence
                    ? Verdict.Inconclusive
                    : Verdict.Successful;
        }
    }

    public LifecycleChange Observe(WindowMeasurement window)
    {
        VersionState from = State;
        LifecycleCounters c = Counters;
        if (State == VersionState.Quarantined)
        {
            return new LifecycleChange(from, State, Verdict.Failed, false, "quarantined");
        }

        if (!window.Conclusive && !window.Failing)
        {
            Counters = c with { LatestInconclusive = true };
            return new LifecycleChange(from, State, Verdict, false,
                $"window {window.Index} closed by time with {window.Records} records: too few to judge");
        }

        c = c with { LatestInconclusive = false, WindowsJudged = c.WindowsJudged + 1, RecordsJudged = c.RecordsJudged + window.Records };
        if (window.Failing)
        {
            c = c with
            {
                ConsecutiveFailing = c.ConsecutiveFailing + 1, FailingRecords = c.FailingRecords + window.Records,
                ConsecutiveClean = 0, CleanRecords = 0,
            };
            Counters = c;
            if (c.ConsecutiveFailing >= _settings.FailureLimit && c.FailingRecords >= _settings.MinFailingRecords)
            {
                State = VersionState.Quarantined;
                return new LifecycleChange(from, State, Verdict.Failed, true,
                    $"{c.ConsecutiveFailing} consecutive failing windows (limit {_settings.FailureLimit}) over {c.FailingRecords} records: " +
                    string.Join("; ", window.Reasons));
            }

            // One window never demotes: a trusted or observed-clean version keeps its state until the evidence fails it.
            if (State == VersionState.Candidate)
            {
                State = VersionState.Suspect;
            }

            return new LifecycleChange(from, State, Verdict, false,
                $"failing window {window.Index} ({c.ConsecutiveFailing} of {_settings.FailureLimit}): {string.Join("; ", window.Reasons)}");
        }

        c = c with { ConsecutiveFailing = 0, FailingRecords = 0, ConsecutiveClean = c.ConsecutiveClean + 1, CleanRecords = c.CleanRecords + window.Records };
        Counters = c;
        // A clean run long enough waits for the evidence a trigger at the minimum rate needs (RequiredRecords).
        if (State is VersionState.Candidate or VersionState.Suspect
            && c.ConsecutiveClean >= _settings.PromoteAfterCleanWindows && c.CleanRecords >= _settings.PromoteAfterRecords && !AwaitingEvidence)
        {
            if (SignatureVerified)
            {
                State = VersionState.KnownGood;
                PromotedAt = window.ClosedAt;
                return new LifecycleChange(from, State, Verdict, false,
                    $"{c.ConsecutiveClean} consecutive clean windows over {c.CleanRecords} records and a verified artifact signature (known-good)");
            }

            State = VersionState.ObservedClean;
            return new LifecycleChange(from, State, Verdict, false,
                $"{c.ConsecutiveClean} consecutive clean windows over {c.CleanRecords} records (observed clean; only an admin makes a version known-good)");
        }

        if (State == VersionState.Suspect && c.ConsecutiveClean >= _settings.MinWindowsForVerdict)
        {
            State = VersionState.Candidate;
        }

        return new LifecycleChange(from, State, Verdict, false, Waiting is { } waiting ? "clean window; " + waiting : "clean window");
    }

    /// <summary>An admin's promotion at <paramref name="at"/>: known-good, the failing run cleared.</summary>
    public void Promote(DateTimeOffset at)
    {
        State = VersionState.KnownGood;
        PromotedAt = at;
        Counters = Counters with { ConsecutiveFailing = 0, FailingRecords = 0 };
    }

    /// <summary>An admin's quarantine (or rollback by hand): Failed from now on, until an admin promotes the version again.</summary>
    public LifecycleChange Quarantine(string reason)
    {
        VersionState from = State;
        State = VersionState.Quarantined;
        return new LifecycleChange(from, State, Verdict.Failed, true, reason);
    }

    /// <summary>An artifact swap the policy acts on (corroborated, or the operator's policy says so): Failed at once.</summary>
    public LifecycleChange ArtifactMismatch(string reported)
    {
        VersionState from = State;
        State = VersionState.Quarantined;
        Counters = Counters with { ConsecutiveFailing = Math.Max(Counters.ConsecutiveFailing, _settings.FailureLimit) };
        return new LifecycleChange(from, State, Verdict.Failed, true, $"artifact {reported} differs from the registered one");
    }
}
