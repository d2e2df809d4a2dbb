using Grpc.Core;
using Monitor.Server.Security;
using Monitor.Core.Baselines;
using Monitor.Protos.V1;
using Monitor.Server.Alerting;
using Monitor.Server.Models;
using Monitor.Server.Baselines;
using Monitor.Server.Ingest;
using Monitor.Server.Readiness;
using Monitor.Server.Reports;

namespace Monitor.Server.Registry;

/// <summary>The gRPC admin service: models, versions and baselines.</summary>
internal sealed class AdminService(ModelRegistry registry, ModelPipelines pipelines, BaselineUploads uploads, IBaselineStore store,
    BaselineReadiness readiness, References.VersionReferenceUploads references, References.VersionReferenceCaptures captures, ILogger<AdminService> logger)
    : Admin.AdminBase
{
    public override async Task<VersionReference> UploadVersionReference(IAsyncStreamReader<VersionReferenceChunk> requestStream, ServerCallContext context)
    {
        (StoredReference stored, bool replaced) = await references.UploadAsync(requestStream,
            actor => Audit.Actor(actor, "uploads the version's reference", context), context.CancellationToken);
        return ToProto(stored, registry.Get(stored.Model).Baseline?.Profile.Id, replaced);
    }

    public override Task<VersionReference> GetVersionReference(GetVersionReferenceRequest request, ServerCallContext context)
    {
        VersionEntry version = registry.GetVersion(request.Model, request.Version);
        StoredReference stored = version.Reference ?? throw new RpcException(new Status(StatusCode.NotFound,
            $"version '{ModelCatalog.Truncate(version.Version)}' of model '{version.Model}' has no reference of its own; upload one with `{EmbeddingReferences.Command}`"));
        return Task.FromResult(ToProto(stored, registry.Get(stored.Model).Baseline?.Profile.Id, replaced: false));
    }

    public override async Task<VersionReferenceCapture> CaptureVersionReference(CaptureVersionReferenceRequest request, ServerCallContext context)
    {
        string actor = Audit.Actor(request.Actor, "captures the version's reference", context);
        References.ReferenceCapture capture = await captures.StartAsync(request, actor, context.CancellationToken);
        Log.AdminAction(logger, actor, "started a reference capture of", request.Model, request.Version, request.Reason);
        return ToProto(capture);
    }

    public override Task<VersionReferenceCapture> GetVersionReferenceCapture(GetVersionReferenceRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(captures.Get(request.Model, request.Version)));

    private VersionReferenceCapture ToProto(References.ReferenceCapture capture)
    {
        var proto = new VersionReferenceCapture
        {
            Model = capture.Model.Name,
            Version = capture.Version.Version,
            State = capture.State,
            RecordsWanted = capture.Wanted,
            RecordsTaken = (ulong)capture.Taken,
            BatchesWithoutEmbeddings = (ulong)capture.BatchesWithoutEmbeddings,
            BaselineId = capture.BaselineId,
            StartedAt = ProtoTranslation.ToProto(capture.StartedAt),
            StartedBy = capture.StartedBy,
            Message = capture.Message,
        };
        if (capture.Reference is { } stored)
        {
            proto.Reference = ToProto(stored, registry.Get(stored.Model).Baseline?.Profile.Id, capture.Replaced);
        }

        return proto;
    }

    private static VersionReference ToProto(StoredReference stored, long? inForce, bool replaced) => new()
    {
        Id = stored.Id,
        Model = stored.Model,
        Version = stored.Version,
        BaselineId = stored.BaselineId,
        RecordsReceived = (ulong)stored.RecordsReceived,
        RecordsKept = (uint)stored.RecordsKept,
        EmbeddingWidth = (uint)(stored.Profile?.Width ?? 0),
        EmbeddingComponents = (uint)(stored.Profile?.ComponentCount ?? 0),
        OutlierRate = stored.Profile?.OutlierRate ?? 0,
        UploadedAt = ProtoTranslation.ToProto(stored.UploadedAt),
        UploadedBy = stored.UploadedBy,
        InUse = inForce == stored.BaselineId,
        Replaced = replaced,
        ConfidencePercentiles = stored.Confidence is not null,
        OutputShape = stored.Shape is not null,
        Captured = stored.Captured,
    };

    public override Task<Model> RegisterModel(RegisterModelRequest request, ServerCallContext context)
    {
        if (request.Schema is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "schema: required"));
        }

        Core.Schema.ModelSchema schema;
        try
        {
            schema = ProtoTranslation.ToCore(request.Schema);
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }

        return Task.FromResult(ToProto(registry.Register(request.Name, schema, request.Description)));
    }

    public override Task<Model> GetModel(GetModelRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(registry.Get(request.Name)));

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var response = new ListModelsResponse();
        response.Models.AddRange(registry.Models.Select(ToProto));
        return Task.FromResult(response);
    }

    public override async Task<ModelVersion> RegisterVersion(RegisterVersionRequest request, ServerCallContext context)
    {
        Core.Versions.VersionState state = ProtoTranslation.ToCore(request.InitialState) ?? throw new RpcException(new Status(
            StatusCode.InvalidArgument, $"initial_state: a version is registered as CANDIDATE or KNOWN_GOOD, not {request.InitialState}"));
        if (request.CaptureReferenceRecords > 0)
        {
            // Checked before the version is registered, so a refusal leaves nothing half done.
            References.VersionReferenceCaptures.CheckFirstRecords(registry.Get(request.Model), request.CaptureReferenceRecords);
        }

        VersionEntry registered = registry.RegisterVersion(request.Model, request.Version, request.ArtifactSha256,
            request.Source, state, request.Signature.Memory, request.ArtifactPath);
        if (request.CaptureReferenceRecords > 0)
        {
            string actor = Audit.Actor("registration", "captures the version's reference", context);
            await captures.StartAsync(new CaptureVersionReferenceRequest
            {
                Model = registered.Model, Version = registered.Version, Records = request.CaptureReferenceRecords, Reason = "its first records, asked at registration",
            }, actor, context.CancellationToken);
        }

        return ToProto(registered);
    }

    public override Task<Model> SetModelArtifactPath(SetModelArtifactPathRequest request, ServerCallContext context)
    {
        string actor = Audit.Actor(request.Actor, "sets the model's artifact path", context);
        return Task.FromResult(ToProto(registry.SetArtifactPathTemplate(request.Model, request.ArtifactPathTemplate, actor, Audit.Reason(request.Reason))));
    }

    public override Task<Model> SetModelSigning(SetModelSigningRequest request, ServerCallContext context)
    {
        string actor = Audit.Actor(request.Actor, "pins the model's signing keys", context);
        return Task.FromResult(ToProto(registry.SetSigning(request.Model, request.AddPublicKeys, request.RemoveKeyIds,
            request.HasRequireSignedVersions ? request.RequireSignedVersions : null, actor, Audit.Reason(request.Reason))));
    }

    public override Task<ModelVersion> GetVersion(GetVersionRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(registry.GetVersion(request.Model, request.Version)));

    public override Task<ListVersionsResponse> ListVersions(ListVersionsRequest request, ServerCallContext context)
    {
        var response = new ListVersionsResponse();
        response.Versions.AddRange(registry.Get(request.Model).Versions.Values
            .OrderBy(v => v.RegisteredAt).ThenBy(v => v.Version, StringComparer.Ordinal).Select(ToProto));
        return Task.FromResult(response);
    }

    public override async Task<ModelVersion> PromoteVersion(PromoteVersionRequest request, ServerCallContext context)
    {
        VersionEntry entry = await registry.PromoteAsync(request.Model, request.Version,
            Audit.Actor(request.Actor, "promotes the version", context), Audit.Reason(request.Reason));
        return ToProto(entry);
    }

    public override async Task<ModelVersion> QuarantineVersion(QuarantineVersionRequest request, ServerCallContext context)
    {
        VersionEntry entry = registry.GetVersion(request.Model, request.Version);
        string actor = Audit.Actor(request.Actor, "quarantines the version", context);
        await pipelines.Of(registry.Get(request.Model)).QuarantineAsync(entry, actor, Audit.Reason(request.Reason), rollBack: false, to: null,
            context.CancellationToken);
        Log.AdminAction(logger, actor, "quarantined", request.Model, request.Version, request.Reason);
        return ToProto(entry);
    }

    public override async Task<RollBackVersionResponse> RollBackVersion(RollBackVersionRequest request, ServerCallContext context)
    {
        VersionEntry entry = registry.GetVersion(request.Model, request.Version);
        string actor = Audit.Actor(request.Actor, "rolls the version back", context);
        string? to = null;
        if (request.ToVersion.Length > 0)
        {
            VersionEntry target = registry.GetVersion(request.Model, request.ToVersion);
            if (target.Version == entry.Version || target.State == Core.Versions.VersionState.Quarantined)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    $"to_version: '{ModelCatalog.Truncate(request.ToVersion)}' is {(target.Version == entry.Version ? "the version rolled back from" : "quarantined")}"));
            }

            to = target.Version;
        }

        IncidentResult result = await pipelines.Of(registry.Get(request.Model)).QuarantineAsync(entry, actor, Audit.Reason(request.Reason), rollBack: true, to,
            context.CancellationToken);
        Log.AdminAction(logger, actor, "rolled back", request.Model, request.Version, request.Reason);
        return new RollBackVersionResponse
        {
            Version = ToProto(entry),
            SignalSequence = (ulong)(result.Rollback?.Sequence ?? 0),
            ToVersion = result.Rollback?.To ?? "",
        };
    }


    public override async Task<BaselineUpload> BeginBaseline(BeginBaselineRequest request, ServerCallContext context) =>
        ToProto(await uploads.BeginAsync(request.Model, request.Description, request.WindowRecords, request.FalseAlarmRate,
            request.CaptureFromVersion, request.CaptureRecords, context.CancellationToken, request.ScoredByVersion));

    public override Task<BaselineUpload> AppendBaseline(AppendBaselineRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(uploads.Append(request.UploadId, request.Batch)));

    public override Task<BaselineUpload> GetBaselineUpload(GetBaselineUploadRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(uploads.Get(request.UploadId)));

    public override async Task<Baseline> CommitBaseline(CommitBaselineRequest request, ServerCallContext context)
    {
        BaselineProfile profile = await uploads.CommitAsync(request.UploadId, context.CancellationToken);
        return ToProto(profile, inForce: true);
    }

    public override Task<BaselineUpload> AbortBaseline(AbortBaselineRequest request, ServerCallContext context) =>
        Task.FromResult(ToProto(uploads.Abort(request.UploadId)));

    public override Task<Baseline> GetBaseline(GetBaselineRequest request, ServerCallContext context)
    {
        ModelEntry model = registry.Get(request.Model);
        long inForce = model.Baseline?.Profile.Id ?? 0;
        long id = request.BaselineId == 0 ? inForce : request.BaselineId;
        if (id == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"model '{model.Name}' has no baseline in force"));
        }

        BaselineProfile profile = (id == inForce ? model.Baseline!.Profile : store.LoadBaseline(id)) is { } found && found.Model == model.Name
            ? found
            : throw new RpcException(new Status(StatusCode.NotFound, $"baseline {id} of model '{model.Name}' does not exist"));
        return Task.FromResult(ToProto(profile, id == inForce));
    }

    /// <summary>A baseline with its readiness report.</summary>
    private Baseline ToProto(BaselineProfile profile, bool inForce) =>
        ReportTranslation.ToProto(profile, inForce, readiness.Of(profile), readiness.RequiredRecords(profile));

    public override Task<ListBaselinesResponse> ListBaselines(ListBaselinesRequest request, ServerCallContext context)
    {
        ModelEntry model = registry.Get(request.Model);
        long inForce = model.Baseline?.Profile.Id ?? 0;
        var response = new ListBaselinesResponse();
        response.Baselines.AddRange(store.LoadBaselines(model.Name).Select(p => ReportTranslation.Summary(p, p.Id == inForce)));
        return Task.FromResult(response);
    }

    private static Model ToProto(ModelEntry model) => new()
    {
        Name = model.Name,
        Schema = ProtoTranslation.ToProto(model.Schema),
        Description = model.Description,
        RegisteredAt = ProtoTranslation.ToProto(model.RegisteredAt),
        BaselineId = model.Baseline?.Profile.Id ?? 0,
        PublicKeys =
        {
            model.Keys.Select(k => new PinnedKey
            {
                KeyId = k.KeyId, Algorithm = k.Algorithm, PublicKeyPem = k.Pem, PinnedAt = ProtoTranslation.ToProto(k.PinnedAt),
            }),
        },
        RequireSignedVersions = model.RequireSigned,
        ArtifactPathTemplate = model.ArtifactPathTemplate,
    };

    private static ModelVersion ToProto(VersionEntry version) => new()
    {
        Model = version.Model,
        Version = version.Version,
        ArtifactSha256 = version.ArtifactSha256,
        Source = version.Source,
        State = ProtoTranslation.ToProto(version.State),
        RegisteredAt = ProtoTranslation.ToProto(version.RegisteredAt),
        RecordsAccepted = version.RecordsAccepted,
        RecordsDigestMismatch = version.RecordsDigestMismatch,
        WindowsClosed = version.WindowsClosed,
        SignedBy = version.SignedBy,
        ArtifactPath = version.ArtifactPath,
        UnsafeArtifact = version.UnsafeArtifact,
        ArtifactVerifiedAt = version.ArtifactVerifiedAt is { } verified ? ProtoTranslation.ToProto(verified) : null,
    };

    private static BaselineUpload ToProto(UploadSession session) => new()
    {
        UploadId = session.Id,
        Model = session.Model.Name,
        State = session.State switch
        {
            UploadState.Open => BaselineUploadState.Open,
            UploadState.Committing => BaselineUploadState.Committing,
            UploadState.Committed => BaselineUploadState.Committed,
            UploadState.Aborted => BaselineUploadState.Aborted,
            _ => BaselineUploadState.Failed,
        },
        RecordsReceived = (ulong)session.RecordsReceived,
        RecordsSampled = (ulong)session.RecordsSampled,
        CaptureFromVersion = session.CaptureFrom?.Version ?? "",
        CaptureRecords = (uint)session.CaptureRecords,
        BaselineId = session.BaselineId,
        Error = session.Error,
    };
}
