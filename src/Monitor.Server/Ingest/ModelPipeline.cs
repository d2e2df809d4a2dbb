using System.Threading.Channels;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Server.Alerting;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Models;
using Monitor.Server.Windows;

namespace Monitor.Server.Ingest;

/// <summary>What every model's pipeline shares.</summary>
internal sealed record PipelineContext(IWindowStore WindowStore, MonitorMetrics Metrics, IncidentComposer Incidents, MonitorOptions Options,
    TimeProvider Time,
    WindowWriter Windows, StoreHealth Health, Readiness.BaselineReadiness Readiness)
{
    /// <summary>Bytes of batches queued over all models (Monitor:Ingest:QueueBytesTotal).</summary>
    public QueueBytes QueueBytes { get; } = new(Options.Ingest.QueueBytesTotal);
}

/// <summary>A mirroring client's claim that it loaded an artifact other than the registered one.</summary>
internal sealed record DigestReport(string Client, string Digest);

/// <summary>What the report service reads of a version: the open window and the latest closed ones.</summary>
internal sealed record VersionSnapshot(CompiledBaseline? Baseline, WindowResult? Current, IReadOnlyList<WindowResult> Closed,
    IReadOnlyList<Finding> Findings)
{
    /// <summary>How the version's kept windows fared against the baseline in force.</summary>
    public ReferenceFit Fit { get; init; }
}

/// <summary>
/// The single writer of a model's window state. Batches, baseline changes and report reads go
/// through one bounded queue in order, so the hot path takes no locks and a client that reads a
/// report after its ingest call returned sees its records. Each message (<see cref="PipelineWork"/>) carries its
/// own handling; the state they act on is the model's <see cref="ModelAnalysis"/>.
/// </summary>
internal sealed class ModelPipeline : IAsyncDisposable
{
    private readonly ModelEntry _model;
    private readonly PipelineContext _context;
    private readonly ILogger _logger;
    private readonly ModelAnalysis _analysis;
    private readonly Channel<PipelineWork> _queue;
    private readonly QueueBytes _queueBytes;
    private readonly Task _loop;
    private readonly ITimer? _ticker;

    public ModelPipeline(ModelEntry model, CompiledBaseline? baseline, PipelineContext context, ILogger logger)
    {
        _model = model;
        _context = context;
        _logger = logger;
        _analysis = new ModelAnalysis(model, baseline, context, logger);
        Capacity = context.Options.Ingest.QueueCapacity;
        _queueBytes = new QueueBytes(context.Options.Ingest.QueueBytesPerModel);
        _queue = Channel.CreateBounded<PipelineWork>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
        TimeSpan maxAge = context.Options.Windows.MaxAge;
        if (maxAge > TimeSpan.Zero)
        {
            // Windows are checked a few times per MaxAge, so one closes at most a quarter of MaxAge late.
            TimeSpan period = TimeSpan.FromTicks(Math.Clamp(maxAge.Ticks / 4, TimeSpan.TicksPerSecond / 4, TimeSpan.TicksPerSecond * 30));
            _ticker = context.Time.CreateTimer(_ => _queue.Writer.TryWrite(TickWork.Instance), null, period, period);
        }
    }

    public int Capacity { get; }

    /// <summary>The baseline in force: every version is judged against it. Read from any thread.</summary>
    public CompiledBaseline? Baseline => _model.Baseline;

    public int Depth => _queue.Reader.Count;

    /// <summary>Bytes of the batches queued and not yet processed.</summary>
    public long QueuedBytes => _queueBytes.Used;

    /// <summary>
    /// Queues a validated batch; returns why not when the queue is full in batches, or the batch's bytes do not fit in
    /// this model's or the process's queue budget (the batch is dropped).
    /// </summary>
    /// <param name="digest">The client's digest claim when it differs from the registered one; null when it matches.</param>
    public QueueRefusal? TryEnqueue(VersionEntry version, RecordBatch batch, DigestReport? digest)
    {
        long bytes = batch.RetainedBytes();
        if (!_queueBytes.TryReserve(bytes))
        {
            return new QueueRefusal("queue_bytes_per_model", $"the ingest queue of model '{_model.Name}' holds {_queueBytes.Used} bytes; " +
                $"this batch's {bytes} bytes would pass Monitor:Ingest:QueueBytesPerModel ({_queueBytes.Limit}); the batch was dropped");
        }

        QueueBytes total = _context.QueueBytes;
        if (!total.TryReserve(bytes))
        {
            _queueBytes.Release(bytes);
            return new QueueRefusal("queue_bytes_total", $"the ingest queues of all models hold {total.Used} bytes; " +
                $"this batch's {bytes} bytes would pass Monitor:Ingest:QueueBytesTotal ({total.Limit}); the batch was dropped");
        }

        if (!_queue.Writer.TryWrite(new IngestWork(version, batch, digest, bytes)))
        {
            Released(bytes);
            return new QueueRefusal("queue_batches", $"the ingest queue of model '{_model.Name}' is full ({Capacity} batches); the batch was dropped");
        }

        return null;
    }

    private void Released(long bytes)
    {
        _queueBytes.Release(bytes);
        _context.QueueBytes.Release(bytes);
    }

    /// <summary>
    /// Judges every version against this baseline from the batches queued after this call on; completes once it is
    /// in force (batches queued before it are judged against the previous one).
    /// </summary>
    public async Task UseBaselineAsync(CompiledBaseline baseline, CancellationToken cancellationToken)
    {
        var work = new BaselineWork(baseline);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        await work.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Feeds a known-good version's accepted records to a baseline capture until it is full.</summary>
    /// <param name="offer">Takes an accepted batch of <paramref name="version"/>; true once the capture is full.</param>
    /// <param name="onFull">Runs once, on the pipeline, after the batch that filled the capture.</param>
    public ValueTask StartCaptureAsync(VersionEntry version, Func<RecordBatch, bool> offer, Action onFull, CancellationToken cancellationToken) =>
        StartCaptureAsync(new CaptureWork(version, offer, onFull), cancellationToken);

    /// <summary>Feeds a version's accepted records to <paramref name="capture"/> until it is full or dropped.</summary>
    public ValueTask StartCaptureAsync(CaptureWork capture, CancellationToken cancellationToken) => _queue.Writer.WriteAsync(capture, cancellationToken);

    public async Task<VersionSnapshot> SnapshotAsync(VersionEntry version, int closedWindows, CancellationToken cancellationToken)
    {
        var work = new SnapshotWork(version, closedWindows);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        return await work.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// An admin's promotion (or reinstatement) of a version: the state, its audit entry and the resolution of
    /// the alerts that last until someone acts are committed together by the pipeline, which owns the
    /// lifecycle, after every batch queued before it. Completes once committed.
    /// </summary>
    public async Task PromoteAsync(VersionEntry version, string actor, string reason, CancellationToken cancellationToken)
    {
        var work = new PromoteWork(version, actor, reason);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        await work.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Completes once everything queued before it has been processed, and its closed windows stored.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var work = new FlushWork();
        await _queue.Writer.WriteAsync(work, cancellationToken);
        await work.Done.Task.WaitAsync(cancellationToken);
        await _context.Windows.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Holds the pipeline after everything queued so far, until the returned handle is disposed; batches
    /// queue up meanwhile. Tests use it to fill the queue deterministically.
    /// </summary>
    internal async Task<IAsyncDisposable> HoldAsync(CancellationToken cancellationToken)
    {
        var hold = new HoldWork();
        await _queue.Writer.WriteAsync(hold, cancellationToken);
        await hold.Holding.Task.WaitAsync(cancellationToken);
        return hold;
    }

    /// <summary>Quarantines a version by hand and, when <paramref name="rollBack"/>, issues a rollback signal (no evidence minimum, rate limit or hold).</summary>
    public async Task<IncidentResult> QuarantineAsync(VersionEntry version, string actor, string reason, bool rollBack, string? to,
        CancellationToken cancellationToken)
    {
        var work = new QuarantineWork(version, actor, reason, rollBack, to);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        return await work.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The sidecar's own hash of a version's artifact file (<paramref name="digest"/>), or why it could not read it
    /// (<paramref name="error"/>): a digest other than the registered one is a verified swap. False when the queue is full
    /// (the next check repeats it).
    /// </summary>
    public bool TryArtifactHashed(VersionEntry version, string? digest, string? error) =>
        _queue.Writer.TryWrite(new ArtifactWork(version, digest, error));

    /// <summary>Releases or dismisses a held rollback of this model (see <see cref="Incidents.Decide"/>).</summary>
    public async Task<(StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)?> DecideHeldAsync(StoredHeldRollback held, bool release,
        string actor, string reason, CancellationToken cancellationToken)
    {
        var work = new DecideWork(held, release, actor, reason);
        await _queue.Writer.WriteAsync(work, cancellationToken);
        return await work.Result.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_ticker is not null)
        {
            await _ticker.DisposeAsync();
        }

        _queue.Writer.TryComplete();
        await _loop;
        await _context.Windows.FlushAsync(CancellationToken.None); // its queued windows carry older counters than these
        _analysis.StoreState();
    }

    private async Task RunAsync()
    {
        await foreach (PipelineWork work in _queue.Reader.ReadAllAsync())
        {
            try
            {
                if (work is HoldWork hold)
                {
                    hold.Holding.TrySetResult();
                    await hold.Released.Task;
                    continue;
                }

                work.Run(_analysis);
            }
            catch (Exception ex)
            {
                Log.PipelineError(_logger, ex, _model.Name);
                work.Fail(ex);
            }
            finally
            {
                if (work is IngestWork ingest)
                {
                    Released(ingest.Bytes);
                }
            }
        }
    }
}
