using System.Text.Json;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// Promotion waits for evidence (Monitor:Versions:MinTriggerRate): a candidate is neither observed-clean nor Successful before it
/// has served the records the baseline's readiness report says a trigger at that rate needs to be found, and a client holding
/// only an ingest key cannot get there sooner: empty batches add nothing, a replayed batch adds its records like any other, and
/// nothing it sends moves the records required.
/// </summary>
public sealed class PromotionEvidenceTests
{
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";

    /// <summary>At most 50 occurrences / 0.004 = 12,500 records; at least 13 / 0.004 = 3,250, more than the clean run's 2,000.</summary>
    private const double MinTriggerRate = 0.004;

    private static Task<Sidecar> StartAsync(string database) => Sidecar.StartWithKeyAsync(database, null, AdminKey,
        "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
        "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
        $"--Monitor:Versions:MinTriggerRate={MinTriggerRate}", "--Monitor:Versions:PromoteAfterCleanWindows=4", "--Monitor:Versions:PromoteAfterRecords=2000");

    [Fact]
    public async Task An_ingest_only_client_cannot_get_a_candidate_promoted_before_it_served_the_records_the_readiness_report_needs()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 171);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"));
        await sidecar.RegisterCandidateAsync("v2");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        string digest = Sidecar.Digest("v2");

        Baseline baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });
        long required = (long)baseline.Readiness.PromotionRecords;
        Assert.InRange(required, (long)Math.Ceiling(13 / MinTriggerRate), (long)Math.Ceiling(50 / MinTriggerRate));

        // The same numbers in the metrics: per class and placement, the median occurrences (+Inf when blind) and whether blind.
        string metrics = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains($"drift_monitor_promotion_records_required{{model=\"{Sidecar.Model}\"}} {required}\n", metrics);
        foreach (ReadinessLine line in baseline.Readiness.Lines)
        {
            string labels = $"{{model=\"{Sidecar.Model}\",class=\"{line.ClassLabel}\",detector=\"{line.Detector}\",placement=\"{line.Placement}\"}}";
            string median = line.HasMedianOccurrences ? line.MedianOccurrences.ToString(System.Globalization.CultureInfo.InvariantCulture) : "+Inf";
            Assert.Contains($"drift_monitor_readiness_occurrences{labels} {median}\n", metrics);
            Assert.Contains($"drift_monitor_readiness_blind{labels} {(line.Status == "blind" ? 1 : 0)}\n", metrics);
        }

        // A clean run long enough for the old rule (4 windows, 2,000 records): still a candidate, waiting.
        for (int w = 0; w < 6; w++)
        {
            await attacker.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords, version: "v2", digest: digest));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Inconclusive", "Candidate"), (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("state").GetString()));
        Assert.Equal(3000, verdict.GetProperty("recordsJudged").GetInt64());
        Assert.Equal(required, verdict.GetProperty("recordsRequired").GetInt64());
        Assert.Contains($"{required - 3000:N0} more needed", verdict.GetProperty("waiting").GetString());

        // Empty batches: accepted, and nothing to judge.
        for (int i = 0; i < 200; i++)
        {
            await attacker.IngestAsync(Sidecar.Batch(traffic, 0, version: "v2", digest: digest));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal((3000L, required, "Candidate"),
            (verdict.GetProperty("recordsJudged").GetInt64(), verdict.GetProperty("recordsRequired").GetInt64(), verdict.GetProperty("state").GetString()));

        // One batch replayed: each copy counts its records, no more; the version is promoted at the first window that reaches the
        // records required, not before.
        MirrorBatch replayed = Sidecar.Batch(traffic, Sidecar.WindowRecords, version: "v2", digest: digest);
        long judged = 3000;
        while (judged + Sidecar.WindowRecords < required)
        {
            await attacker.IngestAsync(replayed);
            judged += Sidecar.WindowRecords;
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal((judged, "Candidate", "Inconclusive"),
            (verdict.GetProperty("recordsJudged").GetInt64(), verdict.GetProperty("state").GetString(), verdict.GetProperty("verdict").GetString()));
        VersionVerdict proto = await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(((ulong)judged, (ulong)required), (proto.RecordsJudged, proto.RecordsRequired));
        Assert.Contains("waiting for evidence", proto.Waiting);

        await attacker.IngestAsync(replayed);
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("ObservedClean", "Successful"), (verdict.GetProperty("state").GetString(), verdict.GetProperty("verdict").GetString()));
        Assert.Equal(JsonValueKind.Null, verdict.GetProperty("waiting").ValueKind);
        Assert.Equal(required, verdict.GetProperty("recordsRequired").GetInt64());
    }

    [Fact]
    public async Task An_admins_promotion_does_not_wait_for_the_evidence()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 172);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"));
        await sidecar.RegisterCandidateAsync("v2");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var client = new Mirror.MirrorClient(pod);
        for (int w = 0; w < 4; w++)
        {
            await client.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords, version: "v2", digest: Sidecar.Digest("v2")));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        Assert.Equal("Inconclusive", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());

        await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "ops", Reason = "release sign-off" });
        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("KnownGood", "Successful"), (verdict.GetProperty("state").GetString(), verdict.GetProperty("verdict").GetString()));
        Assert.Equal(JsonValueKind.Null, verdict.GetProperty("waiting").ValueKind);
    }
}
