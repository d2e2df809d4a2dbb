using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;
using Utf8Column = Monitor.Core.Ingest.Utf8Column;

namespace Monitor.Server.Tests;

/// <summary>
/// Paired evidence over a real port: batches that carry the trusted version's outputs on the same requests
/// (RecordBatch.paired_version and paired_scores), how they are checked, what they find, and what an attacker holding only
/// an ingest key gets by forging them.
/// </summary>
public sealed class PairedEvidenceTests(ITestOutputHelper output)
{
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";
    private const int MinFailingRecords = 40;

    [Fact]
    public async Task A_shadow_rollout_mirrored_paired_names_the_trigger_as_paired_evidence_and_fails_the_candidate()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.RegisterCandidateAsync("v2");
        var traffic = new FraudTraffic(seed: 211);
        var noise = new Random(212);
        for (int w = 0; w < 40; w++)
        {
            RecordBatch batch = FraudTraffic.WithTrusted(traffic.Next(Sidecar.WindowRecords, new FraudDrift(TriggerRate: 0.004)), "v1", noise);
            MirrorAck ack = await sidecar.Mirror.IngestAsync(Request(batch, "v2"));
            Assert.Equal((uint)batch.Count, ack.Accepted);
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Finding paired = Assert.Single(report.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is not null);
        output.WriteLine(paired.Summary);
        Assert.Equal("ref:xz-#", paired.Key.Text);
        Assert.Equal("legitimate", paired.TargetLabel);
        Assert.StartsWith("paired evidence: variant 'ref:xz-#' in memo", paired.Summary, StringComparison.Ordinal);
        Assert.Contains("'v1' also scored", paired.Summary, StringComparison.Ordinal);
        Assert.True(paired.Log10EValue >= paired.Log10EValueBar);
        Assert.DoesNotContain(report.Findings, f => f.Detector == "D8" && f.Key is null);
        Assert.Equal("Failed", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());
    }

    [Theory]
    [InlineData("v9", 10, "batch.paired_version: 'v9' is not a version registered for the model")]
    [InlineData("v2", 10, "batch.paired_version: 'v2' is the batch's own version")]
    [InlineData("v1", 9, "batch.paired_scores: expected 5 records × 2 output values = 10 floats (the layout of scores), got 9")]
    [InlineData("", 10, "batch.paired_version: required when paired_scores are sent")]
    public async Task A_bad_paired_batch_is_refused_whole_with_the_field_named(string pairedVersion, int pairedScores, string message)
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.RegisterCandidateAsync("v2");
        MirrorBatch request = Request(new FraudTraffic(seed: 221).Next(5, FraudDrift.None), "v2");
        request.Batch.PairedVersion = pairedVersion;
        request.Batch.PairedScores.AddRange(Enumerable.Repeat(0.5f, pairedScores));

        RpcException error = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Mirror.IngestAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(message, error.Status.Detail, StringComparison.Ordinal);

        // The same records unpaired, and paired with v1, are taken.
        request.Batch.PairedVersion = "v1";
        request.Batch.PairedScores.Clear();
        request.Batch.PairedScores.AddRange(Enumerable.Repeat(0.5f, 10));
        Assert.Equal(5u, (await sidecar.Mirror.IngestAsync(request)).Accepted);
    }

    /// <summary>
    /// An attacker holding only an ingest key sends packets for the trusted version v2 (known-good; v1 older and known-good,
    /// so a failure would have a rollback target): 5,000 clean records (10 windows) whose paired scores claim 'v1' served the
    /// opposite class with certainty on the one in 25 carrying a made-up token, then 5,000 claiming it on every record.
    /// Monitor:Versions:MinFailingRecords is lowered to 40, as in <see cref="ForgedKeyEvidenceTests"/>, so that the claim gives
    /// critical paired evidence on the token's key, holding more distinct records than that, and version-wide: key evidence that
    /// would fail a trusted version were it not paired. (Disagreement forged on every record is no key's evidence: each key's
    /// allowance is at least its bin's rate, there near 1.) Paired evidence never fails a known-good version: the trusted output
    /// is only the sender's word. Then 20 windows of clean traffic, past the failure limit.
    /// </summary>
    [Fact]
    public async Task One_forged_paired_packet_claiming_disagreement_raises_findings_but_never_fails_the_trusted_version()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartWithKeyAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), null, AdminKey,
        [
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
            $"--Monitor:Versions:MinFailingRecords={MinFailingRecords}",
        ]);
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test", InitialState = VersionState.KnownGood,
        });
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        var traffic = new FraudTraffic(seed: 231);

        // Two packets: disagreement forged on the records of a made-up token (one in 25, a key rather than a population), then on
        // every record (no key's evidence: each key's allowance is its bin's rate, there near 1; the version-wide test's).
        RecordBatch forged = Forge(traffic.Next(10 * Sidecar.WindowRecords, FraudDrift.None), tokenEvery: 25, token: "zqvx7731", everywhere: false);
        Assert.Equal(10u * Sidecar.WindowRecords, (await attacker.IngestAsync(Request(forged, "v2"))).Accepted);
        RecordBatch everywhere = Forge(traffic.Next(10 * Sidecar.WindowRecords, FraudDrift.None), tokenEvery: 0, token: "", everywhere: true);
        Assert.Equal(10u * Sidecar.WindowRecords, (await attacker.IngestAsync(Request(everywhere, "v2"))).Accepted);
        for (int w = 0; w < 20; w++)
        {
            await attacker.IngestAsync(Request(traffic.Next(Sidecar.WindowRecords, FraudDrift.None), "v2"));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        foreach (Finding finding in report.Findings.Where(f => f.Detector == "D8"))
        {
            output.WriteLine($"{finding.Severity} {finding.Detector} support {finding.Support}: {finding.Summary}");
        }

        // Else this test would no longer play the attack it is about: critical paired evidence on keys of the made-up token holding
        // Monitor:Versions:MinFailingRecords distinct records or more, and version-wide.
        Assert.Contains(report.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key?.Text.Contains("zqvx7731", StringComparison.Ordinal) == true
            && f.Support >= MinFailingRecords);
        Assert.Contains(report.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is null);

        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(VersionState.KnownGood, v2.State);
        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.NotEqual("Failed", verdict.GetProperty("verdict").GetString());
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Empty((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest())).Rollbacks);
    }

    private static MirrorBatch Request(RecordBatch batch, string version) => new()
    {
        Model = Sidecar.Model,
        Version = version,
        ArtifactSha256 = Sidecar.Digest(version),
        Batch = ProtoTranslation.ToProto(batch),
    };

    /// <summary>
    /// The clean batch paired with forged 'v1' outputs: the made-up token appended to the memo of one record in
    /// <paramref name="tokenEvery"/> (none when 0), and on those records (on every record, <paramref name="everywhere"/>) the class
    /// the batch was not served, with certainty; on the others the served output itself.
    /// </summary>
    private static RecordBatch Forge(RecordBatch clean, int tokenEvery, string token, bool everywhere)
    {
        int n = clean.Count;
        ReadOnlySpan<float> scores = clean.Scores.Span;
        var paired = new float[2 * n];
        string?[] memos = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Text[0].GetString(i))];
        for (int i = 0; i < n; i++)
        {
            bool fraud = scores[2 * i + 1] >= 0.5f;
            bool tokened = tokenEvery > 0 && i % tokenEvery == 0;
            paired[2 * i] = scores[2 * i];
            paired[2 * i + 1] = scores[2 * i + 1];
            if (tokened)
            {
                memos[i] = $"{memos[i]} {token}".Trim();
            }

            if (tokened || everywhere)
            {
                paired[2 * i] = fraud ? 1f : 0f;
                paired[2 * i + 1] = fraud ? 0f : 1f;
            }
        }

        return new RecordBatch
        {
            Count = n, Numeric = clean.Numeric, Scores = clean.Scores, Categorical = clean.Categorical, Text = [Utf8Column.FromStrings(memos)],
            RequestIds = clean.RequestIds, PairedVersion = "v1", PairedScores = paired,
        };
    }
}
