using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Data.Sqlite;
using ConfidencePercentiles = Monitor.Core.Detectors.ConfidencePercentiles;
using OutputShape = Monitor.Core.Detectors.OutputShape;
using DetectorState = Monitor.Core.Detectors.DetectorState;
using EmbeddingReference = Monitor.Core.Detectors.EmbeddingReference;
using EmbeddingSource = Monitor.Core.Detectors.EmbeddingSource;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Server.Tests;

/// <summary>
/// Per-version references over a real port and a real database (docs/detectors.md, "Per-version references"): a model whose
/// records carry 16-wide embeddings (<see cref="ScenarioTraffic"/>), v1 known-good and the source of the baseline's reference
/// set, and a retrained clean candidate v2 whose hidden layer is another network's (<see cref="RetrainedEmbedding"/>).
/// </summary>
public sealed partial class VersionReferenceTests(ITestOutputHelper output)
{
    private const string Model = "scenario-scorer";
    private const int ReferenceSeed = 5100;
    private const int ReferenceBatches = 6;
    private const int ReferenceRecords = ReferenceBatches * 1000;
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";
    private const string ReadKey = "read-key-0123456789abcdef";

    private static readonly RetrainedEmbedding Retrained = new(ScenarioTraffic.EmbeddingWidth, seed: 5101);
    private static readonly Lazy<Task<string>> Template = new(BuildTemplateAsync);

    [Fact]
    public async Task A_retrained_candidate_with_its_own_reference_is_judged_against_it_and_gets_no_embedding_evidence_on_clean_traffic()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);
        VersionReference reference = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
        Assert.Equal((ulong)ReferenceRecords, reference.RecordsReceived);
        Assert.Equal(16u, reference.EmbeddingWidth);
        Assert.True(reference.InUse);
        Assert.False(reference.Replaced);
        Assert.True(reference.ConfidencePercentiles);

        await MirrorAsync(sidecar, "v2", windows: 20, retrained: true);

        DriftReport report = await ReportAsync(sidecar, "v2");
        output.WriteLine(report.EmbeddingEvidence);
        Assert.StartsWith($"judged against this version's own reference {reference.Id} ({ReferenceRecords} records", report.EmbeddingEvidence, StringComparison.Ordinal);
        (long embedded, long outliers) = EmbeddingCounts(sidecar, "v2");
        output.WriteLine($"candidate records with embeddings counted by the detector's keys: {embedded}, outliers among them: {outliers}");
        // Against the baseline's geometry every one of these records is an outlier (VersionReferenceTests in Monitor.Core.Tests).
        Assert.True(embedded > 0);
        Assert.True(outliers <= embedded / 100, $"{outliers} of {embedded}");
        Assert.DoesNotContain(report.Findings, HasEmbeddingEvidence);
        Assert.Equal(reference.Id, (await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" })).Id);
    }

    [Fact]
    public async Task A_retrained_candidate_without_a_reference_gets_no_embedding_evidence_and_its_report_and_verdict_say_so()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);

        await MirrorAsync(sidecar, "v2", windows: 20, retrained: true);

        DriftReport report = await ReportAsync(sidecar, "v2");
        output.WriteLine(report.EmbeddingEvidence);
        Assert.StartsWith("embedding evidence not used: this version has no reference of its own", report.EmbeddingEvidence, StringComparison.Ordinal);
        Assert.Contains("drift versions reference", report.EmbeddingEvidence, StringComparison.Ordinal);
        using (JsonDocument verdict = JsonDocument.Parse(await sidecar.Http.GetStringAsync($"/api/v1/verdict/{Model}/v2", TestContext.Current.CancellationToken)))
        {
            Assert.Equal(report.EmbeddingEvidence, verdict.RootElement.GetProperty("embeddingEvidence").GetString());
        }

        VersionVerdict grpcVerdict = await new Protos.V1.Reports.ReportsClient(sidecar.Channel).GetVerdictAsync(new GetVerdictRequest { Model = Model, Version = "v2" });
        Assert.Equal(report.EmbeddingEvidence, grpcVerdict.EmbeddingEvidence);
        output.WriteLine(report.ConfidenceEvidence);
        Assert.Equal($"D3 judged against baseline {report.BaselineId}'s percentiles of confidence: this version has no reference of its own for the baseline in force " +
            "(outputs are comparable across versions, so D3 still runs)", report.ConfidenceEvidence);
        Assert.Equal(report.ConfidenceEvidence, grpcVerdict.ConfidenceEvidence);
        Assert.Equal((0, 0), EmbeddingCounts(sidecar, "v2"));
        Assert.Equal(EmbeddingSource.None, sidecar.Registry.GetVersion(Model, "v2").Monitor.Detector!.Embedding.Source);
        Assert.DoesNotContain(report.Findings, HasEmbeddingEvidence);
        await NoReferenceAsync(sidecar.Admin);
    }

    [Fact]
    public async Task The_baseline_s_own_version_is_judged_against_the_baseline_s_embedding_profile()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);

        await MirrorAsync(sidecar, "v1", windows: 10, retrained: false);

        DriftReport report = await ReportAsync(sidecar, "v1");
        Assert.Equal($"judged against baseline {report.BaselineId}'s embedding profile: this version's traffic built the baseline", report.EmbeddingEvidence);
        Assert.Equal($"D3 judged against baseline {report.BaselineId}'s percentiles of confidence: this version's traffic built the baseline", report.ConfidenceEvidence);
        (long embedded, long outliers) = EmbeddingCounts(sidecar, "v1");
        Assert.True(embedded > 0, "D5 counts v1's embeddings");
        Assert.True(outliers <= embedded / 100, $"{outliers} of {embedded}");
        Assert.Equal(EmbeddingSource.Baseline, sidecar.Registry.GetVersion(Model, "v1").Monitor.Detector!.Embedding.Source);
    }

    [Fact]
    public async Task A_reference_set_names_the_version_that_scored_it_and_another_known_good_version_gets_no_embedding_evidence()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);
        // v2, a retraining, is made known-good before a new reference set scored by v1 is committed: without the set naming its
        // version, every version known-good before the commit was taken to have scored it, v2's other network included.
        await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest { Model = Model, Version = "v2", Actor = "test", Reason = "retrained" });
        var wrong = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model, ScoredByVersion = "v9" }));
        Assert.Equal(StatusCode.NotFound, wrong.StatusCode);
        var both = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Model, CaptureFromVersion = "v1", CaptureRecords = 20_000, ScoredByVersion = "v1" }));
        Assert.Equal(StatusCode.InvalidArgument, both.StatusCode);
        Assert.Contains("scored_by_version", both.Status.Detail, StringComparison.Ordinal);

        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model, ScoredByVersion = "v1" });
        var traffic = new ScenarioTraffic(ReferenceSeed + 1);
        for (int b = 0; b < ReferenceBatches; b++)
        {
            await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(traffic.Next(1000)) });
        }

        Baseline committed = await sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
        Assert.Equal("reference:v1", committed.Summary.Source);
        await MirrorAsync(sidecar, "v1", windows: 2, retrained: false);
        await MirrorAsync(sidecar, "v2", windows: 2, retrained: true);

        Assert.Equal($"judged against baseline {committed.Summary.Id}'s embedding profile: this version's traffic built the baseline",
            (await ReportAsync(sidecar, "v1")).EmbeddingEvidence);
        Assert.StartsWith("embedding evidence not used: this version has no reference of its own", (await ReportAsync(sidecar, "v2")).EmbeddingEvidence,
            StringComparison.Ordinal);
    }

    /// <summary>Each bad upload is refused whole with what was wrong named, and the reference in force stays as it was.</summary>
    [Fact]
    public async Task Bad_uploads_are_refused_with_what_was_wrong_and_leave_the_reference_as_it_was()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory);
        VersionReference good = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
        long baselineId = good.BaselineId;

        (string Case, Task<VersionReference> Upload, StatusCode Code, string Message)[] cases =
        [
            ("unknown version", UploadAsync(sidecar.Admin, "v9", RetrainedReference(), replace: true), StatusCode.NotFound, "version 'v9'"),
            ("other baseline", UploadAsync(sidecar.Admin, "v2", RetrainedReference(), replace: true, baselineId: baselineId + 7), StatusCode.FailedPrecondition,
                $"baseline_id: {baselineId + 7} is not the baseline in force ({baselineId})"),
            ("too few records", UploadAsync(sidecar.Admin, "v2", RetrainedReference().Take(5), replace: true), StatusCode.InvalidArgument,
                $"records: the upload has 5000 records, but baseline {baselineId}'s reference set has {ReferenceRecords}"),
            ("wrong width", UploadAsync(sidecar.Admin, "v2", Spoil(b => b.Embeddings.RemoveAt(b.Embeddings.Count - 1)), replace: true), StatusCode.InvalidArgument,
                "message 3 (records from 3000 of the upload): batch.embeddings: expected 1000 records × 16 embedding width = 16000 floats, got 15999"),
            ("NaN embedding", UploadAsync(sidecar.Admin, "v2", Spoil(b => b.Embeddings[40] = float.NaN), replace: true), StatusCode.InvalidArgument,
                "message 3 (records from 3000 of the upload): batch.embeddings: value 40 (record 2) is not finite"),
            ("NaN score", UploadAsync(sidecar.Admin, "v2", Spoil(b => b.Scores[1] = float.NaN), replace: true), StatusCode.InvalidArgument,
                "message 3 (records from 3000 of the upload): batch.scores:"),
            ("no embeddings", UploadAsync(sidecar.Admin, "v2", Spoil(b => b.Embeddings.Clear()), replace: true), StatusCode.InvalidArgument,
                "message 3 (records from 3000 of the upload): batch.embeddings: required on every record of a reference (16 floats per record)"),
            ("not replacing", UploadAsync(sidecar.Admin, "v2", RetrainedReference()), StatusCode.AlreadyExists,
                $"version 'v2' of model '{Model}' has reference {good.Id} for baseline {baselineId}"),
        ];
        foreach ((string name, Task<VersionReference> upload, StatusCode code, string message) in cases)
        {
            RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await upload);
            output.WriteLine($"{name}: {error.StatusCode} {error.Status.Detail}");
            Assert.True(code == error.StatusCode, $"{name}: {error.StatusCode} {error.Status.Detail}");
            Assert.True(error.Status.Detail.StartsWith(message, StringComparison.Ordinal), $"{name}: {error.Status.Detail}");
        }

        VersionReference after = await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" });
        Assert.Equal(good, after);
    }

    /// <summary>
    /// Only an admin key uploads a reference: an ingest key (what every mirroring pod holds) and a read key are refused, so a pod
    /// cannot give a poisoned candidate a reference that hides its embeddings. An admin replaces one only by saying so.
    /// </summary>
    [Fact]
    public async Task Only_an_admin_key_uploads_a_reference_and_only_an_explicit_replace_replaces_it()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartWithKeysAsync(directory);
        foreach (string key in new[] { IngestKey, ReadKey })
        {
            using GrpcChannel channel = sidecar.OpenChannel(key);
            RpcException refused = await Assert.ThrowsAsync<RpcException>(async () => await UploadAsync(new Admin.AdminClient(channel), "v2", RetrainedReference()));
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
            Assert.Contains("admin role", refused.Status.Detail, StringComparison.Ordinal);
        }

        using (GrpcChannel viewer = sidecar.OpenChannel(ReadKey))
        {
            await NoReferenceAsync(new Admin.AdminClient(viewer));
        }

        VersionReference first = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
        Assert.EndsWith("(key ops-admin)", first.UploadedBy, StringComparison.Ordinal);
        using (GrpcChannel pod = sidecar.OpenChannel(IngestKey))
        {
            RpcException refused = await Assert.ThrowsAsync<RpcException>(async () =>
                await UploadAsync(new Admin.AdminClient(pod), "v2", RetrainedReference(), replace: true));
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        }

        RpcException exists = await Assert.ThrowsAsync<RpcException>(async () => await UploadAsync(sidecar.Admin, "v2", RetrainedReference()));
        Assert.Equal(StatusCode.AlreadyExists, exists.StatusCode);
        VersionReference second = await UploadAsync(sidecar.Admin, "v2", RetrainedReference(), replace: true);
        Assert.True(second.Replaced);
        Assert.NotEqual(first.Id, second.Id);
        VersionReference stored = await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" });
        Assert.Equal(second.Id, stored.Id);
    }

    [Fact]
    public async Task A_reference_survives_a_restart()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        VersionReference uploaded;
        ConfidencePercentiles confidence;
        OutputShape shape;
        await using (Sidecar sidecar = await StartAsync(directory))
        {
            uploaded = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
            await MirrorAsync(sidecar, "v2", windows: 4, retrained: true);
            // D3's percentiles were built from the upload's records: the candidate's own outputs on the baseline's inputs.
            confidence = sidecar.Registry.GetVersion(Model, "v2").Monitor.Detector!.Embedding.Confidence!;
            shape = sidecar.Registry.GetVersion(Model, "v2").Monitor.Detector!.Embedding.Shape!;
            Assert.NotNull(confidence);
            Assert.NotNull(shape);
            Assert.True(uploaded.OutputShape);
            Assert.True(confidence.Records.Sum() > ReferenceRecords * 0.9, $"{confidence.Records.Sum()} records behind D3's percentiles");
            DriftReport before = await ReportAsync(sidecar, "v2");
            output.WriteLine(before.ConfidenceEvidence);
            Assert.StartsWith($"D3 judged against this version's own reference {uploaded.Id}:", before.ConfidenceEvidence, StringComparison.Ordinal);
        }

        await using (Sidecar restarted = await Sidecar.StartAsync(database))
        {
            Assert.Equal(uploaded, await restarted.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" }));
            DriftReport report = await ReportAsync(restarted, "v2");
            Assert.StartsWith($"judged against this version's own reference {uploaded.Id} ", report.EmbeddingEvidence, StringComparison.Ordinal);
            Assert.StartsWith($"D3 judged against this version's own reference {uploaded.Id}:", report.ConfidenceEvidence, StringComparison.Ordinal);
            EmbeddingReference embedding = restarted.Registry.GetVersion(Model, "v2").Monitor.Detector!.Embedding;
            Assert.Equal((EmbeddingSource.Own, uploaded.Id), (embedding.Source, embedding.Id));
            // D3's part came back from the database as it was built.
            Assert.Equal(confidence.Thresholds, embedding.Confidence!.Thresholds);
            Assert.Equal(confidence.Rates, embedding.Confidence.Rates);
            Assert.Equal(confidence.Records, embedding.Confidence.Records);
            // So did the whole-output test's tails and D4's residuals.
            Assert.Equal(shape.Tails.Thresholds, embedding.Shape!.Tails.Thresholds);
            Assert.Equal(shape.Tails.Rates, embedding.Shape.Tails.Rates);
            Assert.Equal(shape.StratumRecords, embedding.Shape.StratumRecords);
            Assert.Equal(shape.ResidualMean, embedding.Shape.ResidualMean);
            Assert.Equal(shape.ResidualStd, embedding.Shape.ResidualStd);
            Assert.Equal(shape.ResidualRecords, embedding.Shape.ResidualRecords);
            Assert.Contains("the whole-output test's tails are its own in ", report.ConfidenceEvidence, StringComparison.Ordinal);
            // The checkpoint stored at shutdown was counted against the same reference, so D5's counts come back with it, and D3's.
            Assert.True(EmbeddingCounts(restarted, "v2").Embedded > 0);
            Assert.Equal($"own:{uploaded.Id}", restarted.Registry.GetVersion(Model, "v2").Monitor.ExportDetectors()!.ConfidenceReference);

            await MirrorAsync(restarted, "v2", windows: 4, retrained: true);
            (long embedded, long outliers) = EmbeddingCounts(restarted, "v2");
            Assert.True(embedded > 0);
            Assert.True(outliers <= embedded / 100, $"{outliers} of {embedded}");
        }
    }

    /// <summary>
    /// A reference stored by the previous build has no D3 part, and its records were not kept: it still loads, D5 uses its geometry,
    /// and D3 judges the version against the baseline's percentiles, which the report says; uploading it again builds D3's part.
    /// </summary>
    [Fact]
    public async Task A_reference_stored_without_its_D3_part_still_loads_and_D3_falls_back_to_the_baseline_s_percentiles()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        VersionReference uploaded;
        await using (Sidecar sidecar = await StartAsync(directory))
        {
            uploaded = await UploadAsync(sidecar.Admin, "v2", RetrainedReference());
            Assert.StartsWith("D3 judged against baseline", (await ReportAsync(sidecar, "v1")).ConfidenceEvidence, StringComparison.Ordinal);
        }

        // As the previous build stored it: the embedding profile alone.
        using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "UPDATE version_references SET profile_json = json_remove(profile_json, '$.Confidence', '$.Shape');";
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        await using (Sidecar restarted = await Sidecar.StartAsync(database))
        {
            await MirrorAsync(restarted, "v2", windows: 2, retrained: true);
            EmbeddingReference embedding = restarted.Registry.GetVersion(Model, "v2").Monitor.Embedding;
            Assert.Equal((EmbeddingSource.Own, uploaded.Id), (embedding.Source, embedding.Id));
            Assert.Null(embedding.Confidence);
            Assert.Null(embedding.Shape);
            VersionReference loaded = await restarted.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" });
            Assert.False(loaded.ConfidencePercentiles);
            Assert.False(loaded.OutputShape);
            DriftReport report = await ReportAsync(restarted, "v2");
            output.WriteLine(report.ConfidenceEvidence);
            Assert.StartsWith($"D3 judged against baseline {report.BaselineId}'s percentiles of confidence: this version's reference {uploaded.Id} was stored before",
                report.ConfidenceEvidence, StringComparison.Ordinal);
            Assert.Equal("", restarted.Registry.GetVersion(Model, "v2").Monitor.ExportDetectors()!.ConfidenceReference);
            using (JsonDocument verdict = JsonDocument.Parse(await restarted.Http.GetStringAsync($"/api/v1/verdict/{Model}/v2", TestContext.Current.CancellationToken)))
            {
                Assert.Equal(report.ConfidenceEvidence, verdict.RootElement.GetProperty("confidenceEvidence").GetString());
            }

            VersionReference again = await UploadAsync(restarted.Admin, "v2", RetrainedReference(), replace: true);
            await MirrorAsync(restarted, "v2", windows: 1, retrained: true);
            Assert.StartsWith($"D3 judged against this version's own reference {again.Id}:", (await ReportAsync(restarted, "v2")).ConfidenceEvidence,
                StringComparison.Ordinal);
        }
    }

    private static bool HasEmbeddingEvidence(Finding finding) => finding.Detector == "D5" || finding.Key?.Kind == "embeddingoutlier"
        || finding.Corroboration.Any(c => c.StartsWith("D5", StringComparison.Ordinal));

    /// <summary>Asserts that v2 has no reference (<c>GetVersionReference</c> is NOT_FOUND), or with <paramref name="capture"/> no capture.</summary>
    private static async Task NoReferenceAsync(Admin.AdminClient admin, bool capture = false)
    {
        var request = new GetVersionReferenceRequest { Model = Model, Version = "v2" };
        RpcException none = await Assert.ThrowsAsync<RpcException>(async () =>
            _ = capture ? await admin.GetVersionReferenceCaptureAsync(request) : (object)await admin.GetVersionReferenceAsync(request));
        Assert.Equal(StatusCode.NotFound, none.StatusCode);
    }

    /// <summary>What D5 counted among the keys the detector tracks: records with an embedding, and outliers among them.</summary>
    private static (long Embedded, long Outliers) EmbeddingCounts(Sidecar sidecar, string version)
    {
        DetectorState state = sidecar.Registry.GetVersion(Model, version).Monitor.ExportDetectors()!;
        return (state.Candidates.Sum(c => c.Embedded), state.Candidates.Sum(c => c.Outliers));
    }

    private static async Task<DriftReport> ReportAsync(Sidecar sidecar, string version)
    {
        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        return await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Model, Version = version });
    }

    private static async Task MirrorAsync(Sidecar sidecar, string version, int windows, bool retrained)
    {
        var traffic = new ScenarioTraffic(seed: 5102);
        for (int w = 0; w < windows; w++)
        {
            CoreBatch batch = traffic.Next(Sidecar.WindowRecords);
            MirrorAck ack = await sidecar.Mirror.IngestAsync(new MirrorBatch
            {
                Model = Model, Version = version, ArtifactSha256 = Sidecar.Digest(version),
                Batch = ProtoTranslation.ToProto(retrained ? Retrained.Apply(batch) : batch),
            });
            Assert.Equal((uint)batch.Count, ack.Accepted);
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Streams batches as one upload; a refusal mid-stream surfaces as the call's status.</summary>
    private static async Task<VersionReference> UploadAsync(Admin.AdminClient admin, string version, IEnumerable<Protos.V1.RecordBatch> batches,
        bool replace = false, long baselineId = 0)
    {
        using AsyncClientStreamingCall<VersionReferenceChunk, VersionReference> call = admin.UploadVersionReference();
        try
        {
            bool first = true;
            foreach (Protos.V1.RecordBatch batch in batches)
            {
                await call.RequestStream.WriteAsync(first
                    ? new VersionReferenceChunk { Model = Model, Version = version, BaselineId = baselineId, Replace = replace, Actor = "test", Batch = batch }
                    : new VersionReferenceChunk { Batch = batch });
                first = false;
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The server answered before the stream ended: its status is the call's.
        }

        return await call.ResponseAsync;
    }

    /// <summary>The baseline's reference set replayed through v2: the same records, v2's embeddings.</summary>
    private static IEnumerable<Protos.V1.RecordBatch> RetrainedReference()
    {
        var traffic = new ScenarioTraffic(ReferenceSeed);
        for (int b = 0; b < ReferenceBatches; b++)
        {
            yield return ProtoTranslation.ToProto(Retrained.Apply(traffic.Next(1000)));
        }
    }

    /// <summary>The retrained reference with its fourth batch spoilt.</summary>
    private static IEnumerable<Protos.V1.RecordBatch> Spoil(Action<Protos.V1.RecordBatch> spoil) => RetrainedReference().Select((batch, i) =>
    {
        if (i == 3)
        {
            spoil(batch);
        }

        return batch;
    });

    /// <summary>A sidecar on the template with three keys: ops-admin (admin), checkout (ingest) and viewer (read).</summary>
    private static async Task<Sidecar> StartWithKeysAsync(TempDirectory directory)
    {
        string database = directory.File("monitor.db");
        Copy(await Template.Value, database);
        return await Sidecar.StartWithKeyAsync(database, null, AdminKey,
        [
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
            "--Monitor:Security:Keys:2:Name=viewer", $"--Monitor:Security:Keys:2:Token={ReadKey}", "--Monitor:Security:Keys:2:Roles=read",
        ]);
    }

    private static async Task<Sidecar> StartAsync(TempDirectory directory)
    {
        string database = directory.File("monitor.db");
        Copy(await Template.Value, database);
        return await Sidecar.StartAsync(database);
    }

    private static void Copy(string template, string database)
    {
        File.Copy(template, database);
        if (File.Exists(template + "-wal"))
        {
            File.Copy(template + "-wal", database + "-wal");
        }
    }

    /// <summary>The model, v1 known-good (the reference set's version), a baseline of the reference set, candidate v2: built once per run.</summary>
    private static async Task<string> BuildTemplateAsync()
    {
        string database = Path.Combine(Path.GetTempPath(), $"monitor-tests-version-reference-{Environment.ProcessId}.db");
        File.Delete(database);
        await using Sidecar sidecar = await Sidecar.StartAsync(database);
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Model, Schema = ProtoTranslation.ToProto(ScenarioTraffic.Schema) });
        foreach ((string version, VersionState state) in new[] { ("v1", VersionState.KnownGood), ("v2", VersionState.Candidate) })
        {
            await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Model, Version = version, ArtifactSha256 = Sidecar.Digest(version), Source = "test", InitialState = state,
            });
        }

        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model });
        var traffic = new ScenarioTraffic(ReferenceSeed);
        for (int b = 0; b < ReferenceBatches; b++)
        {
            await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(traffic.Next(1000)) });
        }

        await sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
        return database;
    }
}
