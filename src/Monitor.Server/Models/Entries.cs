using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Versions;
using Monitor.Core.Windows;

namespace Monitor.Server.Models;

/// <summary>A registered model: its schema, versions and the baseline in force.</summary>
internal sealed class ModelEntry
{
    public ModelEntry(string name, ModelSchema schema, string description, DateTimeOffset registeredAt)
    {
        Name = name;
        Schema = schema;
        Description = description;
        RegisteredAt = registeredAt;
    }

    public string Name { get; }
    public ModelSchema Schema { get; }
    public string Description { get; }
    public DateTimeOffset RegisteredAt { get; }

    /// <summary>Versions by name; written under the registry's lock, read freely.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, VersionEntry> Versions { get; } = new(StringComparer.Ordinal);

    private volatile CompiledBaseline? _baseline;

    /// <summary>
    /// The baseline in force: every version is judged against it. Written only by the model's ingest pipeline, which
    /// switches to a new one in queue order; read from any thread.
    /// </summary>
    public CompiledBaseline? Baseline { get => _baseline; set => _baseline = value; }

    /// <summary>The public keys the model's artifact signatures are verified against; replaced whole under the registry's lock.</summary>
    public IReadOnlyList<SigningKey> Keys { get; set; } = [];

    /// <summary>Whether a version is registered only with a signature that verifies against one of <see cref="Keys"/>.</summary>
    public bool RequireSigned { get; set; }

    /// <summary>Where the sidecar reads the artifact of a version registered without a path of its own ("{version}": its name); empty: none.</summary>
    public string ArtifactPathTemplate { get; set; } = "";

    /// <summary>The version that mirrored the latest accepted records: the one serving the model.</summary>
    public string? ServingVersion { get; set; }

    /// <summary>
    /// The versions live now: those that mirrored records within <paramref name="liveFor"/> of <paramref name="now"/>,
    /// most recent first.
    /// </summary>
    public IEnumerable<VersionEntry> LiveVersions(DateTimeOffset now, TimeSpan liveFor) => Versions.Values
        .Where(v => v.LastServedAt is { } at && now - at <= liveFor)
        .OrderByDescending(v => v.LastServedAt);
}

/// <summary>A registered version: its artifact digest, counters, its lifecycle (the state) and its windows (owned by the model's pipeline).</summary>
internal sealed class VersionEntry
{
    private long _recordsAccepted;
    private long _recordsDigestMismatch;
    private long _windowsClosed;
    private object? _lastServedAt;
    private object? _artifactVerifiedAt;
    private StoredReference? _reference;

    public VersionEntry(string model, string version, string artifactSha256, string source, VersionState state, DateTimeOffset? promotedAt,
        DateTimeOffset registeredAt, VersionMonitor monitor, VersionPolicySettings policy, Core.Alerts.AlertPolicySettings alerts,
        LifecycleCounters? counters = null, DateTimeOffset? lastServedAt = null, string signedBy = "", string artifactPath = "",
        string unsafeArtifact = "")
    {
        Alerts = new Core.Alerts.AlertPolicy(model, version, alerts);
        // A signature vouches for who built the artifact, not for what it does when loaded: an unsafe scan blocks trust.
        Lifecycle = new VersionLifecycle(state, policy, promotedAt, counters, signatureVerified: signedBy.Length > 0 && unsafeArtifact.Length == 0);
        UnsafeArtifact = unsafeArtifact;
        SignedBy = signedBy;
        ArtifactPath = artifactPath;
        _lastServedAt = lastServedAt;
        Model = model;
        Version = version;
        ArtifactSha256 = artifactSha256;
        Source = source;
        RegisteredAt = registeredAt;
        Monitor = monitor;
    }

    public string Model { get; }
    public string Version { get; }
    public string ArtifactSha256 { get; }
    public string Source { get; }
    public DateTimeOffset RegisteredAt { get; }

    /// <summary>The key id of the pinned key the artifact's signature verified against at registration; empty when unsigned.</summary>
    public string SignedBy { get; }

    /// <summary>
    /// Why the sidecar's scan of the artifact (<see cref="Core.Provenance.ArtifactScanner"/>) found it unsafe to load; empty when
    /// it was not scanned or was safe. A version with an unsafe artifact is never trusted (no promotion, no known-good).
    /// </summary>
    public string UnsafeArtifact { get; }

    /// <summary>Where the sidecar reads the artifact to hash it itself; empty when it cannot.</summary>
    public string ArtifactPath { get; }

    /// <summary>When the sidecar last hashed the artifact at <see cref="ArtifactPath"/> and found the registered digest (null if never).</summary>
    public DateTimeOffset? ArtifactVerifiedAt
    {
        get => (DateTimeOffset?)Volatile.Read(ref _artifactVerifiedAt);
        set => Volatile.Write(ref _artifactVerifiedAt, value);
    }

    /// <summary>The version's tumbling windows. Only the model's pipeline touches it.</summary>
    public VersionMonitor Monitor { get; }

    /// <summary>The version's state machine and verdict: the one place its state is held. Only the model's pipeline changes it.</summary>
    public VersionLifecycle Lifecycle { get; }

    /// <summary>The version's alerts (hysteresis, cooldown). Only the model's pipeline changes it.</summary>
    public Core.Alerts.AlertPolicy Alerts { get; }

    /// <summary>When the detectors' state was last checkpointed (monotonic timestamp; 0: never). Only the model's pipeline touches it.</summary>
    public long CheckpointedAt { get; set; }

    /// <summary>
    /// The baseline whose reference this version's windows were last logged as not representing (0: none); set and read
    /// by the model's pipeline only, so the warning is logged once per run of mostly drifting windows.
    /// </summary>
    public long ReferenceWarnedFor { get; set; }

    /// <summary>Each finding's latest state and the window it was last raised or updated in, by dedupe key. Only the model's pipeline touches it.</summary>
    public Dictionary<string, LiveFinding> LiveFindings { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The (client, digest) pairs whose mismatch reports raised an alert, at most <see cref="MaxDigestReports"/>. Only the
    /// model's pipeline touches it.
    /// </summary>
    public HashSet<(string Client, string Digest)> DigestReports { get; } = [];

    /// <summary>Distinct (client, digest) mismatch reports alerted per version; more are counted, not alerted one by one.</summary>
    public const int MaxDigestReports = 16;

    /// <summary>When the version last mirrored records (null if never): it has served. Read and written from any thread.</summary>
    public DateTimeOffset? LastServedAt => (DateTimeOffset?)Volatile.Read(ref _lastServedAt);

    /// <summary>When an admin last made the version known-good (null if never).</summary>
    public DateTimeOffset? PromotedAt => Lifecycle.PromotedAt;

    /// <summary>The version's latest own reference (docs/detectors.md, "Per-version references"); null when it has none. Read from any thread.</summary>
    public StoredReference? Reference
    {
        get => Volatile.Read(ref _reference);
        set => Volatile.Write(ref _reference, value);
    }

    public VersionState State => Lifecycle.State;

    public long RecordsAccepted => Interlocked.Read(ref _recordsAccepted);
    public long RecordsDigestMismatch => Interlocked.Read(ref _recordsDigestMismatch);
    public long WindowsClosed => Interlocked.Read(ref _windowsClosed);

    /// <summary>The version's counters now, to store.</summary>
    public Windows.VersionCounters Counters() => new(RecordsAccepted, WindowsClosed, Lifecycle.Counters, LastServedAt);

    public void Restore(long accepted, long mismatched, long windowsClosed)
    {
        Interlocked.Exchange(ref _recordsAccepted, accepted);
        Interlocked.Exchange(ref _recordsDigestMismatch, mismatched);
        Interlocked.Exchange(ref _windowsClosed, windowsClosed);
    }

    /// <summary>Counts accepted records at <paramref name="at"/>; records (not an empty batch) mean the version served.</summary>
    public void CountAccepted(int records, DateTimeOffset at)
    {
        Interlocked.Add(ref _recordsAccepted, records);
        if (records > 0)
        {
            Volatile.Write(ref _lastServedAt, at);
        }
    }

    public void CountDigestMismatch(int records) => Interlocked.Add(ref _recordsDigestMismatch, records);

    public void CountWindowClosed() => Interlocked.Increment(ref _windowsClosed);
}
