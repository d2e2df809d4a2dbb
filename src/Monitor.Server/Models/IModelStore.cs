using Monitor.Core.Schema;

namespace Monitor.Server.Models;

/// <summary>A registered model as stored.</summary>
internal sealed record StoredModel(string Name, ModelSchema Schema, string Description, DateTimeOffset RegisteredAt, long BaselineId,
    bool RequireSigned = false, string ArtifactPathTemplate = "");

/// <summary>A registered version as stored, with its counters, its lifecycle's counters (null before any were stored) and when it last served.</summary>
internal sealed record StoredVersion(
    string Model, string Version, string ArtifactSha256, string Source, string State, DateTimeOffset RegisteredAt,
    long RecordsAccepted, long RecordsDigestMismatch, long WindowsClosed,
    Core.Versions.LifecycleCounters? Lifecycle = null, DateTimeOffset? LastServedAt = null, string SignedBy = "", string ArtifactPath = "",
    string UnsafeArtifact = "");

/// <summary>Registered models and versions, their counters of mismatched artifacts, and the audit log of what was done to them.</summary>
internal interface IModelStore
{
    /// <summary>Where the store keeps its data, for logs.</summary>
    string Location { get; }

    void InsertModel(StoredModel model);

    List<StoredModel> LoadModels();

    /// <summary>Pins and unpins a model's signing keys and sets whether it requires signed versions, in one transaction.</summary>
    void SaveSigning(string model, IReadOnlyList<SigningKey> pin, IReadOnlyList<string> unpin, bool requireSigned);

    void SaveArtifactPathTemplate(string model, string template);

    /// <summary>Every model's pinned keys, by model.</summary>
    Dictionary<string, List<SigningKey>> LoadKeys();

    void InsertVersion(StoredVersion version);

    /// <summary>Every version with its counters, by model and registration.</summary>
    List<StoredVersion> LoadVersions();

    void Audit(DateTimeOffset at, string actor, string action, string model, string version, string reason);

    List<(DateTimeOffset At, string Actor, string Action, string Model, string Version, string Reason)> LoadAudit(string model);

    /// <summary>Distinct reported digests stored per version; further ones are counted under <see cref="OtherDigests"/>.</summary>
    public const int MaxDigestRows = 16;

    /// <summary>The digest column of the row that counts the reports beyond <see cref="MaxDigestRows"/> distinct digests.</summary>
    public const string OtherDigests = "other";

    /// <summary>When an admin last made each version of a model known-good (from the audit log).</summary>
    Dictionary<string, DateTimeOffset> LoadPromotions(string model);

    /// <summary>
    /// Records, durably, that a batch arrived with an artifact digest other than the registered one (a bounded number of
    /// rows per version); true when the digest was new for the version.
    /// </summary>
    bool RecordDigestMismatch(string model, string version, string artifactSha256, long records, DateTimeOffset at);

    List<(string ArtifactSha256, DateTimeOffset FirstSeen, DateTimeOffset LastSeen, long Batches, long Records)> LoadDigestMismatches(
        string model, string version);
}
