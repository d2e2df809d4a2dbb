using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Versions;
using Monitor.Core.Windows;
using Monitor.Server.Alerting;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Models;
using Monitor.Server.Windows;

namespace Monitor.Server.Ingest;

/// <summary>
/// A model's window state, touched only by its pipeline's single reader: applies batches to the versions' monitors
/// against the baseline in force, closes windows, and hands each closed window's judgement to the incident composer.
/// </summary>
internal sealed class ModelAnalysis
{
    private readonly PipelineContext _context;
    private readonly TimeProvider _time;
    private readonly IWindowStore _windowStore;
    private readonly MonitorMetrics _metrics;
    private readonly ILogger _logger;
    private readonly IReadOnlySet<string> _criticalChannels;
    private readonly List<WindowResult> _closed = [];
    private BatchPreparer? _preparer;
    private readonly List<CaptureWork> _captures = [];

    /// <summary>Records a candidate must serve under the baseline in force before the policy may promote it.</summary>
    private long _requiredRecords;

    public ModelAnalysis(ModelEntry model, CompiledBaseline? baseline, PipelineContext context, ILogger logger)
    {
        Model = model;
        _context = context;
        _time = context.Time;
        _windowStore = context.WindowStore;
        _metrics = context.Metrics;
        _logger = logger;
        _criticalChannels = model.Schema.CriticalChannels();
        UseBaseline(baseline);
    }

    public ModelEntry Model { get; }

    /// <summary>Commits what follows a judgement or an admin's decision: alert changes, state changes, rollbacks.</summary>
    public IncidentComposer Incidents => _context.Incidents;

    /// <summary>Puts <paramref name="baseline"/> in force (held by the model entry, where every feature reads it).</summary>
    public void UseBaseline(CompiledBaseline? baseline)
    {
        Model.Baseline = baseline;
        _preparer = baseline is null ? null : new BatchPreparer(baseline);
        _requiredRecords = _context.Readiness.RequiredRecords(baseline?.Profile);
        _context.Readiness.InForce(Model.Name, baseline?.Profile);
        foreach (VersionEntry version in Model.Versions.Values)
        {
            version.Lifecycle.RequiredRecords = _requiredRecords;
        }
    }

    public void StartCapture(CaptureWork capture) => _captures.Add(capture);

    public VersionSnapshot Snapshot(VersionEntry version, int closedWindows)
    {
        VersionMonitor monitor = Judge(version);
        return new VersionSnapshot(monitor.Baseline, monitor.Current(), [.. monitor.History.Take(closedWindows)], monitor.Findings)
        {
            Fit = monitor.Baseline is { } baseline ? ReferenceFit.Of(monitor.History, baseline.Profile.Id) : default,
        };
    }

    public void Ingest(IngestWork work)
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
                Incidents.ArtifactSwapped(Model, version, batch.Count);
            }
            else
            {
                Incidents.DigestReported(version, digest.Client, digest.Digest, batch.Count);
            }
        }

        for (int i = _captures.Count - 1; i >= 0; i--)
        {
            CaptureWork capture = _captures[i];
            if (capture.Dropped)
            {
                _captures.RemoveAt(i);
            }
            else if (capture.Version == version && !work.DigestMismatch && capture.Offer(batch))
            {
                _captures.RemoveAt(i);
                capture.OnFull();
            }
        }

        if (_preparer is null)
        {
            return;
        }

        VersionMonitor monitor = Judge(version);
        monitor.Add(batch, _preparer.Prepare(batch), _closed);
        if (monitor.DrainFindings() is { Count: > 0 } changed)
        {
            Store("findings", () => _windowStore.SaveFindings(version.Model, version.Version, changed));
            _metrics.FindingsChanged(version.Model, version.Version, changed, monitor.Findings);
            foreach (Finding finding in changed)
            {
                // A new finding, or one whose severity changed, is a warning in the log; its growing evidence is debug.
                bool news = !version.LiveFindings.TryGetValue(finding.DedupeKey, out LiveFinding last) || last.Finding.Severity != finding.Severity;
                version.LiveFindings[finding.DedupeKey] = new LiveFinding(finding, monitor.NextWindowIndex);
                string severity = finding.Severity.ToString().ToLowerInvariant(), detector = finding.Detector.ToString();
                if (news)
                {
                    Log.Finding(_logger, version.Model, version.Version, severity, detector, finding.Summary);
                }
                else
                {
                    Log.FindingGrew(_logger, version.Model, version.Version, severity, detector, finding.Summary);
                }
            }
        }

        foreach (string dropped in monitor.DrainDroppedFindings())
        {
            version.LiveFindings.Remove(dropped);
        }

        WindowsClosed(version, monitor);
    }

    /// <summary>Closes, as incomplete, every window that has been open longer than Monitor:Windows:MaxAge.</summary>
    public void CloseOldWindows()
    {
        if (_preparer is null)
        {
            return;
        }

        foreach (VersionEntry version in Model.Versions.Values)
        {
            VersionMonitor monitor = version.Monitor;
            if (ReferenceEquals(monitor.Baseline, Model.Baseline) && monitor.CloseIfOlderThan(_context.Options.Windows.MaxAge, _closed))
            {
                WindowsClosed(version, monitor);
            }
        }
    }

    /// <summary>Stores every version's counters and detector state at shutdown, after the queue has drained.</summary>
    public void StoreState()
    {
        foreach (VersionEntry version in Model.Versions.Values)
        {
            try
            {
                _windowStore.SaveCounters(version.Model, version.Version, version.Counters());
                if (version.Monitor.ExportDetectors() is { } state)
                {
                    _windowStore.SaveDetectorState(version.Model, version.Version, state);
                }
            }
            catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
            {
                // Shutting down on a store that refuses writes: the counters restart from the last stored window.
                Log.PipelineError(_logger, ex, Model.Name);
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
            if (monitor.CandidateLoad is { } load)
            {
                _metrics.CandidatesLoaded(version.Model, version.Version, load);
            }

            Log.WindowClosed(_logger, version.Model, version.Version, window.Index, window.Records,
                !window.Complete ? "not judged (closed by time)" : window.Drifted ? string.Join(", ", window.DriftedChannels) : "no");
            bool incident = Measure(version, monitor, window);
            WarnOfReference(version, monitor, window);
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
    /// Logs, once per run, that the baseline does not represent a trusted version's traffic when most of its kept windows
    /// drifted against it (<see cref="ReferenceFit"/>), and sets drift_monitor_reference_mismatch while it holds; the drift
    /// report carries the same warning.
    /// </summary>
    private void WarnOfReference(VersionEntry version, VersionMonitor monitor, WindowResult window)
    {
        if (!window.Complete || monitor.Baseline is not { } baseline || baseline.Profile.Id != window.BaselineId)
        {
            return;
        }

        string? warning = ReferenceFit.Of(monitor.History, window.BaselineId).Warning(version.Model, version.Version, version.State, baseline.Profile);
        _metrics.ReferenceMismatch.WithLabels(version.Model, version.Version).Set(warning is null ? 0 : 1);
        if (warning is null)
        {
            version.ReferenceWarnedFor = 0;
        }
        else if (version.ReferenceWarnedFor != window.BaselineId)
        {
            version.ReferenceWarnedFor = window.BaselineId;
            Log.ReferenceMismatch(_logger, version.Model, version.Version, window.BaselineId, warning);
        }
    }

    /// <summary>
    /// The detectors' state to store with this window: at most one per Monitor:Detectors:CheckpointInterval (0: with every
    /// window). A restart resumes from the latest stored; shutdown stores one for every version.
    /// </summary>
    private DetectorState? Checkpoint(VersionEntry version, VersionMonitor monitor)
    {
        if (monitor.Detector is null && monitor.Regression is null)
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
        return monitor.ExportDetectors();
    }

    /// <summary>
    /// A closed window is a measurement of the version: <see cref="WindowJudge"/> says whether it fails and why, and the
    /// incident composer commits what follows (alert changes, a state change, a rollback) together.
    /// </summary>
    /// <returns>Whether the window led to a committed incident (alert changes, a state change or a rollback).</returns>
    private bool Measure(VersionEntry version, VersionMonitor monitor, WindowResult window)
    {
        bool triggerFails = WindowJudge.TriggerFails(monitor.CriticalActive, version.Lifecycle.Trusted, window.Index,
            version.LiveFindings.Values, version.Lifecycle.Settings.MinFailingRecords);
        WindowJudgement judgement = WindowJudge.Judge(window, window.ClosedAt ?? _time.GetUtcNow(), triggerFails, monitor.Findings, _criticalChannels,
            version.LiveFindings.Values);
        return Incidents.Judged(Model, version, judgement, window.Complete);
    }

    /// <summary>The version's monitor, moved onto the baseline in force if it was on another.</summary>
    private VersionMonitor Judge(VersionEntry version)
    {
        // A version registered after the baseline was put in force learns what it must serve at its first records.
        version.Lifecycle.RequiredRecords = _requiredRecords;
        VersionMonitor monitor = version.Monitor;
        if (Model.Baseline is { } baseline)
        {
            // The version's own reference (D5's geometry and D3's percentiles), the baseline's profile, or no embedding evidence
            // (docs/detectors.md, "Per-version references").
            EmbeddingReference embedding = EmbeddingReferences.For(version, baseline);
            if (!ReferenceEquals(monitor.Baseline, baseline))
            {
                long discarded = monitor.UseBaseline(baseline, embedding);
                Log.BaselineSwitched(_logger, version.Model, version.Version, baseline.Profile.Id, discarded);
            }
            else
            {
                monitor.UseEmbedding(embedding);
            }
        }

        return monitor;
    }
}
