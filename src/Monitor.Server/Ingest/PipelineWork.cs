using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Versions;
using Monitor.Server.Alerting;
using Monitor.Server.Models;

namespace Monitor.Server.Ingest;

/// <summary>
/// A message of a model's pipeline queue: every change to its windows goes through one, in order, and each carries its
/// own handling of the model's analysis.
/// </summary>
internal abstract class PipelineWork
{
    /// <summary>Handles the message on the pipeline's single reader.</summary>
    public abstract void Run(ModelAnalysis analysis);

    /// <summary>Hands a failure of <see cref="Run"/> to whoever waits for the message.</summary>
    public virtual void Fail(Exception exception)
    {
    }
}

/// <summary>A validated batch of one version.</summary>
internal sealed class IngestWork(VersionEntry version, RecordBatch batch, DigestReport? digest, long bytes) : PipelineWork
{
    public VersionEntry Version { get; } = version;
    public RecordBatch Batch { get; } = batch;

    /// <summary>What the batch holds of the queue budgets until it is processed.</summary>
    public long Bytes { get; } = bytes;

    /// <summary>The artifact digest the client claimed, when it differs from the registered one.</summary>
    public DigestReport? Digest { get; } = digest;

    public bool DigestMismatch => Digest is not null;

    public override void Run(ModelAnalysis analysis) => analysis.Ingest(this);
}

/// <summary>A new baseline in force for every version of the model.</summary>
internal sealed class BaselineWork(CompiledBaseline baseline) : PipelineWork
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis)
    {
        analysis.UseBaseline(baseline);
        Done.TrySetResult();
    }

    public override void Fail(Exception exception) => Done.TrySetException(exception);
}

/// <summary>
/// A capture fed with a version's accepted records (a baseline's from a known-good version, or a version's own reference):
/// <see cref="Offer"/> takes a batch and says whether the capture is full, then <see cref="OnFull"/> runs once, on the pipeline.
/// A capture marked <see cref="Dropped"/> is taken off the pipeline at its next batch without running it.
/// </summary>
internal sealed class CaptureWork(VersionEntry version, Func<RecordBatch, bool> offer, Action onFull) : PipelineWork
{
    private volatile bool _dropped;

    public VersionEntry Version { get; } = version;
    public Func<RecordBatch, bool> Offer { get; } = offer;
    public Action OnFull { get; } = onFull;

    /// <summary>Set from any thread: the capture takes no more records and its <see cref="OnFull"/> never runs.</summary>
    public bool Dropped
    {
        get => _dropped;
        set => _dropped = value;
    }

    public override void Run(ModelAnalysis analysis) => analysis.StartCapture(this);
}

/// <summary>A report's read of a version.</summary>
internal sealed class SnapshotWork(VersionEntry version, int closedWindows) : PipelineWork
{
    public TaskCompletionSource<VersionSnapshot> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis) => Result.TrySetResult(analysis.Snapshot(version, closedWindows));

    public override void Fail(Exception exception) => Result.TrySetException(exception);
}

/// <summary>Holds the queue until disposed (the loop waits on it; <see cref="Run"/> is never called).</summary>
internal sealed class HoldWork : PipelineWork, IAsyncDisposable
{
    public TaskCompletionSource Holding { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis)
    {
    }

    public ValueTask DisposeAsync()
    {
        Released.TrySetResult();
        return ValueTask.CompletedTask;
    }
}

/// <summary>An admin's promotion (or reinstatement) of a version.</summary>
internal sealed class PromoteWork(VersionEntry version, string actor, string reason) : PipelineWork
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis)
    {
        analysis.Incidents.Promoted(analysis.Model, version, actor, reason);
        Done.TrySetResult();
    }

    public override void Fail(Exception exception) => Done.TrySetException(exception);
}

/// <summary>An admin's release or dismissal of a held rollback.</summary>
internal sealed class DecideWork(StoredHeldRollback held, bool release, string actor, string reason) : PipelineWork
{
    public TaskCompletionSource<(StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)?> Result { get; } =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis) =>
        Result.TrySetResult(analysis.Incidents.Decide(analysis.Model, held, release, actor, reason));

    public override void Fail(Exception exception) => Result.TrySetException(exception);
}

/// <summary>The timer's check for windows open longer than Monitor:Windows:MaxAge.</summary>
internal sealed class TickWork : PipelineWork
{
    public static readonly TickWork Instance = new();

    public override void Run(ModelAnalysis analysis) => analysis.CloseOldWindows();
}

/// <summary>An admin's quarantine of a version, with or without a rollback signal.</summary>
internal sealed class QuarantineWork(VersionEntry version, string actor, string reason, bool rollBack, string? to) : PipelineWork
{
    public TaskCompletionSource<IncidentResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis) =>
        Result.TrySetResult(analysis.Incidents.Quarantined(analysis.Model, version, actor, reason, rollBack, to));

    public override void Fail(Exception exception) => Result.TrySetException(exception);
}

/// <summary>The sidecar hashed a version's artifact file: the digest it found, or why it could not read the file.</summary>
internal sealed class ArtifactWork(VersionEntry version, string? digest, string? error) : PipelineWork
{
    public override void Run(ModelAnalysis analysis)
    {
        if (version.State == VersionState.Quarantined)
        {
            return;
        }

        if (digest is { } hashed && hashed != version.ArtifactSha256)
        {
            string evidence = $"the sidecar hashed {version.ArtifactPath}: {hashed} differs from the registered {version.ArtifactSha256}";
            analysis.Incidents.ArtifactSwapped(analysis.Model, version, "hashed by the sidecar", evidence, evidence);
        }
        else
        {
            analysis.Incidents.ArtifactUnreadable(version, error);
        }
    }
}

/// <summary>Completes once everything queued before it has been processed.</summary>
internal sealed class FlushWork : PipelineWork
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Run(ModelAnalysis analysis) => Done.TrySetResult();
}
