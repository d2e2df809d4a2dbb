using System.Globalization;
using System.Threading.Channels;
using Grpc.Core;
using Monitor.Core.Alerts;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Hosting;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;
using Monitor.Server.Windows;

namespace Monitor.Server.Ingest;

/// <summary>What every model's pipeline shares.</summary>
internal sealed record PipelineContext(IWindowStore WindowStore, IIncidentStore IncidentStore, MonitorMetrics Metrics, Incidents Incidents, MonitorOptions Options, TimeProvider Time,
    WindowWriter Windows, StoreHealth Health);

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
    private readonly PipelineContext _context;
    private readonly TimeProvider _time;
    private readonly IWindowStore _windowStore;
    private readonly IIncidentStore _incidentStore;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Channel<Work> _queue;
    private readonly Task _loop;
    private readonly ITimer? _ticker;
    private readonly IReadOnlySet<string> _criticalChannels;
    private readonly List<WindowResult> _closed = [];
    private CompiledBaseline? _baseline;
    private BatchPreparer? _preparer;
    private CaptureWork? _capture;

    public ModelPipeline(ModelEntry model, PipelineContext context, ILogger logger)
    {
        _model = model;
        _context = context;
        _time = context.Time;
        _windowStore = context.WindowStore;
        _incidentStore = context.IncidentStore;
        _metrics = context.Metrics;
        _logger = logger;
        _criticalChannels = model.Schema.CriticalChannels();
        Capacity = context.Options.Ingest.QueueCapacity;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        SwitchBaseline(model.Baseline);
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
                _windowStore.SaveCounters(version.Model, version.Version, version.RecordsAccepted, version.WindowsClosed);
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
                Promote(promote);
                promote.Done.TrySetResult();
                break;
            case DecideWork decide:
                decide.Result.TrySetResult(Decide(decide));
                break;
            case TickWork:
                CloseOldWindows();
                break;
            case QuarantineWork quarantine:
                quarantine.Result.TrySetResult(Quarantine(quarantine));
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
        if (work.DigestMismatch && version.Lifecycle.State != VersionState.Quarantined)
        {
            LifecycleChange change = version.Lifecycle.ArtifactMismatch("of a batch");
            DateTimeOffset at = _time.GetUtcNow();
            Alert alert = version.Alerts.Raise(new Signal("artifact-digest", "artifact-digest", Severity.Critical,
                $"a batch of {batch.Count} records was mirrored by an artifact other than the registered {version.ArtifactSha256[..12]}…"), at);
            Fail(version, change, [alert], exempt: true);
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
                version.LiveFindings[finding.DedupeKey] = (finding, monitor.NextWindowIndex);
                Log.Finding(_logger, version.Model, version.Version, finding.Severity.ToString().ToLowerInvariant(), finding.Detector, finding.Summary);
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
            var write = new WindowWrite(version.Model, version.Version, window, version.RecordsAccepted, version.WindowsClosed,
                _context.Options.Windows.HistoryRetained);
            if (Measure(version, monitor, window))
            {
                // Alerts or signals now cite this window: store it with them, so its index is never reused after a crash.
                Store("windows", () => _windowStore.SaveWindow(write.Model, write.Version, write.Window, write.RecordsAccepted, write.WindowsClosed,
                    write.Retained));
            }
            else
            {
                _context.Windows.Enqueue(write);
            }
        }
    }

    /// <summary>
    /// A closed window is a measurement of the version. It fails while a critical trigger finding is live, or
    /// when a critical feature drifted over its calibrated threshold; drift elsewhere raises warnings. A window
    /// closed by time before it filled is inconclusive unless a trigger fails it. Its problems go through the
    /// version's alert policy; the alert changes, state change and any rollback are committed together.
    /// </summary>
    /// <returns>Whether the window led to a committed incident (alert changes, a state change or a rollback).</returns>
    private bool Measure(VersionEntry version, VersionMonitor monitor, WindowResult window)
    {
        DateTimeOffset at = window.ClosedAt ?? _time.GetUtcNow();
        var signals = new List<Signal>();
        var reasons = new List<string>();
        bool triggerLive = monitor.Detector?.CriticalActive == true;
        if (triggerLive)
        {
            reasons.AddRange(monitor.Findings.Where(f => f.Severity == Severity.Critical).Select(f => f.Summary).Take(3));
        }

        if (window.Complete)
        {
            foreach (ChannelResult channel in window.Channels.Where(c => c.Drifted))
            {
                bool critical = _criticalChannels.Contains(channel.Name);
                string evidence = $"window {window.Index}: {channel.Name} {Exceedances(channel)}";
                signals.Add(new Signal("drift|" + channel.Name, "drift", critical ? Severity.Critical : Severity.Warning, evidence));
                if (critical)
                {
                    reasons.Add($"critical feature {channel.Name} drifted ({Exceedances(channel)})");
                }
            }
        }

        // A finding stays a live problem while its key was hit within the detector's active span of windows.
        foreach ((Finding finding, ulong raisedIn) in version.LiveFindings.Values)
        {
            if (window.Index - Math.Min(raisedIn, window.Index) < TriggerDetector.ActiveWindows)
            {
                signals.Add(new Signal("finding|" + finding.DedupeKey, "trigger:" + finding.Detector, finding.Severity, finding.Summary));
            }
        }

        bool failing = reasons.Count > 0;
        List<Alert> alerts = [.. version.Alerts.Observe(signals, at, countAbsence: window.Complete)];
        LifecycleChange change = version.Lifecycle.Observe(
            new WindowMeasurement(window.Index, window.Records, failing, at, reasons, Conclusive: window.Complete));
        if (change.Failed)
        {
            Fail(version, change, alerts, exempt: false);
            return true;
        }

        var incident = new IncidentCommit(version.Model, version.Version, at);
        incident.Alerts.AddRange(alerts);
        if (change.From != change.To)
        {
            incident.StateChange = (change.To.ToString(), "policy", change.To == VersionState.KnownGood ? "promote" : "state", change.Reason);
        }

        if (!incident.IsEmpty)
        {
            _context.Incidents.CommitOrDefer(incident);
        }

        if (change.From != change.To)
        {
            version.State = change.To;
            if (change.To == VersionState.KnownGood)
            {
                version.PromotedAt = at;
            }
        }

        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)version.Lifecycle.Verdict);
        return !incident.IsEmpty;
    }

    private static string Exceedances(ChannelResult channel) => string.Join(", ", Enumerable.Range(0, channel.Statistics.Length)
        .Where(s => channel.Exceeded[s])
        .Select(s => string.Create(CultureInfo.InvariantCulture,
            $"{StatisticNames.Of(channel.Statistics[s])} {channel.Values[s]:G4} > {channel.Thresholds[s]:G4}")));

    /// <summary>
    /// A failed version: quarantined, a critical "verdict" alert, and a rollback signal to the most recently
    /// promoted known-good version, all in one transaction. The signal is held for a human instead when the
    /// policy says so or the model already had its allowance of automatic rollbacks in the rate period;
    /// <paramref name="exempt"/> (an artifact swap, not something inputs can cause) skips the rate limit.
    /// </summary>
    private void Fail(VersionEntry version, LifecycleChange change, List<Alert> alerts, bool exempt)
    {
        DateTimeOffset at = _time.GetUtcNow();
        string? target = RollbackPlanner.Target(
            _model.Versions.Values.Select(v => new VersionRecord(v.Version, v.State, v.PromotedAt)), version.Version);
        string reason = target is null ? change.Reason + "; no known-good version to roll back to" : change.Reason;
        alerts.Add(version.Alerts.Raise(new Signal("verdict-failed", "verdict", Severity.Critical,
            target is null ? $"Failed: {reason}" : $"Failed: {reason}; roll back to {target}"), at));

        VersionOptions policy = _context.Options.Versions;
        string? held = null;
        if (policy.HoldRollbacks)
        {
            held = "the policy holds rollbacks for a human's acknowledgement (Monitor:Versions:HoldRollbacks)";
        }
        else if (!exempt && _incidentStore.CountRateLimitedRollbacksSince(version.Model, at - policy.RollbackRatePeriod)
            + _context.Incidents.DeferredRateLimitedRollbacks(version.Model) >= policy.MaxRollbacksPerPeriod)
        {
            held = $"model {version.Model} already had {policy.MaxRollbacksPerPeriod} automatic rollback(s) within {policy.RollbackRatePeriod} " +
                "(Monitor:Versions:MaxRollbacksPerPeriod)";
        }

        if (held is not null)
        {
            alerts.Add(version.Alerts.Raise(new Signal("rollback-held", "rollback-held", Severity.Critical,
                $"rollback of {version.Version} to {target ?? "(none)"} held: {held}"), at));
        }

        var incident = new IncidentCommit(version.Model, version.Version, at)
        {
            StateChange = (nameof(VersionState.Quarantined), "policy", "quarantine", reason),
            Rollback = new PlannedRollback(target, reason, "policy", held, RateLimited: !exempt),
        };
        incident.Alerts.AddRange(alerts);
        _context.Incidents.CommitOrDefer(incident);
        version.State = VersionState.Quarantined;
        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)Verdict.Failed);
    }

    /// <summary>An admin promoted (or reinstated) the version: known-good, and the alerts that last until someone acts are resolved.</summary>
    private void Promote(PromoteWork work)
    {
        VersionEntry version = work.Version;
        var incident = new IncidentCommit(version.Model, version.Version, _time.GetUtcNow())
        {
            StateChange = (nameof(VersionState.KnownGood), work.Actor, "promote", work.Reason),
        };
        incident.Alerts.AddRange(version.Alerts.ResolveRaised(incident.At));
        _context.Incidents.Commit(incident);
        version.Lifecycle.Promote();
        version.State = VersionState.KnownGood;
        version.PromotedAt = incident.At;
        _metrics.RollbackRecommended.WithLabels(_model.Name, version.Version).Set(0);
        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)version.Lifecycle.Verdict);
    }

    /// <summary>
    /// Releases or dismisses a held rollback; its "rollback-held" alert resolves either way. A release goes to
    /// the rollback target as it is now, and is refused for a version reinstated since it was held.
    /// </summary>
    private (StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)? Decide(DecideWork work)
    {
        DateTimeOffset at = _time.GetUtcNow();
        if (!_model.Versions.TryGetValue(work.Held.From, out VersionEntry? version))
        {
            return null;
        }

        if (work.Release && work.Held.Decision is null && version.State != VersionState.Quarantined)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"version '{version.Version}' was reinstated ({version.State}) after the rollback was held; dismiss it instead"));
        }

        string? to = RollbackPlanner.Target(_model.Versions.Values.Select(v => new VersionRecord(v.Version, v.State, v.PromotedAt)), version.Version);
        var decided = _context.Incidents.Decide(work.Held.Id, work.Release, to, work.Actor, work.Reason, at);
        if (decided is { AlreadyDecided: false })
        {
            var incident = new IncidentCommit(version.Model, version.Version, at);
            incident.Alerts.AddRange(version.Alerts.ResolveRaised(at, "rollback-held"));
            if (!incident.IsEmpty)
            {
                _context.Incidents.Commit(incident);
            }
        }

        return decided;
    }

    private IncidentResult Quarantine(QuarantineWork work)
    {
        VersionEntry version = work.Version;
        DateTimeOffset at = _time.GetUtcNow();
        string? target = work.RollBack
            ? work.To ?? RollbackPlanner.Target(_model.Versions.Values.Select(v => new VersionRecord(v.Version, v.State, v.PromotedAt)), version.Version)
            : null;
        string action = work.RollBack ? "roll-back" : "quarantine";
        version.Lifecycle.Quarantine($"{action} by {work.Actor}: {work.Reason}");
        Alert alert = version.Alerts.Raise(new Signal("verdict-failed", "verdict", Severity.Critical,
            work.RollBack ? $"rolled back by {work.Actor} to {target ?? "(no known-good version)"}: {work.Reason}" : $"quarantined by {work.Actor}: {work.Reason}"),
            at);
        var incident = new IncidentCommit(version.Model, version.Version, at)
        {
            StateChange = (nameof(VersionState.Quarantined), work.Actor, action, work.Reason),
            Rollback = work.RollBack ? new PlannedRollback(target, $"rolled back by {work.Actor}: {work.Reason}", work.Actor, null) : null,
        };
        incident.Alerts.Add(alert);
        IncidentResult result = _context.Incidents.Commit(incident);
        version.State = VersionState.Quarantined;
        _metrics.Verdict.WithLabels(version.Model, version.Version).Set((int)Verdict.Failed);
        return result;
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

    private sealed class FlushWork : Work
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
