using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Models;

namespace Monitor.Server.Alerting;

/// <summary>
/// Turns the version policy's decisions (Monitor.Core.Versions) into incidents: the alert changes, the state
/// change and any rollback signal of one decision, committed together through <see cref="Incidents"/>. Called
/// only by a model's pipeline, on its thread, which owns the versions' lifecycles and alert policies.
/// </summary>
internal sealed class IncidentComposer(Incidents incidents, IIncidentStore store, MonitorMetrics metrics, TimeProvider time)
{
    /// <summary>
    /// A judged window: its signals go through the version's alert policy and its measurement through the
    /// lifecycle. A failure quarantines the version and plans its rollback.
    /// </summary>
    /// <returns>Whether the window led to a committed (or deferred) incident: alert changes, a state change or a rollback.</returns>
    public bool Judged(ModelEntry model, VersionEntry version, WindowJudgement judgement, bool conclusive)
    {
        DateTimeOffset at = judgement.Measurement.ClosedAt;
        List<Alert> alerts = [.. version.Alerts.Observe(judgement.Signals, at, countAbsence: conclusive)];
        LifecycleChange change = version.Lifecycle.Observe(judgement.Measurement);
        if (change.Failed)
        {
            Fail(model, version, change, alerts, exempt: false);
            return true;
        }

        var incident = new IncidentCommit(version.Model, version.Version, at);
        incident.Alerts.AddRange(alerts);
        if (change.From != change.To)
        {
            incident.StateChange = (change.To.ToString(), "policy", change.To switch
            {
                VersionState.ObservedClean => "observed-clean",
                VersionState.KnownGood => SqliteModelStore.SignedKnownGood,
                _ => "state",
            }, change.Reason);
        }

        if (!incident.IsEmpty)
        {
            incidents.CommitOrDefer(incident);
        }

        metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)version.Lifecycle.Verdict);
        return !incident.IsEmpty;
    }

    /// <summary>
    /// A client reported an artifact digest other than the registered one: a critical alert per (client, digest), at
    /// most <see cref="VersionEntry.MaxDigestReports"/> per version; the version's state is untouched (a claim any
    /// ingest key can make is evidence, not a verdict).
    /// </summary>
    public void DigestReported(VersionEntry version, string client, string digest, int records)
    {
        if (version.DigestReports.Count >= VersionEntry.MaxDigestReports || !version.DigestReports.Add((client, digest)))
        {
            return;
        }

        DateTimeOffset at = time.GetUtcNow();
        var incident = new IncidentCommit(version.Model, version.Version, at);
        incident.Alerts.Add(version.Alerts.Raise(new Signal(AlertKinds.DigestReportKey(client, digest), AlertKinds.ArtifactDigest, Severity.Critical,
            $"client '{client}' reports artifact {digest[..12]}… for version '{version.Version}' (registered {version.ArtifactSha256[..12]}…) " +
            $"on a batch of {records} records; a claim, not a verdict: the version is not quarantined on it " +
            "(Monitor:Versions:QuarantineOnReportedDigestMismatch)"), at));
        incidents.CommitOrDefer(incident);
    }

    /// <summary>
    /// A batch mirrored by an artifact other than the registered one, when the operator's policy acts on such a report
    /// (Monitor:Versions:QuarantineOnReportedDigestMismatch): the version fails at once, exempt from the rate limit.
    /// </summary>
    public void ArtifactSwapped(ModelEntry model, VersionEntry version, int records) =>
        ArtifactSwapped(model, version, "of a batch",
            $"a batch of {records} records was mirrored by an artifact other than the registered {version.ArtifactSha256[..12]}…", reason: null);

    /// <summary>
    /// The artifact is not the registered one, by <paramref name="evidence"/> (the sidecar's own hash of the file, or a report
    /// the operator's policy acts on): the version fails at once, exempt from the rate limit.
    /// </summary>
    /// <param name="reason">The failure's reason on the verdict and the signal; null: the lifecycle's ("artifact … differs from the registered one").</param>
    public void ArtifactSwapped(ModelEntry model, VersionEntry version, string which, string evidence, string? reason)
    {
        LifecycleChange change = version.Lifecycle.ArtifactMismatch(which);
        Alert alert = version.Alerts.Raise(new Signal(AlertKinds.ArtifactDigestKey, AlertKinds.ArtifactDigest, Severity.Critical, evidence),
            time.GetUtcNow());
        Fail(model, version, change with { Reason = reason ?? change.Reason }, [alert], exempt: true);
    }

    /// <summary>
    /// The sidecar could not read the version's artifact at its configured path: a warning (not a swap: a missing mount or
    /// a permission says nothing about the artifact), resolved once the file hashes to the registered digest again.
    /// </summary>
    public void ArtifactUnreadable(VersionEntry version, string? error)
    {
        DateTimeOffset at = time.GetUtcNow();
        var incident = new IncidentCommit(version.Model, version.Version, at);
        if (error is not null)
        {
            incident.Alerts.Add(version.Alerts.Raise(new Signal(AlertKinds.ArtifactUnreadableKey, AlertKinds.ArtifactUnreadable, Severity.Warning,
                $"the sidecar cannot read the artifact of version '{version.Version}' at {version.ArtifactPath}: {error.TrimEnd('.')}; " +
                "it cannot check the artifact serving is the registered one"), at));
        }
        else
        {
            incident.Alerts.AddRange(version.Alerts.ResolveRaised(at, AlertKinds.ArtifactUnreadableKey));
        }

        if (!incident.IsEmpty)
        {
            incidents.CommitOrDefer(incident);
        }
    }

    /// <summary>
    /// A failed version: quarantined, a critical "verdict" alert, and a rollback signal as <see cref="RollbackPolicy"/>
    /// decides (held for a human when it says so), all in one transaction.
    /// </summary>
    private void Fail(ModelEntry model, VersionEntry version, LifecycleChange change, List<Alert> alerts, bool exempt)
    {
        // Without a target there is no signal (a controller acting on one would have nowhere to go); the verdict alert says so.
        DateTimeOffset at = time.GetUtcNow();
        RollbackDecision decision = RollbackPolicy.Decide(version.Model, version.Version, change.Reason, Versions(model),
            version.Lifecycle.Settings, exempt,
            since => store.CountRateLimitedRollbacksSince(version.Model, since) + incidents.DeferredRateLimitedRollbacks(version.Model), at);
        alerts.Add(version.Alerts.Raise(new Signal(AlertKinds.VerdictFailedKey, AlertKinds.Verdict, Severity.Critical, decision.VerdictEvidence), at));
        if (decision.HeldEvidence(version.Version) is { } held)
        {
            alerts.Add(version.Alerts.Raise(new Signal(AlertKinds.RollbackHeldKey, AlertKinds.RollbackHeld, Severity.Critical, held), at));
        }

        var incident = new IncidentCommit(version.Model, version.Version, at)
        {
            StateChange = (nameof(VersionState.Quarantined), "policy", "quarantine", decision.Reason),
            Rollback = decision.Signals ? new PlannedRollback(decision.Target, decision.Reason, "policy", decision.HeldBecause, decision.RateLimited) : null,
        };
        incident.Alerts.AddRange(alerts);
        incidents.CommitOrDefer(incident);
        metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)Verdict.Failed);
    }

    /// <summary>An admin promoted (or reinstated) the version: known-good, and the alerts that last until someone acts are resolved.</summary>
    public void Promoted(ModelEntry model, VersionEntry version, string actor, string reason)
    {
        var incident = new IncidentCommit(version.Model, version.Version, time.GetUtcNow())
        {
            StateChange = (nameof(VersionState.KnownGood), actor, "promote", reason),
        };
        incident.Alerts.AddRange(version.Alerts.ResolveRaised(incident.At));
        incidents.Commit(incident);
        version.Lifecycle.Promote(incident.At);
        metrics.RollbackRecommended.WithLabels(model.Name, version.Version).Set(0);
        metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)version.Lifecycle.Verdict);
    }

    /// <summary>
    /// Releases or dismisses a held rollback; its "rollback-held" alert resolves either way. A release goes to
    /// the rollback target as it is now, and is refused for a version reinstated since it was held.
    /// </summary>
    public (StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)? Decide(ModelEntry model, StoredHeldRollback held, bool release,
        string actor, string reason)
    {
        DateTimeOffset at = time.GetUtcNow();
        if (!model.Versions.TryGetValue(held.From, out VersionEntry? version))
        {
            return null;
        }

        if (release && held.Decision is null && version.State != VersionState.Quarantined)
        {
            throw new Core.MonitorException(Core.ErrorKind.FailedPrecondition,
                $"version '{version.Version}' was reinstated ({version.State}) after the rollback was held; dismiss it instead");
        }

        string? to = RollbackPlanner.Target(Versions(model), version.Version);
        var decided = incidents.Decide(held.Id, release, to, actor, reason, at);
        if (decided is { AlreadyDecided: false })
        {
            var incident = new IncidentCommit(version.Model, version.Version, at);
            incident.Alerts.AddRange(version.Alerts.ResolveRaised(at, AlertKinds.RollbackHeldKey));
            if (!incident.IsEmpty)
            {
                incidents.Commit(incident);
            }
        }

        return decided;
    }

    /// <summary>Quarantines a version by hand and, when <paramref name="rollBack"/>, issues a rollback signal (no evidence minimum, rate limit or hold).</summary>
    public IncidentResult Quarantined(ModelEntry model, VersionEntry version, string actor, string reason, bool rollBack, string? to)
    {
        DateTimeOffset at = time.GetUtcNow();
        string? target = rollBack ? to ?? RollbackPlanner.Target(Versions(model), version.Version) : null;
        if (rollBack && target is null)
        {
            throw new Core.MonitorException(Core.ErrorKind.FailedPrecondition,
                $"{RollbackPlanner.NoTarget} for version '{version.Version}': name one with to_version, or quarantine without a rollback");
        }

        string action = rollBack ? "roll-back" : "quarantine";
        Alert alert = version.Alerts.Raise(new Signal(AlertKinds.VerdictFailedKey, AlertKinds.Verdict, Severity.Critical,
            rollBack ? $"rolled back by {actor} to {target}: {reason}" : $"quarantined by {actor}: {reason}"),
            at);
        var incident = new IncidentCommit(version.Model, version.Version, at)
        {
            StateChange = (nameof(VersionState.Quarantined), actor, action, reason),
            Rollback = rollBack ? new PlannedRollback(target, $"rolled back by {actor}: {reason}", actor, null) : null,
        };
        incident.Alerts.Add(alert);
        IncidentResult result = incidents.Commit(incident);
        // Only once committed: a store that refuses the commit leaves the version as it was (the admin's call fails).
        version.Lifecycle.Quarantine($"{action} by {actor}: {reason}");
        metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)Verdict.Failed);
        return result;
    }

    private static IEnumerable<VersionRecord> Versions(ModelEntry model) =>
        model.Versions.Values.Select(v => new VersionRecord(v.Version, v.State, v.PromotedAt, v.LastServedAt));
}
