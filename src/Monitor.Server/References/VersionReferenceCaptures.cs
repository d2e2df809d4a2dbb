using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Monitor.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Versions;
using Monitor.Protos.V1;
using Finding = Monitor.Core.Detectors.Finding;
using Severity = Monitor.Core.Detectors.Severity;
using VersionState = Monitor.Core.Versions.VersionState;
using Monitor.Server.Ingest;
using Monitor.Server.Models;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Server.References;

/// <summary>
/// Takes a version's own reference from its next live records, the alternative to an upload (docs/detectors.md, "Per-version
/// references"), under the rules a baseline capture follows: an admin starts it; it is taken only while the version has no
/// trigger evidence open and is neither suspect nor quarantined, checked when it starts and again when its records are in
/// (then nothing is stored and the capture says why); it never touches the model's baseline. It holds the embedding geometry
/// alone: live records can come from any ingest key, so they never set the version's output shape (D3's percentiles, the
/// whole-output test's tails, D4's residuals), which only an admin's upload of the reference set replayed through the version
/// does; a model without an embedding has nothing to capture. The reference is built and stored as an upload's
/// (<see cref="VersionReferenceUploads.BuildAndSaveAsync"/>). Captures are held in memory: a restart drops one still taking records.
/// </summary>
internal sealed class VersionReferenceCaptures(ModelCatalog models, ModelPipelines pipelines, VersionReferenceUploads uploads,
    IOptions<MonitorOptions> options, TimeProvider time, ILogger<VersionReferenceCaptures> logger)
{
    /// <summary>Records a capture takes when the request names none.</summary>
    public const int DefaultRecords = 5000;

    private readonly ConcurrentDictionary<(string Model, string Version), ReferenceCapture> _captures = new();
    private readonly Lock _starting = new();

    /// <summary>Starts a capture of the version's next records; a capture of it still taking records is dropped.</summary>
    public async Task<ReferenceCapture> StartAsync(CaptureVersionReferenceRequest request, string by, CancellationToken cancellationToken)
    {
        ModelEntry model = models.Get(request.Model);
        VersionEntry version = models.GetVersion(request.Model, request.Version);
        CompiledBaseline baseline = model.Baseline ?? throw new MonitorException(ErrorKind.FailedPrecondition,
            $"model '{model.Name}' has no baseline in force; a version's reference is taken for the baseline in force");
        long baselineId = baseline.Profile.Id;
        VersionReferenceUploads.CheckTakes(model, version, baselineId, request.Replace);
        if (model.Schema.EmbeddingWidth == 0)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition, NoEmbedding(model));
        }

        uint wanted = request.Records == 0 ? DefaultRecords : request.Records;
        if (wanted < VersionReferences.MinRecords)
        {
            throw new MonitorException(ErrorKind.InvalidArgument, $"records: {wanted} is fewer than the {VersionReferences.MinRecords} records a reference needs");
        }

        VersionSnapshot snapshot = await pipelines.Of(model).SnapshotAsync(version, 0, cancellationToken);
        if (OpenEvidence(snapshot.Findings) is { } open)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition, $"version '{version.Version}' of model '{model.Name}' has trigger evidence open " +
                $"({open}); a version's reference is taken from its own records only while none is open, so that a trigger in use cannot become part of it");
        }

        if (Untrusted(version) is { } state)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition, state);
        }

        var capture = new ReferenceCapture(model, version, baselineId, wanted, time.GetUtcNow(), by, Security.Audit.Reason(request.Reason), request.Replace,
            new ReferenceSample(model.Schema, options.Value.Baselines.ReservoirRecords, VersionReferences.Seed));
        capture.Work = new CaptureWork(version, capture.Offer, () => Finish(capture));
        lock (_starting)
        {
            if (_captures.TryGetValue((model.Name, version.Version), out ReferenceCapture? earlier))
            {
                earlier.Drop($"replaced by a new capture started {capture.StartedAt:u} by {by}");
            }

            _captures[(model.Name, version.Version)] = capture;
        }

        await pipelines.Of(model).StartCaptureAsync(capture.Work, cancellationToken);
        Log.ReferenceCaptureStarted(logger, model.Name, version.Version, wanted, baselineId, by);
        return capture;
    }

    /// <summary>
    /// What a capture of a version's first records, asked at its registration, needs of the model: a baseline in force, a
    /// classifier, and at least <see cref="VersionReferences.MinRecords"/> records; throws the error the caller gets.
    /// </summary>
    public static void CheckFirstRecords(ModelEntry model, uint records)
    {
        if (records < VersionReferences.MinRecords)
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"capture_reference_records: {records} is fewer than the {VersionReferences.MinRecords} records a reference needs");
        }

        if (model.Baseline is null)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"capture_reference_records: model '{model.Name}' has no baseline in force; a version's reference is taken for the baseline in force");
        }

        if (model.Schema.OutputKind == Core.Schema.OutputKind.Regression)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"capture_reference_records: model '{model.Name}' is a regression: a version's reference holds a classifier's output shape and embeddings");
        }

        if (model.Schema.EmbeddingWidth == 0)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition, "capture_reference_records: " + NoEmbedding(model));
        }
    }

    private static string NoEmbedding(ModelEntry model) =>
        $"model '{model.Name}' declares no embedding: a captured reference holds the embedding geometry alone (live records, which any " +
        $"ingest key can send, never set a version's output shape); upload the reference set replayed through the version with `{EmbeddingReferences.Command}`";

    /// <summary>The version's latest capture since the sidecar started; NOT_FOUND when there is none.</summary>
    public ReferenceCapture Get(string modelName, string versionName)
    {
        VersionEntry version = models.GetVersion(modelName, versionName);
        return _captures.GetValueOrDefault((version.Model, version.Version)) ?? throw new MonitorException(ErrorKind.NotFound,
            $"version '{ModelCatalog.Truncate(version.Version)}' of model '{version.Model}' has no reference capture since the sidecar started; " +
            "start one with `drift versions reference --capture`");
    }

    /// <summary>Runs on the model's pipeline once the capture's records are in: the checks again, then the reference is built off it.</summary>
    private void Finish(ReferenceCapture capture)
    {
        // The evidence first: a trigger's critical finding is also what makes the version suspect or quarantined.
        string? problem = OpenEvidence(capture.Version.Monitor.Findings) is { } open
            ? $"trigger evidence was opened while its records were taken ({open}); a version's reference is taken from its own records " +
              "only while none is open, so that a trigger in use cannot become part of it"
            : Untrusted(capture.Version);
        if (problem is null && capture.Model.Baseline?.Profile.Id != capture.BaselineId)
        {
            problem = $"baseline {capture.BaselineId}, which the capture was started under, is no longer in force; a reference is for one baseline";
        }

        if (problem is not null)
        {
            capture.Drop(problem);
            Log.ReferenceCaptureDropped(logger, capture.Model.Name, capture.Version.Version, problem);
            return;
        }

        // Only a capture still taking records builds: one replaced or dropped meanwhile stores nothing.
        if (capture.Building() is not { } sample)
        {
            return;
        }

        CompiledBaseline baseline = capture.Model.Baseline!;
        _ = Task.Run(async () =>
        {
            try
            {
                (StoredReference stored, bool replaced) = await uploads.BuildAndSaveAsync(capture.Model, capture.Version, baseline, sample,
                    capture.StartedBy, capture.Replace, capture.Reason, captured: true, CancellationToken.None, () => StillTakes(capture));
                capture.Store(stored, replaced);
            }
            catch (Exception e)
            {
                // Whatever failed (a refusal, the store), the capture ends saying so rather than building for ever.
                string why = e is MonitorException ? e.Message : $"the reference could not be built or stored: {e.Message}";
                capture.Drop(why, buildFailed: true);
                Log.ReferenceCaptureDropped(logger, capture.Model.Name, capture.Version.Version, why);
            }
        });
    }

    /// <summary>
    /// Checked again just before a built reference is stored (off the pipeline): the baseline the capture was started under still in
    /// force, the version neither suspect nor quarantined, the capture not replaced. Null when it may be stored.
    /// </summary>
    private string? StillTakes(ReferenceCapture capture) =>
        capture.Model.Baseline?.Profile.Id != capture.BaselineId
            ? $"baseline {capture.BaselineId}, which the capture was started under, was replaced while the reference was built; a reference is for one baseline"
            : Untrusted(capture.Version)
            ?? (_captures.GetValueOrDefault((capture.Model.Name, capture.Version.Version)) != capture ? "replaced by a newer capture while it was built" : null);

    /// <summary>Why the version's own records may not become its reference by its state; null when they may.</summary>
    private static string? Untrusted(VersionEntry version) => version.State is VersionState.Suspect or VersionState.Quarantined
        ? $"version '{version.Version}' of model '{version.Model}' is {version.State}; a reference is not taken from the records of a version " +
          "under suspicion or taken out of service"
        : null;

    /// <summary>The first open trigger finding of warning or critical severity, in words; null when there is none.</summary>
    private static string? OpenEvidence(IReadOnlyList<Finding> findings) =>
        findings.FirstOrDefault(f => f.Severity >= Severity.Warning) is { } finding
            ? $"{finding.Severity.ToString().ToLowerInvariant()} {finding.Detector}: {ModelCatalog.Truncate(finding.Summary)}"
            : null;
}

/// <summary>One capture of a version's own reference (<see cref="VersionReferenceCaptures"/>): fed on the model's pipeline, read from any thread.</summary>
internal sealed class ReferenceCapture(ModelEntry model, VersionEntry version, long baselineId, uint wanted, DateTimeOffset startedAt, string startedBy,
    string reason, bool replace, ReferenceSample sample)
{
    private readonly Lock _state = new();
    private long _taken;
    private long _withoutEmbeddings;
    private bool _building;

    /// <summary>The records taken, until the build takes them (<see cref="Building"/>) or the capture ends: then let go.</summary>
    private ReferenceSample? _sample = sample;

    public ModelEntry Model { get; } = model;
    public VersionEntry Version { get; } = version;
    public long BaselineId { get; } = baselineId;
    public uint Wanted { get; } = wanted;
    public DateTimeOffset StartedAt { get; } = startedAt;
    public string StartedBy { get; } = startedBy;
    public string Reason { get; } = reason;
    public bool Replace { get; } = replace;
    public CaptureWork Work { get; set; } = null!;

    public VersionReferenceCapture.Types.State State { get; private set; } = VersionReferenceCapture.Types.State.Capturing;
    public string Message { get; private set; } = "";
    public StoredReference? Reference { get; private set; }
    public bool Replaced { get; private set; }
    public long Taken => Interlocked.Read(ref _taken);
    public long BatchesWithoutEmbeddings => Interlocked.Read(ref _withoutEmbeddings);

    /// <summary>On the pipeline: takes a batch of the version (one that carries embeddings, when the schema has them); true once the records asked for are in.</summary>
    public bool Offer(RecordBatch batch)
    {
        if (batch.Count == 0)
        {
            return false;
        }

        if (Model.Schema.EmbeddingWidth > 0 && batch.Embeddings.Length == 0)
        {
            Interlocked.Increment(ref _withoutEmbeddings);
            return false;
        }

        if (_sample is not { } taking)
        {
            return true;
        }

        taking.Add(batch);
        Interlocked.Exchange(ref _taken, taking.Received);
        return taking.Received >= Wanted;
    }

    /// <summary>
    /// The records are in and passed the checks: hands them to the build, after which only the build's own failure drops the
    /// capture. Null when the capture was dropped or replaced meanwhile (nothing is built).
    /// </summary>
    public ReferenceSample? Building()
    {
        lock (_state)
        {
            if (State != VersionReferenceCapture.Types.State.Capturing || Work.Dropped || _sample is null)
            {
                return null;
            }

            ReferenceSample taken = _sample;
            (_building, _sample, Message) = (true, null, "building the reference");
            return taken;
        }
    }

    public void Store(StoredReference reference, bool replaced)
    {
        lock (_state)
        {
            (State, Reference, Replaced, Message) = (VersionReferenceCapture.Types.State.Stored, reference, replaced,
                $"stored as reference {reference.Id}{(replaced ? ", replacing the earlier one" : "")}");
        }
    }

    /// <summary>
    /// Ends the capture without a reference and takes it off the pipeline; a capture already building (<see cref="Building"/>) ends
    /// so only when its build failed (<paramref name="buildFailed"/>), and a stored one stays stored.
    /// </summary>
    public void Drop(string why, bool buildFailed = false)
    {
        lock (_state)
        {
            if (State == VersionReferenceCapture.Types.State.Capturing && (!_building || buildFailed))
            {
                Work.Dropped = true;
                (State, Message, _sample) = (VersionReferenceCapture.Types.State.Dropped, why, null);
            }
        }
    }
}
