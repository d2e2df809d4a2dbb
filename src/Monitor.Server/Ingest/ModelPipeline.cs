using System.Threading.Channels;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Server.Baselines;
using Monitor.Server.Hosting;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;

namespace Monitor.Server.Ingest;

/// <summary>What the report service reads of a version: the open window and the latest closed ones.</summary>
internal sealed record VersionSnapshot(CompiledBaseline? Baseline, WindowResult? Current, IReadOnlyList<WindowResult> Closed,
    IReadOnlyList<Finding> Findings);

/// <summary>
/// The single writer of a model's window state. Batches, baseline changes and report reads go
/// through one bounded queue in order, so the hot path takes no locks and a client that reads a
/// report after its ingest call returned sees its records.
/// </summary>
internal sealed class ModelPipeline : IAsyncDisposable
{
    private readonly ModelEntry _model;
    private readonly TimeProvider _time;
    private readonly Verdicts.RollbackSignalHub _rollbacks;
    private readonly SqliteStore _store;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly int _retained;
    private readonly Channel<Work> _queue;
    private readonly Task _loop;
    private readonly List<WindowResult> _closed = [];
    private CompiledBaseline? _baseline;
    private BatchPreparer? _preparer;
    private CaptureWork? _capture;

    public ModelPipeline(ModelEntry model, SqliteStore store, MonitorMetrics metrics, ILogger logger, int capacity, int retained,
        TimeProvider time, Verdicts.RollbackSignalHub rollbacks)
    {
        _time = time;
        _rollbacks = rollbacks;
        _model = model;
        _store = store;
        _metrics = metrics;
        _logger = logger;
        _retained = retained;
        Capacity = capacity;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        SwitchBaseline(model.Baseline);
        _loop = Task.Run(RunAsync);
    }

    public int Capacity { get; }

    public int Depth => _queue.Reader.Count;

    /// <summary>Queues a validated batch; false when the queue is full (the batch is dropped).</summary>
    public bool TryEnqueue(VersionEntry version, RecordBatch batch, bool digestMismatch) =>
        _queue.Writer.TryWrite(new IngestWork(version, batch, digestMismatch));

    /// <summary>Judges every version against this baseline from the next batch on.</summary>
    public ValueTask UseBaselineAsync(CompiledBaseline baseline, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new BaselineWork(baseline), cancellationToken);

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

    /// <summary>Tells the version's lifecycle an admin promoted it (the pipeline owns the lifecycle).</summary>
    public ValueTask PromotedAsync(VersionEntry version, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(new PromoteWork(version), cancellationToken);

    /// <summary>Completes once everything queued before it has been processed.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var work = new FlushWork();
        await _queue.Writer.WriteAsync(work, cancellationToken);
        await work.Done.Task.WaitAsync(cancellationToken);
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

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
        foreach (VersionEntry version in _model.Versions.Values)
        {
            _store.SaveCounters(version.Model, version.Version, version.RecordsAccepted, version.WindowsClosed);
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
                promote.Version.Lifecycle.Promote();
                break;
        }
    }

    private void Ingest(IngestWork work)
    {
        VersionEntry version = work.Version;
        RecordBatch batch = work.Batch;
        if (work.DigestMismatch && version.Lifecycle.State != VersionState.Quarantined)
        {
            Fail(version, version.Lifecycle.ArtifactMismatch("of a batch"));
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
        foreach (WindowResult window in _closed)
        {
            Measure(version, monitor, window);
            version.CountWindowClosed();
            _store.SaveWindow(version.Model, version.Version, window, version.RecordsAccepted, version.WindowsClosed, _retained);
            _metrics.WindowClosed(version.Model, version.Version, window);
            Log.WindowClosed(_logger, version.Model, version.Version, window.Index, window.Records,
                window.Drifted ? string.Join(", ", window.DriftedChannels) : "no");
        }

        _closed.Clear();
        if (monitor.Detector?.DrainChanged() is { Count: > 0 } changed)
        {
            _store.SaveFindings(version.Model, version.Version, changed);
            _metrics.FindingsChanged(version.Model, version.Version, changed, monitor.Findings);
            foreach (Finding finding in changed)
            {
                Log.Finding(_logger, version.Model, version.Version, finding.Severity.ToString().ToLowerInvariant(), finding.Detector, finding.Summary);
            }
        }
    }

    /// <summary>A closed window is a measurement of the version: failing while a critical trigger is live.</summary>
    private void Measure(VersionEntry version, VersionMonitor monitor, WindowResult window)
    {
        bool failing = monitor.Detector?.CriticalActive == true;
        string[] reasons = failing
            ? [.. monitor.Findings.Where(f => f.Severity == Severity.Critical).Select(f => f.Summary).Take(3)]
            : [];
        LifecycleChange change = version.Lifecycle.Observe(
            new WindowMeasurement(window.Index, window.Records, failing, window.ClosedAt ?? window.OpenedAt, reasons));
        if (change.Failed)
        {
            Fail(version, change);
        }
        else if (change.From != change.To)
        {
            DateTimeOffset at = window.ClosedAt ?? window.OpenedAt;
            _store.ChangeVersionState(version.Model, version.Version, change.To.ToString(), "policy",
                change.To == VersionState.KnownGood ? "promote" : "state", change.Reason, at);
            version.State = change.To;
            if (change.To == VersionState.KnownGood)
            {
                version.PromotedAt = at;
            }
        }

        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)version.Lifecycle.Verdict);
    }

    /// <summary>Quarantines a failed version and records the rollback signal to the last known-good one, durably.</summary>
    private void Fail(VersionEntry version, LifecycleChange change)
    {
        string? target = RollbackPlanner.Target(
            _model.Versions.Values.Select(v => new VersionRecord(v.Version, v.State, v.PromotedAt)), version.Version);
        DateTimeOffset at = _time.GetUtcNow();
        long sequence = _store.RecordRollback(version.Model, version.Version, target, change.Reason, at);
        _rollbacks.Publish(new StoredRollback(sequence, version.Model, version.Version, target, change.Reason, at, null));
        version.State = VersionState.Quarantined;
        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)Verdict.Failed);
        _metrics.RollbackSignals.WithLabels(version.Model).Inc();
        Log.RollbackSignal(_logger, sequence, version.Model, version.Version, target ?? "(no known-good version)", change.Reason);
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

    private abstract class Work;

    private sealed class IngestWork(VersionEntry version, RecordBatch batch, bool digestMismatch) : Work
    {
        public VersionEntry Version { get; } = version;
        public RecordBatch Batch { get; } = batch;
        public bool DigestMismatch { get; } = digestMismatch;
    }

    private sealed class BaselineWork(CompiledBaseline baseline) : Work
    {
        public CompiledBaseline Baseline { get; } = baseline;
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

    private sealed class PromoteWork(VersionEntry version) : Work
    {
        public VersionEntry Version { get; } = version;
    }

    private sealed class FlushWork : Work
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
