using System.Globalization;
using System.Threading.Channels;
using Monitor.Core;
using Monitor.Core.Alerts;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;
using Monitor.Server.Windows;

namespace Monitor.Server.Ingest;

/// <summary>What every model's pipeline shares.</summary>
internal sealed record PipelineContext(IWindowStore WindowStore, MonitorMetrics Metrics, IncidentComposer Incidents, MonitorOptions Options,
    TimeProvider Time,
    WindowWriter Windows, StoreHealth Health)
{
    /// <summary>Bytes of batches queued over all models (Monitor:Ingest:QueueBytesTotal).</summary>
    public QueueBytes QueueBytes { get; } = new(Options.Ingest.QueueBytesTotal);
}

/// <summary>A mirroring client's claim that it loaded an artifact other than the registered one.</summary>
internal sealed record DigestReport(string Client, string Digest);

/// <summary>What the report service reads of a version: the open window and the latest closed ones.</summary>
internal sealed record VersionSnapshot(CompiledBaseline? Baseline, WindowResult? Current, IReadOnlyList<WindowResult> Closed,
    IReadOnlyList<Finding> Findings);

/// <summary>
/// The single writer of a model's window state. Batches, baseline changes and report reads go
/// through one bounded queue in order, so the hot path takes no locks and a client that reads a
/// report after its ingest call returned sees its records.
/// </summary>
internal sealed partial class ModelPipeline : IAsyncDisposable
{
    private readonly ModelEntry _model;
    private readonly PipelineContext _context;
    private readonly TimeProvider _time;
    private readonly IWindowStore _windowStore;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Channel<Work> _queue;
    private readonly QueueBytes _queueBytes;
    private readonly Task _loop;
    private readonly ITimer? _ticker;
    private readonly IReadOnlySet<string> _criticalChannels;
    private readonly List<WindowResult> _closed = [];
    private volatile CompiledBaseline? _baseline;
    private BatchPreparer? _preparer;
    private CaptureWork? _capture;

    public ModelPipeline(ModelEntry model, CompiledBaseline? baseline, PipelineContext context, ILogger logger)
    {
        _model = model;
        _context = context;
        _time = context.Time;
        _windowStore = context.WindowStore;
        _metrics = context.Metrics;
        _logger = logger;
        _criticalChannels = model.Schema.CriticalChannels();
        Capacity = context.Options.Ingest.QueueCapacity;
        _queueBytes = new QueueBytes(context.Options.Ingest.QueueBytesPerModel);
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        SwitchBaseline(baseline);
        _loop = Task.Run(RunAsync);
        TimeSpan maxAge = context.Options.Windows.MaxAge;
        if (maxAge > TimeSpan.Zero)
        {
            // Windows are checked a few times per MaxAge, so one closes at most a quarter of MaxAge late.
            TimeSpan period = TimeSpan.FromTicks(Math.Clamp(maxAge.Ticks / 4, TimeSpan.TicksPerSecond / 4, TimeSpan.TicksPerSecond * 30));
            _ticker = _time.CreateTimer(_ => _queue.Writer.TryWrite(TickWork.Instance), null, period, period);
        }
    }

    public int Capacity { get; }

    /// <summary>The baseline in force: every version is judged against it. Read from any thread.</summary>
    public CompiledBaseline? Baseline => _baseline;

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
    public ValueTask StartCaptureAsync(VersionEntry version, UploadSession session, Action<UploadSession> onFull,
        CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new CaptureWork(version, session, onFull), cancellationToken);

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
        foreach (VersionEntry version in _model.Versions.Values)
        {
            try
            {
                _windowStore.SaveCounters(version.Model, version.Version, version.Counters());
                if (version.Monitor.Detector is { } detector)
                {
                    _windowStore.SaveDetectorState(version.Model, version.Version, detector.Export());
                }
            }
            catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
            {
                // Shutting down on a store that refuses writes: the counters restart from the last stored window.
                Log.PipelineError(_logger, ex, _model.Name);
            }
        }
    }

    private async Task RunAsync()
    {
        await foreach (Work work in _queue.Reader.ReadAllAsync())
        {
            try
            {
                if (work is HoldWork hold)
                {
                    hold.Holding.TrySetResult();
                    await hold.Released.Task;
                    continue;
                }

                Process(work);
            }
            catch (Exception ex)
            {
                Log.PipelineError(_logger, ex, _model.Name);
                if (work is SnapshotWork snapshot)
                {
                    snapshot.Result.TrySetException(ex);
                }
                else if (work is QuarantineWork quarantine)
                {
                    quarantine.Result.TrySetException(ex);
                }
                else if (work is DecideWork decide)
                {
                    decide.Result.TrySetException(ex);
                }
                else if (work is PromoteWork promote)
                {
                    promote.Done.TrySetException(ex);
                }
                else if (work is BaselineWork baselineWork)
                {
                    baselineWork.Done.TrySetException(ex);
                }
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

    private void Process(Work work)
    {
        switch (work)
        {
            case IngestWork ingest:
                Ingest(ingest);
                break;
            case BaselineWork baseline:
                SwitchBaseline(baseline.Baseline);
                baseline.Done.TrySetResult();
                break;
            case CaptureWork capture:
                _capture = capture;
                break;
            case SnapshotWork snapshot:
                VersionMonitor monitor = Judge(snapshot.Version);
                snapshot.Result.TrySetResult(new VersionSnapshot(
                    monitor.Baseline, monitor.Current(), [.. monitor.History.Take(snapshot.ClosedWindows)], monitor.Findings));
                break;
            case FlushWork flush:
                flush.Done.TrySetResult();
                break;
            case PromoteWork promote:
                _context.Incidents.Promoted(_model, promote.Version, promote.Actor, promote.Reason);
                promote.Done.TrySetResult();
                break;
            case DecideWork decide:
                decide.Result.TrySetResult(_context.Incidents.Decide(_model, decide.Held, decide.Release, decide.Actor, decide.Reason));
                break;
            case TickWork:
                CloseOldWindows();
                break;
            case ArtifactWork artifact when artifact.Version.State != VersionState.Quarantined:
                if (artifact.Digest is { } hashed && hashed != artifact.Version.ArtifactSha256)
                {
                    string evidence = $"the sidecar hashed {artifact.Version.ArtifactPath}: {hashed} differs from the registered {artifact.Version.ArtifactSha256}";
                    _context.Incidents.ArtifactSwapped(_model, artifact.Version, "hashed by the sidecar", evidence, evidence);
                }
                else
                {
                    _context.Incidents.ArtifactUnreadable(artifact.Version, artifact.Error);
                }

                break;
            case QuarantineWork quarantine:
                quarantine.Result.TrySetResult(_context.Incidents.Quarantined(_model, quarantine.Version, quarantine.Actor, quarantine.Reason,
                    quarantine.RollBack, quarantine.To));
                break;
        }
    }

    private void Ingest(IngestWork work)
    {
        if (!_context.Options.Ingest.Analysis)
        {
            return;
        }

        VersionEntry version = work.Version;
        RecordBatch batch = work.Batch;
        if (work.Digest is { } digest && version.Lifecycle.State != VersionState.Quarantined)
        {
            // A client's claim is evidence, not a verdict: any ingest key can make it. It fails the version only when the operator's policy says so.
            if (version.Lifecycle.Settings.QuarantineOnReportedDigestMismatch)
            {
                _context.Incidents.ArtifactSwapped(_model, version, batch.Count);
            }
            else
            {
                _context.Incidents.DigestReported(version, digest.Client, digest.Digest, batch.Count);
            }
        }

        if (_capture is { } capture && capture.Version == version && !work.DigestMismatch && capture.Session.Offer(batch))
        {
            _capture = null;
            capture.OnFull(capture.Session);
        }

        if (_preparer is null)
        {
            return;
        }

        VersionMonitor monitor = Judge(version);
        monitor.Add(batch, _preparer.Prepare(batch), _closed);
        if (monitor.Detector?.DrainChanged() is { Count: > 0 } changed)
        {
            Store("findings", () => _windowStore.SaveFindings(version.Model, version.Version, changed));
            _metrics.FindingsChanged(version.Model, version.Version, changed, monitor.Findings);
            foreach (Finding finding in changed)
            {
                version.LiveFindings[finding.DedupeKey] = new LiveFinding(finding, monitor.NextWindowIndex);
                Log.Finding(_logger, version.Model, version.Version, finding.Severity.ToString().ToLowerInvariant(), finding.Detector.ToString(), finding.Summary);
            }
        }

        WindowsClosed(version, monitor);
    }

    /// <summary>Closes, as incomplete, every window that has been open longer than Monitor:Windows:MaxAge.</summary>
    private void CloseOldWindows()
    {
        if (_preparer is null)
        {
            return;
        }

        foreach (VersionEntry version in _model.Versions.Values)
        {
            VersionMonitor monitor = version.Monitor;
            if (ReferenceEquals(monitor.Baseline, _baseline) && monitor.CloseIfOlderThan(_context.Options.Windows.MaxAge, _closed))
            {
                WindowsClosed(version, monitor);
            }
        }
    }

    private void WindowsClosed(VersionEntry version, VersionMonitor monitor)
    {
        try
        {
            MeasureClosed(version, monitor);
        }
        finally
        {
            _closed.Clear();
        }
    }

    /// <summary>
    /// Runs a write whose loss does not stop the pipeline (findings, window history): while the store refuses writes it is
    /// logged and the store marked faulted, and the pipeline goes on.
    /// </summary>
    private void Store(string what, Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            _context.Health.Failed(what, ex);
        }
    }

    private void MeasureClosed(VersionEntry version, VersionMonitor monitor)
    {
        foreach (WindowResult window in _closed)
        {
            version.CountWindowClosed();
            _metrics.WindowClosed(version.Model, version.Version, window);
            Log.WindowClosed(_logger, version.Model, version.Version, window.Index, window.Records,
                !window.Complete ? "not judged (closed by time)" : window.Drifted ? string.Join(", ", window.DriftedChannels) : "no");
            bool incident = Measure(version, monitor, window);
            // After the judgement, so the stored lifecycle counters include this window.
            var write = new WindowWrite(version.Model, version.Version, window, version.Counters(), _context.Options.Windows.HistoryRetained,
                Checkpoint(version, monitor));
            if (incident)
            {
                // Alerts or signals now cite this window: store it with them, so its index is never reused after a crash.
                Store("windows", () => _windowStore.SaveWindow(write));
            }
            else
            {
                _context.Windows.Enqueue(write);
            }
        }
    }

    /// <summary>
    /// The detectors' state to store with this window: at most one per Monitor:Detectors:CheckpointInterval (0: with every
    /// window). A restart resumes from the latest stored; shutdown stores one for every version.
    /// </summary>
    private DetectorState? Checkpoint(VersionEntry version, VersionMonitor monitor)
    {
        if (monitor.Detector is not { } detector)
        {
            return null;
        }

        long now = _time.GetTimestamp();
        TimeSpan interval = _context.Options.Detectors.CheckpointInterval;
        if (version.CheckpointedAt != 0 && interval > TimeSpan.Zero && _time.GetElapsedTime(version.CheckpointedAt, now) < interval)
        {
            return null;
        }

        version.CheckpointedAt = now;
        return detector.Export();
    }

    /// <summary>
    /// A closed window is a measurement of the version: <see cref="WindowJudge"/> says whether it fails and why, and the
    /// incident composer commits what follows (alert changes, a state change, a rollback) together.
    /// </summary>
    /// <returns>Whether the window led to a committed incident (alert changes, a state change or a rollback).</returns>
    private bool Measure(VersionEntry version, VersionMonitor monitor, WindowResult window)
    {
        WindowJudgement judgement = WindowJudge.Judge(window, window.ClosedAt ?? _time.GetUtcNow(), monitor.Detector?.CriticalActive == true,
            monitor.Findings, _criticalChannels, version.LiveFindings.Values);
        return _context.Incidents.Judged(_model, version, judgement, window.Complete);
    }

    /// <summary>The version's monitor, moved onto the baseline in force if it was on another.</summary>
    private VersionMonitor Judge(VersionEntry version)
    {
        VersionMonitor monitor = version.Monitor;
        if (_baseline is not null && !ReferenceEquals(monitor.Baseline, _baseline))
        {
            long discarded = monitor.UseBaseline(_baseline);
            Log.BaselineSwitched(_logger, version.Model, version.Version, _baseline.Profile.Id, discarded);
        }

        return monitor;
    }

    private void SwitchBaseline(CompiledBaseline? baseline)
    {
        _baseline = baseline;
        _preparer = baseline is null ? null : new BatchPreparer(baseline);
    }
}
