namespace Monitor.Core.Versions;

/// <summary>A version as the rollback planner sees it.</summary>
/// <param name="LastServedAt">When the version last mirrored a record (null if never): it has served.</param>
public sealed record VersionRecord(string Version, VersionState State, DateTimeOffset? PromotedAt, DateTimeOffset? LastServedAt = null);

/// <summary>Chooses where a rollback goes.</summary>
public static class RollbackPlanner
{
    /// <summary>
    /// The most recently served trusted (known-good, so set by an admin, and not quarantined) version other than the
    /// failed one; null when there is none. A version that has never served is never a target: nobody has seen it
    /// work. What mirrored traffic can change is only the order among versions an admin trusted.
    /// </summary>
    public static string? Target(IEnumerable<VersionRecord> versions, string failed) =>
        versions
            .Where(v => v.State == VersionState.KnownGood && v.Version != failed && v.LastServedAt is not null)
            .OrderByDescending(v => v.LastServedAt)
            .ThenByDescending(v => v.PromotedAt)
            .ThenByDescending(v => v.Version, StringComparer.Ordinal)
            .FirstOrDefault()?.Version;

    /// <summary>Why there is no target, for alerts and refusals.</summary>
    public const string NoTarget = "no trusted version that has served to roll back to";
}

/// <summary>Where a failed version's automatic rollback goes, and whether it is signalled or held for a human.</summary>
/// <param name="Target">The version to roll back to; null when no trusted version that has served is left (then no signal is issued).</param>
/// <param name="Reason">Why the version failed, and that there is nowhere to go when there is not.</param>
/// <param name="HeldBecause">Why the signal is held for a human instead of issued; null when it is issued.</param>
/// <param name="RateLimited">Whether the rollback counts against the model's automatic-rollback allowance.</param>
public sealed record RollbackDecision(string? Target, string Reason, string? HeldBecause, bool RateLimited)
{
    /// <summary>The evidence of the version's "verdict" alert.</summary>
    public string VerdictEvidence => Target is null ? $"Failed: {Reason}; no rollback signal" : $"Failed: {Reason}; roll back to {Target}";

    /// <summary>Whether a rollback signal (issued or held) follows: only when there is a target.</summary>
    public bool Signals => Target is not null;

    /// <summary>The evidence of the version's "rollback-held" alert; null when the signal is issued or there is none.</summary>
    public string? HeldEvidence(string version) =>
        HeldBecause is null || Target is null ? null : $"rollback of {version} to {Target} held: {HeldBecause}";
}

/// <summary>
/// The rollback decision for a version that failed by policy: to the most recently served trusted version (no
/// signal at all when there is none); held for a human when the policy says so or the model already had its allowance of automatic
/// rollbacks in the rate period. An artifact swap (something inputs cannot cause) is exempt from the allowance.
/// </summary>
public static class RollbackPolicy
{
    /// <param name="model">The model, named in the reason a rollback is held.</param>
    /// <param name="failed">The version that failed.</param>
    /// <param name="failure">Why it failed.</param>
    /// <param name="versions">The model's versions as they stand.</param>
    /// <param name="settings">The version policy.</param>
    /// <param name="exempt">Whether the failure is exempt from the rate limit (an artifact swap).</param>
    /// <param name="rateLimitedSince">
    /// The model's rate-limited rollbacks since the given time (issued, held or waiting to be committed); asked
    /// only when the answer matters.
    /// </param>
    /// <param name="at">When the version failed.</param>
    public static RollbackDecision Decide(string model, string failed, string failure, IEnumerable<VersionRecord> versions,
        VersionPolicySettings settings, bool exempt, Func<DateTimeOffset, int> rateLimitedSince, DateTimeOffset at)
    {
        string? target = RollbackPlanner.Target(versions, failed);
        string reason = target is null ? $"{failure}; {RollbackPlanner.NoTarget}" : failure;
        if (target is null)
        {
            return new RollbackDecision(null, reason, null, RateLimited: false);
        }

        string? held = null;
        if (settings.HoldRollbacks)
        {
            held = "the policy holds rollbacks for a human's acknowledgement (Monitor:Versions:HoldRollbacks)";
        }
        else if (!exempt && rateLimitedSince(at - settings.RollbackRatePeriod) >= settings.MaxRollbacksPerPeriod)
        {
            held = $"model {model} already had {settings.MaxRollbacksPerPeriod} automatic rollback(s) within {settings.RollbackRatePeriod} " +
                "(Monitor:Versions:MaxRollbacksPerPeriod)";
        }

        return new RollbackDecision(target, reason, held, RateLimited: !exempt);
    }
}

/// <summary>Whether a rollback away from a version is issued, held for a human, or neither. Lower-cased on the wire.</summary>
public enum RollbackStatus
{
    None,
    Issued,
    Held,
}

/// <summary>A version's verdict as deployment tools read it.</summary>
/// <param name="RollbackRecommended">True while the version is quarantined and a rollback signal away from it was issued since it was last promoted.</param>
public sealed record VersionVerdict(Verdict Verdict, RollbackStatus Rollback, bool RollbackRecommended)
{
    /// <summary>
    /// The verdict of a version whose lifecycle is <paramref name="lifecycle"/>, given when the latest rollback
    /// signal away from it was issued (null if never) and whether a rollback away from it is held.
    /// </summary>
    public static VersionVerdict Of(VersionLifecycle lifecycle, DateTimeOffset? latestSignalAt, bool heldPending)
    {
        bool quarantined = lifecycle.State == VersionState.Quarantined;
        DateTimeOffset? promotedAt = lifecycle.PromotedAt;
        bool recommended = quarantined && latestSignalAt is not null && (promotedAt is null || latestSignalAt >= promotedAt);
        RollbackStatus rollback = recommended ? RollbackStatus.Issued : heldPending && quarantined ? RollbackStatus.Held : RollbackStatus.None;
        return new VersionVerdict(quarantined ? Verdict.Failed : lifecycle.Verdict, rollback, recommended);
    }
}
