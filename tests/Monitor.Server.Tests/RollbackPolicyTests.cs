using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Persistence;
using Monitor.Simulation;
using Monitor.Server.Models;

namespace Monitor.Server.Tests;

/// <summary>Rollbacks by hand, held for a human, rate-limited per model; the Flagger webhook form.</summary>
public sealed class RollbackPolicyTests
{
    /// <summary>The model's outputs moved while its inputs did not.</summary>
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    [Fact]
    public async Task An_admin_quarantines_and_rolls_back_by_hand_with_who_and_why_recorded()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 31);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        foreach (string version in new[] { "v2", "v3" })
        {
            await sidecar.RegisterCandidateAsync(version);
        }

        RpcException noActor = await Assert.ThrowsAsync<RpcException>(async () =>
            await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest { Model = Sidecar.Model, Version = "v2" }));
        Assert.Equal((StatusCode.InvalidArgument, "actor: say who quarantines the version"), (noActor.StatusCode, noActor.Status.Detail));

        ModelVersion quarantined = await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest
        {
            Model = Sidecar.Model, Version = "v2", Actor = "alice", Reason = "failed the offline red-team suite",
        });
        Assert.Equal(VersionState.Quarantined, quarantined.State);
        Assert.Equal("Failed", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals); // quarantine alone signals nothing

        RpcException quarantinedTarget = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RollBackVersionAsync(
            new RollBackVersionRequest { Model = Sidecar.Model, Version = "v3", ToVersion = "v2", Actor = "bob" }));
        Assert.Equal((StatusCode.FailedPrecondition, "to_version: 'v2' is quarantined"), (quarantinedTarget.StatusCode, quarantinedTarget.Status.Detail));
        RpcException unknown = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RollBackVersionAsync(
            new RollBackVersionRequest { Model = Sidecar.Model, Version = "v9", Actor = "bob" }));
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        RollBackVersionResponse rolledBack = await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest
        {
            Model = Sidecar.Model, Version = "v3", Actor = "bob", Reason = "customer complaints about approvals",
        });
        Assert.Equal((1ul, "v1", VersionState.Quarantined), (rolledBack.SignalSequence, rolledBack.ToVersion, rolledBack.Version.State));
        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal(("v3", "v1", "bob"), (signal.FromVersion, signal.ToVersion, signal.Actor));
        Assert.Equal("rolled back by bob: customer complaints about approvals", signal.Reason);

        var audit = sidecar.App.Services.GetRequiredService<IModelStore>().LoadAudit(Sidecar.Model);
        Assert.Contains(audit, a => (a.Actor, a.Action, a.Version, a.Reason) == ("alice", "quarantine", "v2", "failed the offline red-team suite"));
        Assert.Contains(audit, a => (a.Actor, a.Action, a.Version, a.Reason) == ("bob", "roll-back", "v3", "customer complaints about approvals"));

        // Reinstating a version by promotion resolves its "verdict" alert.
        await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "alice", Reason = "false alarm" });
        Assert.Equal("KnownGood", (await sidecar.VerdictAsync("v2")).GetProperty("state").GetString());
        Protos.V1.Alert verdictAlert = Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v2" })).Alerts);
        Assert.Equal(("verdict-failed", Protos.V1.AlertState.Resolved), (verdictAlert.DedupeKey, verdictAlert.State));
    }

    [Fact]
    public async Task With_the_hold_policy_a_failed_version_waits_for_a_human_before_any_signal()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 32);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"),
            "--Monitor:Versions:HoldRollbacks=true");
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v2", 3, OutputsMoved);

        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Failed", "held", false), (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("rollback").GetString(),
            verdict.GetProperty("rollbackRecommended").GetBoolean()));
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        HeldRollback held = Assert.Single((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest { PendingOnly = true })).Rollbacks);
        Assert.Equal(("v2", "v1", ""), (held.FromVersion, held.ToVersion, held.Decision));
        Assert.Contains("Monitor:Versions:HoldRollbacks", held.HeldBecause);
        Assert.Contains((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v2" })).Alerts,
            a => a.DedupeKey == "rollback-held" && a.Severity == AlertSeverity.Critical && a.State == Protos.V1.AlertState.Firing);

        using HttpResponseMessage notYet = await Flagger(sidecar, "v2");
        Assert.Equal(HttpStatusCode.Conflict, notYet.StatusCode);
        Assert.Contains("held for a human", await notYet.Content.ReadAsStringAsync());

        HeldRollback released = await sidecar.Rollbacks.DecideHeldRollbackAsync(new DecideHeldRollbackRequest
        {
            Id = held.Id, Release = true, Actor = "carol", Reason = "confirmed on the dashboard",
        });
        Assert.Equal(("released", "carol", 1ul), (released.Decision, released.DecidedBy, released.ReleasedSequence));
        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal(("v2", "v1", "carol"), (signal.FromVersion, signal.ToVersion, signal.Actor));
        Assert.Equal(held.AlertIds, signal.AlertIds);
        using HttpResponseMessage now = await Flagger(sidecar, "v2");
        Assert.Equal(HttpStatusCode.OK, now.StatusCode);
        Assert.Equal(Protos.V1.AlertState.Resolved, Assert.Single((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Version = "v2" })).Alerts,
            a => a.DedupeKey == "rollback-held").State);

        RpcException again = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Rollbacks.DecideHeldRollbackAsync(
            new DecideHeldRollbackRequest { Id = held.Id, Release = false, Actor = "dave" }));
        Assert.Equal((StatusCode.FailedPrecondition, $"held rollback {held.Id} was already released by carol"), (again.StatusCode, again.Status.Detail));
        RpcException missing = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Rollbacks.DecideHeldRollbackAsync(
            new DecideHeldRollbackRequest { Id = 77, Release = true, Actor = "dave" }));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_second_automatic_rollback_within_the_rate_period_is_held_but_an_artifact_swap_is_not()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 33);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"),
            "--Monitor:Versions:MaxRollbacksPerPeriod=1", "--Monitor:Versions:RollbackRatePeriod=01:00:00",
            "--Monitor:Versions:QuarantineOnReportedDigestMismatch=true");
        foreach (string version in new[] { "v2", "v3", "v4" })
        {
            await sidecar.RegisterCandidateAsync(version);
        }

        await sidecar.MirrorWindowsAsync(traffic, "v2", 3, OutputsMoved);
        await sidecar.MirrorWindowsAsync(traffic, "v3", 3, OutputsMoved);
        RollbackSignal first = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal("v2", first.FromVersion);
        HeldRollback held = Assert.Single((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest())).Rollbacks);
        Assert.Equal("v3", held.FromVersion);
        Assert.Contains("already had 1 automatic rollback(s) within 01:00:00", held.HeldBecause);
        Assert.Equal("held", (await sidecar.VerdictAsync("v3")).GetProperty("rollback").GetString());

        // An artifact swap the operator's policy acts on is not something inputs can cause: it is signalled whatever the rate.
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 10, version: "v4", digest: Sidecar.Digest("tampered")));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        Assert.Equal(["v2", "v4"], (await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals.Select(s => s.FromVersion));

        string metrics = await sidecar.Http.GetStringAsync("/metrics");
        Assert.Contains("drift_monitor_rollbacks_held_total{model=\"fraud-scorer\"} 1", metrics);

        // v3 reinstated by an admin: its held rollback can no longer be released, only dismissed.
        await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest { Model = Sidecar.Model, Version = "v3", Actor = "frank", Reason = "checked" });
        RpcException stale = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Rollbacks.DecideHeldRollbackAsync(
            new DecideHeldRollbackRequest { Id = held.Id, Release = true, Actor = "frank" }));
        Assert.Equal((StatusCode.FailedPrecondition, "version 'v3' was reinstated (KnownGood) after the rollback was held; dismiss it instead"),
            (stale.StatusCode, stale.Status.Detail));
        HeldRollback dismissed = await sidecar.Rollbacks.DecideHeldRollbackAsync(
            new DecideHeldRollbackRequest { Id = held.Id, Release = false, Actor = "frank", Reason = "reinstated" });
        Assert.Equal(("dismissed", 0ul), (dismissed.Decision, dismissed.ReleasedSequence));
        Assert.Contains("drift_monitor_rollback_signals_total{model=\"fraud-scorer\"} 2", metrics);
    }

    [Fact]
    public async Task The_flagger_webhook_answers_404_409_and_400_for_what_it_cannot_roll_back()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 34);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.MirrorWindowsAsync(traffic, "v1", 3);

        using HttpResponseMessage healthy = await sidecar.Http.PostAsync("/api/v1/flagger/rollback",
            Json("""{"name":"fraud","namespace":"prod","phase":"Progressing","metadata":{"model":"fraud-scorer","version":"v1"}}"""));
        Assert.Equal(HttpStatusCode.Conflict, healthy.StatusCode);
        Assert.Contains("verdict is Successful", await healthy.Content.ReadAsStringAsync());
        using HttpResponseMessage unknown = await sidecar.Http.PostAsync("/api/v1/flagger/rollback/nope", Json("{}"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using HttpResponseMessage noModel = await sidecar.Http.PostAsync("/api/v1/flagger/rollback", Json("""{"name":"fraud"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, noModel.StatusCode);
        Assert.Contains("no model", await noModel.Content.ReadAsStringAsync());
        using HttpResponseMessage notJson = await sidecar.Http.PostAsync("/api/v1/flagger/rollback/fraud-scorer", Json("{oops"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("the body is not JSON", await notJson.Content.ReadAsStringAsync());

        using HttpResponseMessage noVersion = await sidecar.Http.PostAsync("/api/v1/flagger/rollback/fraud-scorer", Json("{}"));
        Assert.Equal(HttpStatusCode.BadRequest, noVersion.StatusCode); // a controller names the version it rolls out
        Assert.Contains("no version", await noVersion.Content.ReadAsStringAsync());

        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1);
        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "erin", Reason = "drill" });
        using HttpResponseMessage rolledBack = await sidecar.Http.PostAsync("/api/v1/flagger/rollback/fraud-scorer/v2", Json("{}"));
        Assert.Equal(HttpStatusCode.OK, rolledBack.StatusCode);
    }

    private static Task<HttpResponseMessage> Flagger(Sidecar sidecar, string version) => sidecar.Http.PostAsync(
        $"/api/v1/flagger/rollback/{Sidecar.Model}/{version}", Json("""{"name":"fraud","namespace":"prod","phase":"Progressing"}"""));

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
