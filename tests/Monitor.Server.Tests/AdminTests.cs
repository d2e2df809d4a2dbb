using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Server.Persistence;
using Monitor.Simulation;
using Monitor.Server.Models;

namespace Monitor.Server.Tests;

/// <summary>Models, versions and baselines: the admin service's answers to good and bad requests.</summary>
public sealed class AdminTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private Sidecar _sidecar = null!;

    public async ValueTask InitializeAsync() => _sidecar = await Sidecar.StartAsync(_directory.File("monitor.db"));

    public async ValueTask DisposeAsync()
    {
        await _sidecar.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task An_invalid_schema_lists_every_problem()
    {
        var schema = new ModelSchema { OutputKind = OutputKind.Classification };
        schema.NumericFeatures.Add("amount");
        schema.CategoricalFeatures.Add("amount");
        schema.TextFields.Add("output.memo");
        schema.ClassLabels.Add("only-one");
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = "m", Schema = schema }));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("schema.categorical_features[0]: 'amount' is declared twice; " +
            "schema.text_fields[0]: 'output.memo' uses the reserved prefix 'output.'; " +
            "schema.class_labels: a classification output needs at least 2 labels, got 1", ex.Status.Detail);
    }

    [Fact]
    public async Task Missing_output_kind_and_bad_names_are_invalid()
    {
        var schema = ProtoTranslation.ToProto(FraudTraffic.Schema);
        schema.OutputKind = OutputKind.Unspecified;
        RpcException kind = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = "m", Schema = schema }));
        Assert.Equal("schema.output_kind: must be CLASSIFICATION, BINARY or REGRESSION", kind.Status.Detail);

        RpcException name = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.RegisterModelAsync(
            new RegisterModelRequest { Name = "bad name{}", Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) }));
        Assert.Equal(StatusCode.InvalidArgument, name.StatusCode);
        Assert.StartsWith("name: 'bad name{}' must be 1 to 128 characters", name.Status.Detail);
    }

    [Fact]
    public async Task Registering_again_is_idempotent_but_a_different_schema_is_refused()
    {
        var request = new RegisterModelRequest { Name = "m", Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) };
        Model first = await _sidecar.Admin.RegisterModelAsync(request);
        Model second = await _sidecar.Admin.RegisterModelAsync(request);
        Assert.Equal(first, second);

        request.Schema.NumericFeatures.Add("extra");
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.RegisterModelAsync(request));
        Assert.Equal(StatusCode.AlreadyExists, ex.StatusCode);
        ListModelsResponse models = await _sidecar.Admin.ListModelsAsync(new ListModelsRequest());
        Assert.Equal(6, Assert.Single(models.Models).Schema.NumericFeatures.Count);
    }

    [Fact]
    public async Task Versions_need_a_sha256_and_keep_their_artifact()
    {
        await Register();
        RpcException bad = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.RegisterVersionAsync(
            new RegisterVersionRequest { Model = Sidecar.Model, Version = "v1", ArtifactSha256 = "abc" }));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("artifact_sha256: expected 64 hexadecimal digits", bad.Status.Detail);

        ModelVersion v1 = await _sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model,
            Version = "v1",
            ArtifactSha256 = "sha256:" + Sidecar.DigestV1.ToUpperInvariant(),
            Source = "hub://org/fraud@abc",
        });
        Assert.Equal(Sidecar.DigestV1, v1.ArtifactSha256);
        Assert.Equal(VersionState.Candidate, v1.State);

        RpcException swapped = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.RegisterVersionAsync(
            new RegisterVersionRequest { Model = Sidecar.Model, Version = "v1", ArtifactSha256 = Sidecar.Digest("other") }));
        Assert.Equal(StatusCode.AlreadyExists, swapped.StatusCode);
        Assert.Contains("a different artifact needs a new version", swapped.Status.Detail);

        RpcException unknown = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.RegisterVersionAsync(
            new RegisterVersionRequest { Model = "nope", Version = "v1", ArtifactSha256 = Sidecar.DigestV1 }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Promotion_needs_an_actor_and_is_audited()
    {
        await Register();
        await _sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Sidecar.Model, Version = "v1", ArtifactSha256 = Sidecar.DigestV1 });
        RpcException anonymous = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest { Model = Sidecar.Model, Version = "v1" }));
        Assert.Equal(StatusCode.InvalidArgument, anonymous.StatusCode);

        ModelVersion promoted = await _sidecar.Admin.PromoteVersionAsync(
            new PromoteVersionRequest { Model = Sidecar.Model, Version = "v1", Actor = "bob", Reason = "passed review" });
        Assert.Equal(VersionState.KnownGood, promoted.State);
        var audit = _sidecar.App.Services.GetRequiredService<IModelStore>().LoadAudit(Sidecar.Model);
        var entry = Assert.Single(audit);
        Assert.Equal(("bob", "promote", "v1", "passed review"), (entry.Actor, entry.Action, entry.Version, entry.Reason));
    }

    [Fact]
    public async Task An_upload_asking_for_an_impossible_false_alarm_rate_is_refused_with_the_same_words_as_the_setting()
    {
        await Register();
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model, FalseAlarmRate = 1.5 }));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("false_alarm_rate must lie strictly between 0 and 1, got 1.5", ex.Status.Detail);
    }

    [Fact]
    public async Task Too_small_a_reference_set_is_refused_and_the_upload_stays_open_for_more()
    {
        await Register();
        var traffic = new FraudTraffic(seed: 3);
        BaselineUpload upload = await _sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model });
        await Append(upload, traffic, 1500);
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }));
        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Equal("the reference sample holds 1500 records; this baseline needs at least 2001: 1000 to profile and 500 " +
            "(one window) to calibrate, with 50 % of the sample profiled", ex.Status.Detail);

        MirrorBatch wrong = Sidecar.Batch(traffic, 10);
        wrong.Batch.Numeric.Add(1f);
        RpcException width = await Assert.ThrowsAsync<RpcException>(async () => await _sidecar.Admin.AppendBaselineAsync(
            new AppendBaselineRequest { UploadId = upload.UploadId, Batch = wrong.Batch }));
        Assert.Equal(StatusCode.InvalidArgument, width.StatusCode);
        Assert.StartsWith("batch.numeric:", width.Status.Detail);

        BaselineUpload more = await Append(upload, traffic, 1000);
        Assert.Equal(2500ul, more.RecordsReceived);
        Baseline baseline = await _sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
        Assert.Equal(2500ul, baseline.Summary.RecordsReceived);
        Assert.Equal(1250u, baseline.Summary.RecordsProfiled);

        RpcException again = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }));
        Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);
        Assert.Contains("is committed, not open", again.Status.Detail);
    }

    [Fact]
    public async Task An_upload_left_open_and_idle_is_aborted_when_the_next_one_begins_and_frees_its_place()
    {
        using var directory = new TempDirectory();
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.Parse("2026-11-26T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"), clock,
            "--Monitor:Baselines:MaxOpenUploads=2", "--Monitor:Baselines:UploadIdleTimeout=00:30:00");
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Sidecar.Model, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
        var traffic = new FraudTraffic(seed: 40);
        BaselineUpload abandoned = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model });
        BaselineUpload active = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model });
        RpcException full = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model }));
        Assert.Equal(StatusCode.ResourceExhausted, full.StatusCode);
        Assert.Contains("Monitor:Baselines:UploadIdleTimeout", full.Status.Detail);

        // Twenty minutes on, the active upload appends; the abandoned one stays idle for forty minutes in all.
        clock.Advance(TimeSpan.FromMinutes(20));
        await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = active.UploadId, Batch = ProtoTranslation.ToProto(traffic.Next(100, FraudDrift.None)) });
        clock.Advance(TimeSpan.FromMinutes(20));
        BaselineUpload next = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model });

        BaselineUpload expired = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = abandoned.UploadId });
        Assert.Equal(BaselineUploadState.Aborted, expired.State);
        Assert.Contains("no append for 00:30:00 (Monitor:Baselines:UploadIdleTimeout)", expired.Error);
        Assert.Equal(BaselineUploadState.Open, (await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = active.UploadId })).State);
        Assert.Equal(BaselineUploadState.Open, next.State);
        RpcException late = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.AbortBaselineAsync(new AbortBaselineRequest { UploadId = abandoned.UploadId }));
        Assert.Contains("is aborted, not open: aborted after no append for 00:30:00", late.Status.Detail);
    }

    [Fact]
    public async Task Unknown_uploads_and_missing_baselines_are_not_found()
    {
        await Register();
        RpcException upload = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = "nope" }));
        Assert.Equal(StatusCode.NotFound, upload.StatusCode);
        Assert.Contains("begin again", upload.Status.Detail);

        RpcException baseline = await Assert.ThrowsAsync<RpcException>(async () =>
            await _sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model }));
        Assert.Equal(StatusCode.NotFound, baseline.StatusCode);
        Assert.Equal("model 'fraud-scorer' has no baseline in force", baseline.Status.Detail);
    }

    [Fact]
    public async Task Without_a_baseline_records_are_counted_and_the_report_says_why_nothing_is_judged()
    {
        await Register();
        await _sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Sidecar.Model, Version = "v1", ArtifactSha256 = Sidecar.DigestV1 });
        await _sidecar.Mirror.IngestAsync(Sidecar.Batch(new FraudTraffic(1), 700));
        DriftReport report = await _sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(700ul, report.RecordsAccepted);
        Assert.Empty(report.Closed);
        Assert.Null(report.Current);
        Assert.StartsWith("model 'fraud-scorer' has no baseline in force", report.Status);
    }

    private Task<Model> Register() => _sidecar.Admin.RegisterModelAsync(
        new RegisterModelRequest { Name = Sidecar.Model, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) }).ResponseAsync;

    private async Task<BaselineUpload> Append(BaselineUpload upload, FraudTraffic traffic, int records)
    {
        BaselineUpload last = upload;
        for (int sent = 0; sent < records; sent += 500)
        {
            last = await _sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest
            {
                UploadId = upload.UploadId,
                Batch = ProtoTranslation.ToProto(traffic.Next(Math.Min(500, records - sent), FraudDrift.None)),
            });
        }

        return last;
    }
}
