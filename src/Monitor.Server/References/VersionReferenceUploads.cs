using Grpc.Core;
using Microsoft.Extensions.Options;
using Monitor.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Server.Models;
using ModelSchema = Monitor.Core.Schema.ModelSchema;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Server.References;

/// <summary>
/// Takes a version's own reference (docs/detectors.md, "Per-version references"): reads the whole stream, checks every batch
/// as a mirrored one and the upload against the baseline it is for, builds the embedding geometry and D3's confidence percentiles,
/// stores them and gives them to the version. Nothing changes until all of that succeeded.
/// </summary>
internal sealed class VersionReferenceUploads(ModelCatalog models, SqliteReferenceStore store, IOptions<MonitorOptions> options, TimeProvider time,
    ILogger<VersionReferenceUploads> logger)
{
    private readonly MonitorOptions _options = options.Value;
    private readonly Lock _saving = new();

    /// <param name="actor">Checks the first message's actor and gives the audited name (<see cref="Security.Audit.Actor"/>).</param>
    public async Task<(StoredReference Reference, bool Replaced)> UploadAsync(IAsyncStreamReader<VersionReferenceChunk> stream,
        Func<string, string> actor, CancellationToken cancellationToken)
    {
        if (!await stream.MoveNext(cancellationToken))
        {
            throw Invalid("the upload is empty: its first message names the model, version and baseline");
        }

        VersionReferenceChunk first = stream.Current;
        ModelEntry model = models.Get(first.Model);
        VersionEntry version = models.GetVersion(first.Model, first.Version);
        string uploadedBy = actor(first.Actor);
        string reason = Security.Audit.Reason(first.Reason);
        CompiledBaseline baseline = model.Baseline ?? throw new MonitorException(ErrorKind.FailedPrecondition,
            $"model '{model.Name}' has no baseline in force; a version's reference is its outputs on a baseline's reference inputs");
        long baselineId = baseline.Profile.Id;
        if (first.BaselineId != 0 && first.BaselineId != baselineId)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"baseline_id: {first.BaselineId} is not the baseline in force ({baselineId}); a reference is taken only for the baseline in force");
        }

        ModelSchema schema = model.Schema;
        CheckTakes(model, version, baselineId, first.Replace);

        var sample = new ReferenceSample(schema, _options.Baselines.ReservoirRecords, VersionReferences.Seed);
        int message = 0;
        VersionReferenceChunk chunk = first;
        do
        {
            chunk = message == 0 ? first : stream.Current;
            if (message > 0 && (chunk.Model.Length > 0 && chunk.Model != first.Model || chunk.Version.Length > 0 && chunk.Version != first.Version))
            {
                throw Invalid($"message {message}: model and version are named in the first message only (or repeated equal)");
            }

            if (chunk.Batch is { } batch)
            {
                Offer(sample, schema, batch, message);
            }

            message++;
        }
        while (await stream.MoveNext(cancellationToken));

        long received = sample.Received;
        if (!baseline.Profile.Source.StartsWith("captured:", StringComparison.Ordinal) && received != baseline.Profile.RecordsReceived)
        {
            throw Invalid($"records: the upload has {received} records, but baseline {baselineId}'s reference set has {baseline.Profile.RecordsReceived}; " +
                "replay the whole reference set through the version and upload every output");
        }

        if (received < VersionReferences.MinRecords)
        {
            throw Invalid($"records: the upload has {received} records; a reference needs at least {VersionReferences.MinRecords}");
        }

        return await BuildAndSaveAsync(model, version, baseline, sample, uploadedBy, first.Replace, reason, captured: false, cancellationToken);
    }

    /// <summary>
    /// Builds a reference from <paramref name="sample"/> (its kept records) and stores it as the version's for <paramref name="baseline"/>:
    /// an upload's, or a capture's of the version's live records (<paramref name="captured"/>).
    /// </summary>
    /// <param name="stillTakes">Checked under the store's lock just before the reference is stored: a problem refuses it (a capture's checks).</param>
    internal async Task<(StoredReference Reference, bool Replaced)> BuildAndSaveAsync(ModelEntry model, VersionEntry version, CompiledBaseline baseline,
        ReferenceSample sample, string by, bool replace, string reason, bool captured, CancellationToken cancellationToken, Func<string?>? stillTakes = null)
    {
        EmbeddingProfile? profile;
        ConfidencePercentiles? confidence;
        OutputShape? shape;
        try
        {
            RecordBatch kept = sample.ToBatch();
            (profile, confidence, shape) = await Task.Run(() => VersionReferences.Build(baseline, kept), cancellationToken);
        }
        catch (ArgumentException e)
        {
            throw Invalid($"records: {e.Message}");
        }

        // Live records can come from any ingest key: a captured reference sets no output shape, only the embedding geometry.
        (confidence, shape) = captured ? (null, null) : (confidence, shape);
        long baselineId = baseline.Profile.Id;
        var reference = new StoredReference(0, model.Name, version.Version, baselineId, time.GetUtcNow(), by, sample.Received, sample.Count, profile,
            confidence, shape, captured);
        lock (_saving)
        {
            if (stillTakes?.Invoke() is { } problem)
            {
                throw new MonitorException(ErrorKind.FailedPrecondition, problem);
            }

            (StoredReference Stored, bool Replaced) saved = store.Save(reference, replace, reason) ?? throw Exists(version, version.Reference!);
            version.Reference = saved.Stored;
            Log.ReferenceStored(logger, model.Name, version.Version, saved.Stored.Id, baselineId, sample.Received, by, saved.Replaced);
            return saved;
        }
    }

    /// <summary>
    /// Why a version's reference may not be taken for <paramref name="baseline"/> (the model's schema, or a reference already held
    /// without <paramref name="replace"/>); throws the error a caller gets.
    /// </summary>
    internal static void CheckTakes(ModelEntry model, VersionEntry version, long baselineId, bool replace)
    {
        if (model.Schema.OutputKind == Core.Schema.OutputKind.Regression)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"model '{model.Name}' is a regression: a version's reference holds a classifier's output shape (D3, the whole-output test's tails, D4) and embeddings (D5)");
        }

        if (!replace && version.Reference is { } existing && existing.BaselineId == baselineId)
        {
            throw Exists(version, existing);
        }
    }

    /// <summary>Checks a batch as a mirrored one, and what a reference needs on top: embeddings on every record (when the schema has them), no paired scores.</summary>
    private void Offer(ReferenceSample sample, ModelSchema schema, Protos.V1.RecordBatch batch, int message)
    {
        string where = $"message {message} (records from {sample.Received} of the upload)";
        if (ProtoTranslation.TryToCore(schema, batch, _options.Ingest.MaxRecordsPerBatch, out RecordBatch records, _options.TextLimits) is { } error)
        {
            throw Invalid($"{where}: {error}");
        }

        if (records.PairedScores.Length > 0 || !string.IsNullOrEmpty(records.PairedVersion))
        {
            throw Invalid($"{where}: batch.paired_scores: a reference is the version's own outputs; it carries no paired scores");
        }

        if (records.Count > 0 && schema.EmbeddingWidth > 0 && records.Embeddings.Length == 0)
        {
            throw Invalid($"{where}: batch.embeddings: required on every record of a reference ({schema.EmbeddingWidth} floats per record)");
        }

        sample.Add(records);
    }

    private static MonitorException Invalid(string message) => new(ErrorKind.InvalidArgument, message);

    internal static MonitorException Exists(VersionEntry version, StoredReference existing) => new(ErrorKind.AlreadyExists,
        $"version '{version.Version}' of model '{version.Model}' has reference {existing.Id} for baseline {existing.BaselineId} " +
        $"(uploaded {existing.UploadedAt:u} by {existing.UploadedBy}); an upload with replace set (drift versions reference --replace) replaces it");
}
