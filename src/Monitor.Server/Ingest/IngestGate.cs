using Grpc.Core;
using Microsoft.Extensions.Options;
using Monitor.Core;
using Monitor.Server.Metrics;
using Monitor.Server.Models;
using Monitor.Protos.V1;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Server.Ingest;

/// <summary>
/// Checks, counts and queues mirrored batches; shared by the unary and streaming calls. A bad batch
/// is rejected whole with a status naming the field; nothing of it is counted in any window.
/// </summary>
internal sealed class IngestGate
{
    private readonly ModelCatalog _models;
    private readonly ModelPipelines _pipelines;
    private readonly IModelStore _store;
    private readonly MonitorMetrics _metrics;
    private readonly MonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private readonly ClientRateLimiter _rates;
    private readonly Core.Ingest.TextLimits _textLimits;

    public IngestGate(ModelCatalog models, ModelPipelines pipelines, IModelStore store, MonitorMetrics metrics, IOptions<MonitorOptions> options,
        TimeProvider time, ClientRateLimiter rates, ILogger<IngestGate> logger)
    {
        _rates = rates;
        _textLimits = options.Value.TextLimits;
        _models = models;
        _pipelines = pipelines;
        _store = store;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _metrics.QueueCapacity.Set(_options.Ingest.QueueCapacity);
    }

    /// <summary>
    /// Accepts, drops or rejects a batch from <paramref name="client"/>; the ack's error code is the status a unary call fails with.
    /// </summary>
    public MirrorAck Submit(MirrorBatch request, string client)
    {
        var ack = new MirrorAck { Sequence = request.Sequence };
        VersionEntry version;
        string digest;
        try
        {
            version = _models.GetVersion(request.Model, request.Version);
            digest = ModelCatalog.NormalizeDigest("artifact_sha256", request.ArtifactSha256);
        }
        catch (MonitorException ex)
        {
            return Reject(ack, ErrorStatus.Of(ex.Kind), ex.Message);
        }

        ModelEntry model = _models.Get(version.Model);
        long claimed = request.Batch?.Records ?? 0;
        // Charged before validation, so invalid batches cost their sender too; an oversized one is refused below as invalid.
        if (claimed <= _options.Ingest.MaxRecordsPerBatch && _rates.TryTake(client, claimed) is { } refused)
        {
            _metrics.LimitBreaches.WithLabels("client_rate").Inc();
            return Reject(ack, StatusCode.ResourceExhausted, refused);
        }

        if (ProtoTranslation.TryToCore(model.Schema, request.Batch, _options.Ingest.MaxRecordsPerBatch, out CoreBatch batch, _textLimits, version.Version,
                model.Versions.ContainsKey) is { } error)
        {
            if (error.Limit is { } limit)
            {
                _metrics.LimitBreaches.WithLabels(limit).Inc();
            }

            return Reject(ack, StatusCode.InvalidArgument, error.ToString());
        }

        DigestReport? report = null;
        if (digest != version.ArtifactSha256)
        {
            // A client's claim that the artifact differs: durable before the ack, one row per digest (a bounded number per version).
            report = new DigestReport(client, digest);
            bool first = _store.RecordDigestMismatch(model.Name, version.Version, digest, batch.Count, _time.GetUtcNow());
            version.CountDigestMismatch(batch.Count);
            _metrics.DigestMismatchRecords.WithLabels(model.Name, version.Version).Inc(batch.Count);
            ack.Warnings.Add($"artifact_sha256 {digest} differs from the registered {version.ArtifactSha256} of version " +
                $"'{version.Version}': the records were accepted and the mismatch recorded");
            if (first)
            {
                Log.DigestMismatch(_logger, model.Name, version.Version, digest, version.ArtifactSha256);
            }
        }

        if (_pipelines.Of(model).TryEnqueue(version, batch, report) is { } refusal)
        {
            _metrics.IngestBatches.WithLabels("dropped").Inc();
            _metrics.IngestRecords.WithLabels(model.Name, version.Version, "dropped").Inc(batch.Count);
            _metrics.LimitBreaches.WithLabels(refusal.Limit).Inc();
            ack.Dropped = (uint)batch.Count;
            ack.ErrorCode = (int)StatusCode.ResourceExhausted;
            ack.ErrorMessage = refusal.Message;
            return ack;
        }

        version.CountAccepted(batch.Count, _time.GetUtcNow());
        if (batch.Count > 0)
        {
            model.ServingVersion = version.Version;
        }

        _metrics.IngestBatches.WithLabels("accepted").Inc();
        _metrics.IngestRecords.WithLabels(model.Name, version.Version, "accepted").Inc(batch.Count);
        ack.Accepted = (uint)batch.Count;
        return ack;
    }

    private MirrorAck Reject(MirrorAck ack, StatusCode code, string message)
    {
        _metrics.IngestBatches.WithLabels("rejected").Inc();
        Log.BatchRejected(_logger, code.ToString(), message);
        ack.ErrorCode = (int)code;
        ack.ErrorMessage = message;
        return ack;
    }
}
