using Grpc.Core;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using Monitor.Tests.Shared;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Server.Tests;

/// <summary>
/// A version's own reference captured from its live records (<c>Admin.CaptureVersionReference</c>, docs/detectors.md,
/// "Per-version references"): the alternative to an upload, taken only while the version has no trigger evidence open.
/// </summary>
public sealed partial class VersionReferenceTests
{
    [Fact]
    public async Task A_reference_captured_from_the_candidate_s_own_records_judges_its_embeddings_from_then_on()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        VersionReferenceCapture stored;
        await using (Sidecar sidecar = await StartAsync(directory))
        {
            VersionReferenceCapture started = await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest
            {
                Model = Model, Version = "v2", Records = 3000, Actor = "test", Reason = "retrained on November data",
            });
            Assert.Equal(VersionReferenceCapture.Types.State.Capturing, started.State);
            Assert.Equal(3000u, started.RecordsWanted);

            // Batches without embeddings are passed over (the reference needs them on every record); v1's records are not v2's.
            await MirrorBatchesAsync(sidecar, "v1", seed: 5103, batches: 2, retrained: false);
            await MirrorBatchesAsync(sidecar, "v2", seed: 5104, batches: 2, retrained: true, embeddings: false);
            VersionReferenceCapture part = await CaptureOf(sidecar);
            Assert.Equal((VersionReferenceCapture.Types.State.Capturing, 0ul, 2ul), (part.State, part.RecordsTaken, part.BatchesWithoutEmbeddings));

            await MirrorBatchesAsync(sidecar, "v2", seed: 5105, batches: 6, retrained: true);
            stored = await StoredAsync(sidecar);
            output.WriteLine($"{stored.State}: {stored.Message}; {stored.RecordsTaken} records taken");
            Assert.True(stored.Reference.Captured);
            // Live records can come from any ingest key: they set the embedding geometry alone, never the output shape.
            Assert.False(stored.Reference.OutputShape || stored.Reference.ConfidencePercentiles);
            Assert.Equal(3000ul, stored.Reference.RecordsReceived);
            Assert.Equal(stored.Reference, await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" }));

            await MirrorBatchesAsync(sidecar, "v2", seed: 5106, batches: 20, retrained: true);
            DriftReport report = await ReportAsync(sidecar, "v2");
            output.WriteLine(report.EmbeddingEvidence);
            output.WriteLine(report.ConfidenceEvidence);
            Assert.StartsWith($"judged against this version's own reference {stored.Reference.Id} (3000 of its live records, captured under baseline",
                report.EmbeddingEvidence, StringComparison.Ordinal);
            Assert.StartsWith($"D3, the whole-output test's tails and D4's residuals judged against baseline {report.BaselineId}'s: this version's reference {stored.Reference.Id} was captured",
                report.ConfidenceEvidence, StringComparison.Ordinal);
            (long embedded, long outliers) = EmbeddingCounts(sidecar, "v2");
            output.WriteLine($"after the capture: {outliers} outliers among {embedded} record counts of the keys the detector tracks");
            Assert.True(embedded > 0);
            Assert.True(outliers <= embedded / 100, $"{outliers} of {embedded}");
            Assert.DoesNotContain(report.Findings, HasEmbeddingEvidence);
        }

        // Stored as an upload is, and known as captured after a restart.
        await using (Sidecar restarted = await Sidecar.StartAsync(database))
        {
            VersionReference loaded = await restarted.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" });
            Assert.Equal(stored.Reference.Id, loaded.Id);
            Assert.True(loaded.Captured);
            await NoReferenceAsync(restarted.Admin, capture: true);
        }
    }

    /// <summary>
    /// A trigger in use while the candidate's records are captured must not become part of its reference: the capture is dropped
    /// when trigger evidence opened during it, and a capture is refused while evidence is open.
    /// </summary>
    [Fact]
    public async Task A_capture_is_dropped_when_trigger_evidence_opens_during_it_and_refused_while_evidence_is_open()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);
        await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest { Model = Model, Version = "v2", Records = 15_000, Actor = "test" });

        await MirrorBatchesAsync(sidecar, "v2", seed: 5107, batches: 30, retrained: true, injection: Injection.MemoToken, rate: 0.01);
        VersionReferenceCapture dropped = await CaptureOf(sidecar);
        output.WriteLine($"{dropped.State}: {dropped.Message}");
        Assert.Equal(VersionReferenceCapture.Types.State.Dropped, dropped.State);
        Assert.StartsWith("trigger evidence was opened while its records were taken (critical D1:", dropped.Message, StringComparison.Ordinal);
        await NoReferenceAsync(sidecar.Admin);

        RpcException refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest { Model = Model, Version = "v2", Actor = "test" }));
        output.WriteLine(refused.Status.Detail);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.StartsWith($"version 'v2' of model '{Model}' has trigger evidence open (critical D1:", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_an_admin_captures_a_reference_and_never_from_a_quarantined_version_nor_over_one_it_has()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartWithKeysAsync(directory);
        var request = new CaptureVersionReferenceRequest { Model = Model, Version = "v2", Records = 500, Actor = "test" };
        foreach (string key in new[] { IngestKey, ReadKey })
        {
            using GrpcChannel channel = sidecar.OpenChannel(key);
            RpcException denied = await Assert.ThrowsAsync<RpcException>(async () => await new Admin.AdminClient(channel).CaptureVersionReferenceAsync(request));
            Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        }

        RpcException few = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest { Model = Model, Version = "v2", Records = 100, Actor = "test" }));
        Assert.Equal((StatusCode.InvalidArgument, "records: 100 is fewer than the 200 records a reference needs"), (few.StatusCode, few.Status.Detail));

        VersionReference uploaded = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
        RpcException exists = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.CaptureVersionReferenceAsync(request));
        Assert.Equal(StatusCode.AlreadyExists, exists.StatusCode);

        // A capture over the uploaded reference (replace), then the version quarantined before its records are in: nothing is stored.
        VersionReferenceCapture first = await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest
        {
            Model = Model, Version = "v2", Records = 500, Replace = true, Actor = "test",
        });
        Assert.EndsWith("(key ops-admin)", first.StartedBy, StringComparison.Ordinal);
        await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest { Model = Model, Version = "v2", Reason = "test", Actor = "test" });
        using (GrpcChannel pod = sidecar.OpenChannel(IngestKey))
        {
            await MirrorBatchesAsync(sidecar, "v2", seed: 5108, batches: 2, retrained: true, mirror: new Mirror.MirrorClient(pod));
        }

        VersionReferenceCapture ended = await CaptureOf(sidecar);
        output.WriteLine($"{ended.State}: {ended.Message}");
        Assert.Equal(VersionReferenceCapture.Types.State.Dropped, ended.State);
        Assert.Contains("is Quarantined; a reference is not taken from the records of a version under suspicion or taken out of service", ended.Message,
            StringComparison.Ordinal);
        Assert.Equal(uploaded.Id, (await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" })).Id);

        RpcException quarantined = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.CaptureVersionReferenceAsync(
            new CaptureVersionReferenceRequest { Model = Model, Version = "v2", Records = 500, Replace = true, Actor = "test" }));
        Assert.Equal(StatusCode.FailedPrecondition, quarantined.StatusCode);
    }

    /// <summary>A version's own first records as its reference, asked at registration (<c>RegisterVersionRequest.capture_reference_records</c>).</summary>
    [Fact]
    public async Task A_version_registered_with_capture_reference_records_takes_its_reference_from_its_first_records()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);

        RpcException few = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v4", ArtifactSha256 = Sidecar.Digest("v4"), Source = "test", CaptureReferenceRecords = 100,
        }));
        Assert.Equal((StatusCode.InvalidArgument, "capture_reference_records: 100 is fewer than the 200 records a reference needs"), (few.StatusCode, few.Status.Detail));
        RpcException notRegistered = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = "v4" }));
        Assert.Equal(StatusCode.NotFound, notRegistered.StatusCode);

        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v3", ArtifactSha256 = Sidecar.Digest("v3"), Source = "test", CaptureReferenceRecords = 1000,
        });
        var request = new GetVersionReferenceRequest { Model = Model, Version = "v3" };
        VersionReferenceCapture capture = await sidecar.Admin.GetVersionReferenceCaptureAsync(request);
        Assert.Equal((VersionReferenceCapture.Types.State.Capturing, 1000u), (capture.State, capture.RecordsWanted));

        await MirrorBatchesAsync(sidecar, "v3", seed: 5109, batches: 2, retrained: true);
        capture = await StoredAsync(sidecar, "v3");
        output.WriteLine($"{capture.State}: {capture.Message}; started by {capture.StartedBy}");
        Assert.True(capture.Reference.Captured);
        Assert.Equal(1000ul, capture.Reference.RecordsReceived);
    }

    private static async Task<VersionReferenceCapture> CaptureOf(Sidecar sidecar, string version = "v2")
    {
        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        return await sidecar.Admin.GetVersionReferenceCaptureAsync(new GetVersionReferenceRequest { Model = Model, Version = version });
    }

    /// <summary>The capture once its reference is built and stored (built off the pipeline: polled, for at most a minute).</summary>
    private static async Task<VersionReferenceCapture> StoredAsync(Sidecar sidecar, string version = "v2")
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        VersionReferenceCapture capture = await CaptureOf(sidecar, version);
        while (capture.State == VersionReferenceCapture.Types.State.Capturing && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
            capture = await CaptureOf(sidecar, version);
        }

        Assert.True(capture.State == VersionReferenceCapture.Types.State.Stored, $"{capture.State}: {capture.Message}");
        return capture;
    }

    private static async Task MirrorBatchesAsync(Sidecar sidecar, string version, int seed, int batches, bool retrained, bool embeddings = true,
        Injection injection = Injection.None, double rate = 0, Mirror.MirrorClient? mirror = null)
    {
        mirror ??= sidecar.Mirror;
        var traffic = new ScenarioTraffic(seed, injection, rate);
        for (int b = 0; b < batches; b++)
        {
            CoreBatch batch = traffic.Next(Sidecar.WindowRecords);
            Protos.V1.RecordBatch proto = ProtoTranslation.ToProto(retrained ? Retrained.Apply(batch) : batch);
            if (!embeddings)
            {
                proto.Embeddings.Clear();
            }

            MirrorAck ack = await mirror.IngestAsync(new MirrorBatch
            {
                Model = Model, Version = version, ArtifactSha256 = Sidecar.Digest(version), Batch = proto,
            });
            Assert.Equal((uint)batch.Count, ack.Accepted);
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
    }
}

/// <summary>
/// A version's own reference for a model without an embedding (the fraud model): it holds the output shape alone (D3's
/// percentiles, the whole-output test's tails, D4's residuals), uploaded or captured.
/// </summary>
public sealed class VersionReferenceWithoutEmbeddingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_model_without_an_embedding_takes_a_version_s_reference_of_its_output_shape_uploaded_or_captured()
    {
        using var directory = new TempDirectory();
        string database = await FraudModel.DatabaseAsync(directory.File("monitor.db"));
        await using Sidecar sidecar = await Sidecar.StartAsync(database);
        await sidecar.RegisterCandidateAsync("v2");

        // The baseline's reference set (the template's: 6,000 records of seed 1000) replayed through v2.
        var replay = new FraudTraffic(1000);
        using AsyncClientStreamingCall<VersionReferenceChunk, VersionReference> call = sidecar.Admin.UploadVersionReference();
        for (int b = 0; b < 6; b++)
        {
            await call.RequestStream.WriteAsync(new VersionReferenceChunk
            {
                Model = b == 0 ? Sidecar.Model : "", Version = b == 0 ? "v2" : "", Actor = "test",
                Batch = ProtoTranslation.ToProto(replay.Next(1000, FraudDrift.None)),
            }, TestContext.Current.CancellationToken);
        }

        await call.RequestStream.CompleteAsync();
        VersionReference uploaded = await call.ResponseAsync;
        Assert.Equal((0u, true, true, 6000ul), (uploaded.EmbeddingWidth, uploaded.ConfidencePercentiles, uploaded.OutputShape, uploaded.RecordsReceived));

        var traffic = new FraudTraffic(1001);
        for (int w = 0; w < 4; w++)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords, version: "v2", digest: Sidecar.Digest("v2")));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        output.WriteLine(report.ConfidenceEvidence);
        Assert.Equal("", report.EmbeddingEvidence);
        Assert.StartsWith($"D3 judged against this version's own reference {uploaded.Id}: the 99.9th percentiles of confidence of its outputs on baseline",
            report.ConfidenceEvidence, StringComparison.Ordinal);
        Assert.Contains("the whole-output test's tails are its own in ", report.ConfidenceEvidence, StringComparison.Ordinal);

        // A capture would hold the embedding geometry alone, and this model has none: refused, at a capture and at registration.
        RpcException refused = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.CaptureVersionReferenceAsync(
            new CaptureVersionReferenceRequest { Model = Sidecar.Model, Version = "v2", Records = 1000, Replace = true, Actor = "test" }));
        output.WriteLine(refused.Status.Detail);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.StartsWith($"model '{Sidecar.Model}' declares no embedding: a captured reference holds the embedding geometry alone", refused.Status.Detail,
            StringComparison.Ordinal);
        RpcException atRegistration = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model, Version = "v3", ArtifactSha256 = Sidecar.Digest("v3"), Source = "test", CaptureReferenceRecords = 1000,
        }));
        Assert.Equal(StatusCode.FailedPrecondition, atRegistration.StatusCode);
        Assert.Equal(uploaded.Id, (await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Sidecar.Model, Version = "v2" })).Id);
    }
}
