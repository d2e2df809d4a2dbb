using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using Monitor.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Versions;
using Monitor.Server.Ingest;
using Monitor.Server.Metrics;
using Monitor.Server.Models;

namespace Monitor.Server.Baselines;

/// <summary>
/// Opens, fills and commits baselines. A commit profiles and calibrates off the request thread, then
/// stores the baseline and puts it in force in one transaction; a committed baseline never changes.
/// </summary>
internal sealed class BaselineUploads
{
    private const int FinishedKept = 64;
    private readonly ConcurrentDictionary<string, UploadSession> _sessions = new(StringComparer.Ordinal);
    private readonly ModelCatalog _models;
    private readonly ModelPipelines _pipelines;
    private readonly IBaselineStore _store;
    private readonly MonitorMetrics _metrics;
    private readonly MonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _opening = new();

    public BaselineUploads(ModelCatalog models, ModelPipelines pipelines, IBaselineStore store, MonitorMetrics metrics, IOptions<MonitorOptions> options,
        TimeProvider time, ILogger<BaselineUploads> logger)
    {
        _models = models;
        _pipelines = pipelines;
        _store = store;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    public async Task<UploadSession> BeginAsync(string modelName, string description, uint windowRecords, double falseAlarmRate,
        string captureVersion, uint captureRecords, CancellationToken cancellationToken, string scoredBy = "")
    {
        ModelEntry model = _models.Get(modelName);
        int window = windowRecords == 0 ? _options.Windows.Records : (int)Math.Min(windowRecords, int.MaxValue);
        double alpha = falseAlarmRate == 0 ? _options.Baselines.FalseAlarmRate : falseAlarmRate;
        if (window < 10)
        {
            throw Invalid($"window_records: {window} is too small; use at least 10");
        }

        if (BaselineSettings.FalseAlarmRateProblem("false_alarm_rate", alpha, _options.BaselineSettings.BootstrapWindows) is { } problem)
        {
            throw Invalid(problem);
        }

        BaselineSettings settings = _options.BaselineSettings;
        int required = BaselineBuilder.RequiredRecords(window, settings);
        if (required > _options.Baselines.ReservoirRecords)
        {
            throw Invalid($"window_records: windows of {window} records need a reference sample of {required} records, " +
                $"more than the reservoir holds ({_options.Baselines.ReservoirRecords}, Monitor:Baselines:ReservoirRecords)");
        }

        VersionEntry? captureFrom = null;
        if (!string.IsNullOrEmpty(captureVersion))
        {
            captureFrom = _models.GetVersion(modelName, captureVersion);
            if (captureFrom.State != VersionState.KnownGood)
            {
                throw new MonitorException(ErrorKind.FailedPrecondition,
                    $"version '{captureVersion}' of model '{modelName}' is {captureFrom.State}; only a known-good version's " +
                    "traffic can become a baseline (promote it first)");
            }

            if (captureRecords < required)
            {
                throw Invalid($"capture_records: {captureRecords} is fewer than the {required} records a baseline for windows of " +
                    $"{window} records needs");
            }
        }

        if (!string.IsNullOrEmpty(scoredBy))
        {
            if (!string.IsNullOrEmpty(captureVersion))
            {
                throw Invalid($"scored_by_version: a capture is scored by the version it is taken from ('{captureVersion}'); leave it empty");
            }

            // Must be registered: the version's embeddings are judged against this baseline's geometry.
            _models.GetVersion(modelName, scoredBy);
        }

        UploadSession session;
        lock (_opening)
        {
            ExpireIdle();
            int open = _sessions.Values.Count(s => s.State is UploadState.Open or UploadState.Committing);
            if (open >= _options.Baselines.MaxOpenUploads)
            {
                throw new MonitorException(ErrorKind.ResourceExhausted,
                    $"{open} baseline uploads are open, the limit (Monitor:Baselines:MaxOpenUploads); commit or abort one first " +
                    $"(an upload with no append for {_options.Baselines.UploadIdleTimeout} is aborted, Monitor:Baselines:UploadIdleTimeout)");
            }

            if (captureFrom is not null && _sessions.Values.Any(s => s.Model == model && s.CaptureFrom is not null && s.State == UploadState.Open))
            {
                throw new MonitorException(ErrorKind.FailedPrecondition,
                    $"model '{modelName}' already has a baseline capture open; abort it first");
            }

            var sample = new ReferenceSample(model.Schema, _options.Baselines.ReservoirRecords, _options.BaselineSettings.Seed);
            session = new UploadSession(Guid.NewGuid().ToString("N"), model, description, window, alpha, captureFrom,
                (int)Math.Min(captureRecords, int.MaxValue), sample, _time.GetUtcNow())
            {
                ScoredBy = string.IsNullOrEmpty(scoredBy) ? null : scoredBy,
            };
            session.Touch(_time.GetTimestamp());
            _sessions[session.Id] = session;
            Forget();
        }

        if (captureFrom is not null)
        {
            await _pipelines.Of(model).StartCaptureAsync(captureFrom, session.Offer, () => CommitInBackground(session), cancellationToken);
        }

        Log.UploadOpened(_logger, session.Id, modelName, session.Source);
        return session;
    }

    public UploadSession Get(string uploadId) =>
        _sessions.TryGetValue(uploadId, out UploadSession? session)
            ? session
            : throw new MonitorException(ErrorKind.NotFound,
                $"baseline upload '{uploadId}' is not open here (uploads do not survive a restart: begin again)");

    public UploadSession Append(string uploadId, Protos.V1.RecordBatch? batch)
    {
        UploadSession session = Get(uploadId);
        if (session.CaptureFrom is not null)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"upload '{uploadId}' captures live traffic of version '{session.CaptureFrom.Version}'; it takes no appended records");
        }

        session.Touch(_time.GetTimestamp());
        if (ProtoTranslation.TryToCore(session.Model.Schema, batch, _options.Ingest.MaxRecordsPerBatch, out RecordBatch records,
            _options.TextLimits) is { } error)
        {
            throw Invalid(error.ToString());
        }

        if (!session.Offer(records) && session.State != UploadState.Open)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"upload '{uploadId}' is {session.State.ToString().ToLowerInvariant()}; it takes no more records");
        }

        return session;
    }

    public async Task<BaselineProfile> CommitAsync(string uploadId, CancellationToken cancellationToken)
    {
        UploadSession session = Get(uploadId);
        ReferenceSample sample = session.BeginCommit() ?? throw new MonitorException(ErrorKind.FailedPrecondition,
            $"upload '{uploadId}' is {session.State.ToString().ToLowerInvariant()}, not open");
        if (session.CaptureFrom is { } from && from.State != VersionState.KnownGood)
        {
            // Trust is checked again at the end: a version found bad while it was captured does not become the baseline.
            string problem = $"version '{from.Version}' of model '{session.Model.Name}' became {from.State} while it was captured; only a " +
                "known-good version's traffic can become a baseline, so the capture is dropped and the baseline in force is unchanged";
            session.Fail(problem);
            throw new MonitorException(ErrorKind.FailedPrecondition, problem);
        }

        // A capture is checked against the baseline in force when it commits: the one it is about to replace.
        var request = new BaselineRequest(session.Model.Name, session.Source, session.Description, session.WindowRecords,
            session.FalseAlarmRate, _time.GetUtcNow())
        {
            Captured = session.CaptureFrom is not null,
            InForce = session.CaptureFrom is not null ? session.Model.Baseline : null,
        };
        var stopwatch = Stopwatch.StartNew();
        BaselineProfile profile;
        try
        {
            // The key table is counted on the keys the detectors extract (Monitor:Detectors:MaxKeysPerRecord), whether or not they run now;
            // a capture's check shows the keys it kept out as findings show them (Monitor:Privacy:Tokens).
            BaselineSettings settings = _options.BaselineSettings.WithDetectors(_options.DetectorSettings.WithTextKeys(_options.Privacy));
            profile = await Task.Run(() => BaselineBuilder.Build(request, sample, settings, cancellationToken), cancellationToken);
        }
        catch (BaselineException ex)
        {
            session.Reopen();
            Log.BaselineCommitFailed(_logger, uploadId, session.Model.Name, ex.Message);
            throw new MonitorException(ErrorKind.FailedPrecondition, ex.Message);
        }
        catch (OperationCanceledException)
        {
            session.Reopen();
            throw;
        }

        try
        {
            byte[] blob = ProtoTranslation.ToProto(sample.ToBatch()).ToByteArray();
            long id = _store.CommitBaseline(profile, blob, sample.Received);
            profile = profile with { Id = id };
            var compiled = new CompiledBaseline(profile);
            await _pipelines.Of(session.Model).UseBaselineAsync(compiled, CancellationToken.None);
            _metrics.BaselineId.WithLabels(session.Model.Name).Set(id);
            session.Committed(id);
            Log.BaselineCommitted(_logger, id, session.Model.Name, sample.Count, stopwatch.Elapsed.TotalSeconds,
                profile.CalibratedFalseAlarmRate, profile.BootstrapWindows);
            if (profile.CaptureCheck is { } check)
            {
                LogCheck(id, session, check);
            }
            return profile;
        }
        catch (Exception ex)
        {
            session.Fail(ex.Message);
            Log.BaselineCommitFailed(_logger, uploadId, session.Model.Name, ex.Message);
            throw new MonitorException(ErrorKind.Internal, $"baseline could not be stored: {ex.Message}");
        }
    }

    private void LogCheck(long baselineId, UploadSession session, CaptureCheck check)
    {
        bool quiet = check.AgainstBaselineId != 0 && check.Excluded.Length == 0;
        Log.CaptureChecked(_logger, quiet ? LogLevel.Information : LogLevel.Warning, baselineId, session.Model.Name, session.Source, check.Summary);
        foreach (ExcludedKey key in check.Excluded)
        {
            Log.CaptureKeyExcluded(_logger, baselineId, session.Model.Name, key.Summary);
        }
    }

    public UploadSession Abort(string uploadId)
    {
        UploadSession session = Get(uploadId);
        if (!session.Abort())
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"upload '{uploadId}' is {session.State.ToString().ToLowerInvariant()}, not open{(session.Error.Length > 0 ? $": {session.Error}" : "")}");
        }

        return session;
    }

    private void CommitInBackground(UploadSession session) =>
        _ = Task.Run(async () =>
        {
            try
            {
                await CommitAsync(session.Id, CancellationToken.None);
            }
            catch (Exception ex)
            {
                Log.BaselineCommitFailed(_logger, session.Id, session.Model.Name, ex.Message);
            }
        });

    /// <summary>
    /// Aborts appended uploads that had no append for Monitor:Baselines:UploadIdleTimeout, so a client that went away
    /// without aborting does not hold a reservoir and a place among the open uploads for ever. Captures wait for traffic
    /// and are left alone.
    /// </summary>
    private void ExpireIdle()
    {
        TimeSpan idleLimit = _options.Baselines.UploadIdleTimeout;
        foreach (UploadSession session in _sessions.Values)
        {
            if (session.State == UploadState.Open && session.CaptureFrom is null && _time.GetElapsedTime(session.LastActivity) > idleLimit
                && session.Abort($"aborted after no append for {idleLimit} (Monitor:Baselines:UploadIdleTimeout)"))
            {
                Log.UploadExpired(_logger, session.Id, session.Model.Name, idleLimit);
            }
        }
    }

    /// <summary>Keeps the most recent finished uploads for status queries and forgets older ones.</summary>
    private void Forget()
    {
        UploadSession[] finished = [.. _sessions.Values
            .Where(s => s.State is UploadState.Committed or UploadState.Aborted or UploadState.Failed)
            .OrderByDescending(s => s.OpenedAt)
            .Skip(FinishedKept)];
        foreach (UploadSession session in finished)
        {
            _sessions.TryRemove(session.Id, out _);
        }
    }

    private static MonitorException Invalid(string message) => new(ErrorKind.InvalidArgument, message);
}
