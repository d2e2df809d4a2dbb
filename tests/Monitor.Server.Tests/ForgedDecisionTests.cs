using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Monitor.Protos.V1;
using Monitor.Server.Models;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// Decisions an attacker holding only an ingest key (what every serving pod holds) must not be able to make:
/// quarantining a version with a forged digest, choosing the rollback target, failing a trusted version with
/// input drift, flipping the model-level verdict, or flooding the store with empty batches. Each test plays the
/// attack through the public gRPC and HTTP interfaces.
/// </summary>
public sealed class ForgedDecisionTests
{
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";

    /// <summary>A pod's model broke (or was tampered with): its outputs moved while its inputs did not.</summary>
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    private static readonly FraudDrift DistanceDoubled = new(DistanceLogShift: Math.Log(2));

    private static async Task<Sidecar> StartAsync(string database, TimeProvider? time = null, params string[] settings) =>
        await Sidecar.StartWithKeyAsync(database, time, AdminKey,
        [
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
            .. settings,
        ]);

    private static async Task MirrorAsync(Mirror.MirrorClient mirror, Sidecar sidecar, FraudTraffic traffic, string version, int windows,
        FraudDrift? drift = null)
    {
        for (int w = 0; w < windows; w++)
        {
            MirrorAck ack = await mirror.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords, drift, version,
                version == "v1" ? Sidecar.DigestV1 : Sidecar.Digest(version)));
            Assert.Equal((uint)Sidecar.WindowRecords, ack.Accepted);
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
    }

    private static async Task<RepeatedSignals> SignalsAsync(Sidecar sidecar) =>
        new((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);

    private sealed record RepeatedSignals(IReadOnlyList<RollbackSignal> Signals);

    [Fact]
    public async Task An_empty_batch_with_a_made_up_digest_is_recorded_and_alerted_but_quarantines_nothing_and_signals_nothing()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 151);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        await MirrorAsync(attacker, sidecar, traffic, "v1", 1);
        await sidecar.RegisterCandidateAsync("v2");

        // The same forged report twice, another digest, and one under another version.
        foreach ((string version, string digest) in new[] { ("v1", "made up"), ("v1", "made up"), ("v1", "also made up"), ("v2", "made up") })
        {
            MirrorAck ack = await attacker.IngestAsync(Sidecar.Batch(traffic, 0, version: version, digest: Sidecar.Digest(digest)));
            Assert.Equal(0, ack.ErrorCode);
            Assert.Contains("differs from the registered", Assert.Single(ack.Warnings));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        Assert.Equal(VersionState.KnownGood, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" })).State);
        Assert.Equal(VersionState.Candidate, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);
        Assert.NotEqual("Failed", (await sidecar.VerdictAsync("v1")).GetProperty("verdict").GetString());
        Assert.Empty((await SignalsAsync(sidecar)).Signals);

        // Recorded and alerted (critical), once per (client, digest).
        Protos.V1.Alert[] alerts = [.. (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v1" })).Alerts
            .Where(a => a.Kind == "artifact-digest")];
        Assert.Equal(2, alerts.Length);
        Assert.All(alerts, a => Assert.Equal((AlertSeverity.Critical, Protos.V1.AlertState.Firing), (a.Severity, a.State)));
        Assert.Contains(alerts, a => a.DedupeKey == $"artifact-digest|checkout|{Sidecar.Digest("made up")}" && a.Evidence.Any(e => e.Contains("a claim, not a verdict")));
        var mismatches = sidecar.App.Services.GetRequiredService<IModelStore>().LoadDigestMismatches(Sidecar.Model, "v1");
        Assert.Equal([(Sidecar.Digest("made up"), 2L), (Sidecar.Digest("also made up"), 1L)], mismatches.Select(m => (m.ArtifactSha256, m.Batches)));
    }

    [Fact]
    public async Task Only_when_the_operators_policy_says_so_does_a_reported_digest_quarantine_the_version()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 152);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), null,
            "--Monitor:Versions:QuarantineOnReportedDigestMismatch=true");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var mirror = new Mirror.MirrorClient(pod);
        await sidecar.RegisterCandidateAsync("v2");
        await mirror.IngestAsync(Sidecar.Batch(traffic, 10, version: "v2", digest: Sidecar.Digest("tampered")));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);

        RollbackSignal signal = Assert.Single((await SignalsAsync(sidecar)).Signals);
        Assert.Equal(("v2", "v1"), (signal.FromVersion, signal.ToVersion));
        Assert.Equal("Failed", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());
    }

    [Fact]
    public async Task Clean_traffic_makes_a_candidate_observed_clean_never_known_good_and_rollbacks_skip_it()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 153);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"), null,
            "--Monitor:Versions:PromoteAfterCleanWindows=4", "--Monitor:Versions:PromoteAfterRecords=2000");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        await MirrorAsync(attacker, sidecar, traffic, "v1", 1);
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.RegisterCandidateAsync("v3");

        // The attacker's pick mirrors clean-looking traffic: a clean run makes it observed-clean, not trusted.
        await MirrorAsync(attacker, sidecar, traffic, "v2", 6);
        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(VersionState.ObservedClean, v2.State);
        Assert.Equal("Successful", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());
        Assert.Contains(sidecar.App.Services.GetRequiredService<IModelStore>().LoadAudit(Sidecar.Model),
            a => (a.Actor, a.Action, a.Version) == ("policy", "observed-clean", "v2"));

        // v3 fails on output-side evidence: the rollback goes to v1, the trusted version that served, not to v2.
        await MirrorAsync(attacker, sidecar, traffic, "v3", 3, OutputsMoved);
        RollbackSignal signal = Assert.Single((await SignalsAsync(sidecar)).Signals);
        Assert.Equal(("v3", "v1"), (signal.FromVersion, signal.ToVersion));

        // An observed-clean version cannot be captured as a baseline: capture needs a trusted version.
        RpcException capture = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v2", CaptureRecords = 1000 }));
        Assert.Equal(StatusCode.FailedPrecondition, capture.StatusCode);
    }

    [Fact]
    public async Task Input_drift_alone_never_fails_or_demotes_the_only_known_good_version()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 154);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "distance_km"));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);

        await MirrorAsync(attacker, sidecar, traffic, "v1", 8, DistanceDoubled);

        JsonElement verdict = await sidecar.VerdictAsync("v1");
        Assert.Equal(("KnownGood", 0), (verdict.GetProperty("state").GetString(), verdict.GetProperty("consecutiveFailing").GetInt32()));
        Assert.NotEqual("Failed", verdict.GetProperty("verdict").GetString());
        Assert.Empty((await SignalsAsync(sidecar)).Signals);
        Protos.V1.Alert drift = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v1" })).Alerts,
            a => a.DedupeKey == "drift|distance_km");
        Assert.Equal((AlertSeverity.Critical, Protos.V1.AlertState.Firing), (drift.Severity, drift.State));
        Assert.All(drift.Evidence, e => Assert.Contains("(input drift: alerts, never fails a version)", e));
    }

    [Fact]
    public async Task A_version_that_fails_with_no_trusted_version_that_served_gets_no_signal_and_an_alert_says_so()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 155);
        await using Sidecar sidecar = await StartAsync(directory.File("monitor.db"));
        await sidecar.SetUpFraudModelAsync(traffic, 6000, "output.class");
        await sidecar.RegisterCandidateAsync("v2");

        // v1 is trusted but has never served here: it is no target.
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        await MirrorAsync(new Mirror.MirrorClient(pod), sidecar, traffic, "v2", 3, OutputsMoved);

        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Failed", "none", false), (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("rollback").GetString(),
            verdict.GetProperty("rollbackRecommended").GetBoolean()));
        Assert.Empty((await SignalsAsync(sidecar)).Signals);
        Assert.Empty((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest())).Rollbacks);
        Protos.V1.Alert failed = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v2" })).Alerts,
            a => a.DedupeKey == "verdict-failed");
        Assert.Contains(failed.Evidence, e => e.Contains("no trusted version that has served to roll back to; no rollback signal"));

        // By hand, the same: a rollback needs somewhere to go.
        RpcException byHand = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RollBackVersionAsync(
            new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "erin", Reason = "drill" }));
        Assert.Equal(StatusCode.FailedPrecondition, byHand.StatusCode);
        Assert.Contains("name one with to_version", byHand.Status.Detail);
    }

    [Fact]
    public async Task The_model_level_verdict_is_the_worst_live_version_whichever_mirrored_last_and_flagger_needs_a_version()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 156);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.RegisterCandidateAsync("v3");
        await MirrorAsync(attacker, sidecar, traffic, "v2", 1);
        await MirrorAsync(attacker, sidecar, traffic, "v3", 3);
        await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "alice", Reason = "red team" });

        var seen = new List<(string? Verdict, string? Version)>();
        var because = new List<string?>();
        foreach (string last in new[] { "v3", "v2", "v3", "v2" })
        {
            await attacker.IngestAsync(Sidecar.Batch(traffic, 0, version: last, digest: Sidecar.Digest(last)));
            using JsonDocument model = JsonDocument.Parse(await sidecar.Http.GetStringAsync($"/api/v1/verdict/{Sidecar.Model}"));
            seen.Add((model.RootElement.GetProperty("verdict").GetString(), model.RootElement.GetProperty("version").GetString()));
            because.Add(model.RootElement.TryGetProperty("judgedBecause", out JsonElement why) ? why.GetString() : null);
        }

        Assert.Equal([("Failed", "v2"), ("Failed", "v2"), ("Failed", "v2"), ("Failed", "v2")], seen);
        Assert.All(because, b => Assert.StartsWith("the worst of the versions live within 00:15:00 (Monitor:Versions:LiveFor): ", b));

        using HttpResponseMessage modelOnly = await sidecar.Http.PostAsync($"/api/v1/flagger/rollback/{Sidecar.Model}",
            new StringContent("""{"name":"fraud"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, modelOnly.StatusCode);
        Assert.Contains("no version", await modelOnly.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Empty_batches_count_against_the_client_rate_limits_and_forged_digests_take_a_bounded_number_of_rows()
    {
        using var directory = new TempDirectory();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var traffic = new FraudTraffic(seed: 157);
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), clock,
            "--Monitor:Limits:ClientRecordsPerSecond=1000", "--Monitor:Limits:ClientBatchesPerSecond=10", "--Monitor:Limits:ClientBurstBatches=40",
            "--Monitor:Windows:MaxAge=00:00:00");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);

        int accepted = 0;
        var refusals = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 200; i++)
        {
            try
            {
                await attacker.IngestAsync(Sidecar.Batch(traffic, 0, digest: Sidecar.Digest($"forged {i}")));
                accepted++;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                refusals.Add(ex.Status.Detail);
            }
        }

        Assert.Equal(40, accepted); // the batch burst; the clock does not move, so nothing refills
        Assert.Equal(["client 'checkout' exceeded its rate of 10 batches/s (Monitor:Limits:ClientBatchesPerSecond); retry in 100 ms"], refusals);
        var rows = sidecar.App.Services.GetRequiredService<IModelStore>().LoadDigestMismatches(Sidecar.Model, "v1");
        Assert.Equal(IModelStore.MaxDigestRows + 1, rows.Count);
        Assert.Equal((IModelStore.OtherDigests, 40L - IModelStore.MaxDigestRows), (rows[^1].ArtifactSha256, rows[^1].Batches));

        // With only the record rate set, an empty batch still costs a record.
        clock.Advance(TimeSpan.FromSeconds(10));
        await using Sidecar second = await StartAsync(await FraudModel.DatabaseAsync(directory.File("second.db")), clock,
            "--Monitor:Limits:ClientRecordsPerSecond=100", "--Monitor:Limits:ClientBurstRecords=50", "--Monitor:Windows:MaxAge=00:00:00");
        using GrpcChannel secondPod = second.OpenChannel(IngestKey);
        var secondAttacker = new Mirror.MirrorClient(secondPod);
        int free = 0;
        for (int i = 0; i < 60; i++)
        {
            try
            {
                await secondAttacker.IngestAsync(Sidecar.Batch(traffic, 0));
                free++;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Assert.Contains("a batch costs at least one record", ex.Status.Detail);
            }
        }

        Assert.Equal(50, free);
    }
}
