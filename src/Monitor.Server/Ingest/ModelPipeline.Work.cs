using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Registry;

namespace Monitor.Server.Ingest;

/// <summary>The messages of a model's pipeline queue: every change to its windows goes through them, in order.</summary>
internal sealed partial class ModelPipeline
{
    private abstract class Work;

    private sealed class IngestWork(VersionEntry version, RecordBatch batch, DigestReport? digest, long bytes) : Work
    {
        public VersionEntry Version { get; } = version;
        public RecordBatch Batch { get; } = batch;

        /// <summary>What the batch holds of the queue budgets until it is processed.</summary>
        public long Bytes { get; } = bytes;

        /// <summary>The artifact digest the client claimed, when it differs from the registered one.</summary>
        public DigestReport? Digest { get; } = digest;

        public bool DigestMismatch => Digest is not null;
    }

    private sealed class BaselineWork(CompiledBaseline baseline) : Work
    {
        public CompiledBaseline Baseline { get; } = baseline;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class CaptureWork(VersionEntry version, UploadSession session, Action<UploadSession> onFull) : Work
    {
        public VersionEntry Version { get; } = version;
        public UploadSession Session { get; } = session;
        public Action<UploadSession> OnFull { get; } = onFull;
    }

    private sealed class SnapshotWork(VersionEntry version, int closedWindows) : Work
    {
        public VersionEntry Version { get; } = version;
        public int ClosedWindows { get; } = closedWindows;
        public TaskCompletionSource<VersionSnapshot> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class HoldWork : Work, IAsyncDisposable
    {
        public TaskCompletionSource Holding { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask DisposeAsync()
        {
            Released.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class PromoteWork(VersionEntry version, string actor, string reason) : Work
    {
        public VersionEntry Version { get; } = version;
        public string Actor { get; } = actor;
        public string Reason { get; } = reason;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class DecideWork(StoredHeldRollback held, bool release, string actor, string reason) : Work
    {
        public StoredHeldRollback Held { get; } = held;
        public bool Release { get; } = release;
        public string Actor { get; } = actor;
        public string Reason { get; } = reason;
        public TaskCompletionSource<(StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)?> Result { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class TickWork : Work
    {
        public static readonly TickWork Instance = new();
    }

    private sealed class QuarantineWork(VersionEntry version, string actor, string reason, bool rollBack, string? to) : Work
    {
        public VersionEntry Version { get; } = version;
        public string Actor { get; } = actor;
        public string Reason { get; } = reason;
        public bool RollBack { get; } = rollBack;
        public string? To { get; } = to;
        public TaskCompletionSource<IncidentResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The sidecar hashed a version's artifact file: the digest it found, or why it could not read the file.</summary>
    private sealed class ArtifactWork(VersionEntry version, string? digest, string? error) : Work
    {
        public VersionEntry Version { get; } = version;
        public string? Digest { get; } = digest;
        public string? Error { get; } = error;
    }

    private sealed class FlushWork : Work
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
