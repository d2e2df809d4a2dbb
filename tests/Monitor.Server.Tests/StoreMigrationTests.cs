using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;
using Monitor.Server.Alerting;
using Monitor.Server.Hosting;
using Monitor.Server.Persistence;

namespace Monitor.Server.Tests;

/// <summary>A database written by an earlier release opens, keeps its rows, and gains the new columns and tables.</summary>
public sealed class StoreMigrationTests
{
    /// <summary>
    /// Fixtures/upgrade-3c193af.db was written by the sidecar of commit 3c193af (see Fixtures/upgrade-3c193af.md): today's
    /// sidecar on a copy of it serves the same models, versions, baseline, windows, alerts, rollback signals and held
    /// rollback, delivers the outbox entries left pending, and goes on writing.
    /// </summary>
    [Fact]
    public async Task A_database_written_by_the_release_before_the_restructure_opens_with_everything_in_it()
    {
        using var directory = new TempDirectory();
        string path = directory.File("upgrade.db");
        File.Copy(Path.Combine(Repository.Root, "tests", "Monitor.Server.Tests", "Fixtures", "upgrade-3c193af.db"), path);
        await using Receiver receiver = await Receiver.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(path, "--Monitor:Windows:Records=200",
            "--Monitor:Retention:Period=36500.00:00:00", // the fixture's rows are kept whatever its age
            "--Monitor:Delivery:Webhooks:0:Name=ops", $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{receiver.Port}/hook",
            "--Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123");

        Model model = Assert.Single((await sidecar.Admin.ListModelsAsync(new ListModelsRequest())).Models);
        Assert.Equal((Sidecar.Model, "upgrade fixture", 1L), (model.Name, model.Description, model.BaselineId));
        Assert.Equal(["amount", "account_age_days", "tx_per_hour", "distance_km", "hour_of_day", "merchant_risk"], model.Schema.NumericFeatures);
        Assert.Equal(["merchant_category", "country", "channel"], model.Schema.CategoricalFeatures);
        Assert.Equal(["output.class", "amount"], model.Schema.CriticalFeatures);
        Assert.Equal(OutputKind.Classification, model.Schema.OutputKind);

        var versions = (await sidecar.Admin.ListVersionsAsync(new ListVersionsRequest { Model = Sidecar.Model })).Versions
            .Select(v => (v.Version, v.State, v.RecordsAccepted, v.RecordsDigestMismatch, v.WindowsClosed)).ToList();
        Assert.Equal(
        [
            ("v1", VersionState.KnownGood, 400L, 0L, 2L), ("v2", VersionState.Quarantined, 0L, 0L, 0L),
            ("v3", VersionState.Quarantined, 50L, 50L, 0L), ("v4", VersionState.Quarantined, 50L, 50L, 0L),
        ], versions);
        Assert.Equal(Sidecar.DigestV1, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" })).ArtifactSha256);

        Baseline baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });
        Assert.Equal((1L, true, 1200UL, 200U, 0.01), (baseline.Summary.Id, baseline.Summary.InForce, baseline.Summary.RecordsReceived,
            baseline.Summary.WindowRecords, baseline.Summary.FalseAlarmRate));
        Assert.Equal(
        [
            "amount", "account_age_days", "tx_per_hour", "distance_km", "hour_of_day", "merchant_risk", "memo.tokens", "output.confidence",
            "output.entropy", "merchant_category", "country", "channel", "output.class",
        ], baseline.Features.Select(f => f.Name));
        Assert.Single((await sidecar.Admin.ListBaselinesAsync(new ListBaselinesRequest { Model = Sidecar.Model })).Baselines);

        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1", ClosedWindows = 10 });
        Assert.Equal([1UL, 0UL], report.Closed.Select(w => w.Index));
        Assert.All(report.Closed, w => Assert.Equal((200U, false, 1L), (w.Records, w.Drifted, w.BaselineId)));

        var alerts = (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model, Limit = 100 })).Alerts
            .OrderBy(a => a.Id).Select(a => (a.Id, a.Version, a.Kind, a.Severity, a.State)).ToList();
        Assert.Equal(
        [
            (1UL, "v3", "artifact-digest", AlertSeverity.Critical, AlertState.Firing), (2UL, "v3", "verdict", AlertSeverity.Critical, AlertState.Firing),
            (3UL, "v2", "verdict", AlertSeverity.Critical, AlertState.Firing), (4UL, "v4", "artifact-digest", AlertSeverity.Critical, AlertState.Firing),
            (5UL, "v4", "verdict", AlertSeverity.Critical, AlertState.Firing), (6UL, "v4", "rollback-held", AlertSeverity.Critical, AlertState.Firing),
        ], alerts);

        var signals = (await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = Sidecar.Model })).Signals;
        Assert.Equal(2, signals.Count);
        Assert.Equal((1UL, "v3", "v1", "policy", true, "fixture-admin"),
            (signals[0].Sequence, signals[0].FromVersion, signals[0].ToVersion, signals[0].Actor, signals[0].Acknowledged, signals[0].AcknowledgedBy));
        Assert.Equal([1UL, 2UL], signals[0].AlertIds);
        Assert.Equal((2UL, "v2", "v1", "fixture-admin", false), (signals[1].Sequence, signals[1].FromVersion, signals[1].ToVersion, signals[1].Actor,
            signals[1].Acknowledged));
        Assert.Equal("rolled back by fixture-admin: canary errors", signals[1].Reason);
        Assert.Equal([3UL], signals[1].AlertIds);

        HeldRollback held = Assert.Single((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest { Model = Sidecar.Model })).Rollbacks);
        Assert.Equal((1UL, "v4", "v1", ""), (held.Id, held.FromVersion, held.ToVersion, held.Decision));
        Assert.Equal([4UL, 5UL, 6UL], held.AlertIds);
        Assert.Contains("Monitor:Versions:HoldRollbacks", held.HeldBecause, StringComparison.Ordinal);

        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.Equal(("Failed", "Quarantined", "issued"),
            (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("state").GetString(), verdict.GetProperty("rollback").GetString()));

        // The outbox entries the earlier release could not deliver go out now, in order, each once.
        string[] expected = ["alert-1-1", "alert-2-2", "rollback-1", "alert-3-3", "rollback-2", "alert-4-4", "alert-5-5", "alert-6-6"];
        Assert.True(await Eventually.HoldsAsync(() => receiver.Requests.Count >= expected.Length, TimeSpan.FromSeconds(30)),
            $"the pending outbox should be delivered; got {receiver.Requests.Count}");
        Assert.Equal(expected, receiver.Requests.Select(r => r.Headers["Idempotency-Key"]));

        // And it goes on writing: a decision on the held rollback and an acknowledgement.
        HeldRollback dismissed = await sidecar.Rollbacks.DecideHeldRollbackAsync(new DecideHeldRollbackRequest
        {
            Id = 1, Release = false, Actor = "test", Reason = "v4 was never deployed",
        });
        Assert.Equal("dismissed", dismissed.Decision);
        RollbackSignal acknowledged = await sidecar.Rollbacks.AcknowledgeRollbackSignalAsync(new AcknowledgeRollbackSignalRequest
        {
            Sequence = 2, Actor = "test", Reason = "done",
        });
        Assert.Equal("test", acknowledged.AcknowledgedBy);
    }

    [Fact]
    public void A_version_1_database_is_migrated_in_place_keeping_its_rollback_signals()
    {
        using var directory = new TempDirectory();
        string path = directory.File("old.db");
        using (var connection = new SqliteConnection($"Data Source={path}"))
        {
            connection.Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE rollback_signals (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, from_version TEXT NOT NULL, to_version TEXT,
                    reason TEXT NOT NULL, at TEXT NOT NULL, acknowledged_by TEXT);
                INSERT INTO rollback_signals (model, from_version, to_version, reason, at)
                VALUES ('fraud-scorer', 'v2', 'v1', '3 consecutive failing windows', '2026-11-25T10:00:00.0000000Z');
                PRAGMA user_version = 1;
                """;
            command.ExecuteNonQuery();
        }

        SqliteConnection.ClearAllPools();
        var options = Options.Create(new MonitorOptions { Database = new DatabaseOptions { Path = path } });
        var database = new SqliteDatabase(options);
        var store = new SqliteIncidentStore(database, options);
        database.Initialize();
        StoredRollback signal = Assert.Single(store.LoadRollbackSignals("", 0));
        Assert.Equal(("v2", "v1", "policy", 0), (signal.From, signal.To, signal.Actor, signal.AlertIds.Length));
        Assert.Equal(0, store.CountRateLimitedRollbacksSince("fraud-scorer", DateTimeOffset.MinValue));
        Assert.Empty(store.LoadAlerts("", "", Core.Detectors.Severity.Info, null, 10));
        database.Initialize(); // opening again is a no-op
        Assert.Single(store.LoadRollbackSignals("", 0));
    }

    /// <summary>
    /// Before trust levels the policy promoted a version to KnownGood after a clean run; the upgrade turns such a version
    /// into ObservedClean (not trusted, no rollback target) and says so, while a version an admin trusted stays KnownGood.
    /// </summary>
    [Fact]
    public async Task An_upgrade_makes_versions_the_policy_had_promoted_observed_clean_and_keeps_those_an_admin_trusted()
    {
        using var directory = new TempDirectory();
        string path = directory.File("upgrade.db");
        File.Copy(Path.Combine(Repository.Root, "tests", "Monitor.Server.Tests", "Fixtures", "upgrade-3c193af.db"), path);
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using SqliteCommand command = connection.CreateCommand();
            // As the release before wrote a policy promotion: the state, and an audit entry by "policy".
            command.CommandText = """
                INSERT INTO versions (model, version, artifact_sha256, source, state, registered_at)
                VALUES ('fraud-scorer', 'v5', '5555555555555555555555555555555555555555555555555555555555555555', 'test', 'KnownGood',
                        '2026-11-01T00:00:00.0000000+00:00');
                INSERT INTO audit_log (at, actor, action, model, version, reason)
                VALUES ('2026-11-02T00:00:00.0000000+00:00', 'policy', 'promote', 'fraud-scorer', 'v5', '20 consecutive clean windows');
                """;
            command.ExecuteNonQuery();
        }

        await using Sidecar sidecar = await Sidecar.StartAsync(path, "--Monitor:Retention:Period=36500.00:00:00");
        ModelVersion v5 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v5" });
        ModelVersion v1 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal((VersionState.ObservedClean, VersionState.KnownGood), (v5.State, v1.State));
        string note = Assert.Single(Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<SqliteDatabase>(sidecar.App.Services).MigrationNotes);
        Assert.Contains("1 version(s) the policy had promoted are now ObservedClean", note);
        Assert.EndsWith(": fraud-scorer/v5", note);
    }
}
