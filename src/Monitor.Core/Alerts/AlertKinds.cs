namespace Monitor.Core.Alerts;

/// <summary>
/// The kinds of alert the version policy raises, and the dedupe keys of the ones that are one per version.
/// The strings are part of the wire (alert kind, Alertmanager alert names, stored alerts): never change one.
/// </summary>
public static class AlertKinds
{
    /// <summary>A feature or output channel drifted over its calibrated threshold.</summary>
    public const string Drift = "drift";

    /// <summary>Records were mirrored by an artifact other than the registered one.</summary>
    public const string ArtifactDigest = "artifact-digest";

    /// <summary>The sidecar cannot read a version's artifact at its configured path, so it cannot hash it itself.</summary>
    public const string ArtifactUnreadable = "artifact-unreadable";

    /// <summary>The dedupe key of the one "artifact-unreadable" alert of a version.</summary>
    public const string ArtifactUnreadableKey = ArtifactUnreadable;

    /// <summary>The version failed (by policy or by hand).</summary>
    public const string Verdict = "verdict";

    /// <summary>A rollback was held for a human's decision.</summary>
    public const string RollbackHeld = "rollback-held";

    /// <summary>The prefix of a trigger-pattern finding's kind; the detector follows ("trigger:D1").</summary>
    public const string TriggerPrefix = "trigger:";

    /// <summary>The dedupe key of the one "verdict" alert of a version.</summary>
    public const string VerdictFailedKey = "verdict-failed";

    /// <summary>The dedupe key of the one "rollback-held" alert of a version.</summary>
    public const string RollbackHeldKey = RollbackHeld;

    /// <summary>The dedupe key of the one "artifact-digest" alert of a version.</summary>
    public const string ArtifactDigestKey = ArtifactDigest;

    /// <summary>The kind of a finding of <paramref name="detector"/>.</summary>
    public static string Trigger(string detector) => TriggerPrefix + detector;

    /// <summary>The dedupe key of the alert of one client's report of one artifact digest differing from the registered one.</summary>
    public static string DigestReportKey(string client, string digest) => $"artifact-digest|{client}|{digest}";

    /// <summary>The dedupe key of a channel's drift alert.</summary>
    public static string DriftKey(string channel) => "drift|" + channel;

    /// <summary>The dedupe key of a finding's alert.</summary>
    public static string FindingKey(string findingDedupeKey) => "finding|" + findingDedupeKey;

    /// <summary>Whether <paramref name="kind"/> is a trigger-pattern finding's.</summary>
    public static bool IsTrigger(string kind) => kind.StartsWith("trigger", StringComparison.Ordinal);
}
