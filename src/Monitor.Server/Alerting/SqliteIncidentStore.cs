using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Core.Alerts;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.AuditLog;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Alerting;

/// <summary>
/// Incidents in SQLite: alerts (latest state) and alert_events (every change), rollback_signals, held_rollbacks, and
/// the outbox rows written in the same transaction. The writes are here, the queries in SqliteIncidentStore.Queries.cs.
/// </summary>
internal sealed partial class SqliteIncidentStore(SqliteDatabase database, IOptions<MonitorOptions> options) : IIncidentStore
{
    private readonly int _maxPendingAlerts = options.Value.Delivery.MaxPendingAlertsPerSink;

    /// <summary>
    /// Commits an incident in one transaction: alert changes (each a new event in the alert stream), a version
    /// state change with its audit entry, a rollback signal or held rollback, and an outbox entry for every
    /// sink that wants each of them. Nothing is told to anyone before this returns.
    /// </summary>
    public IncidentResult Commit(IncidentCommit incident, Func<DeliveryEvent, IEnumerable<string>> sinks)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        var alerts = new List<StoredAlert>();
        int outbox = 0;
        foreach (Alert alert in incident.Alerts)
        {
            StoredAlert stored = UpsertAlert(connection, alert);
            alerts.Add(stored);
            outbox += Enqueue(connection, new DeliveryEvent(DeliveryEvent.AlertType, stored, null), sinks, incident.At);
        }

        if (incident.StateChange is { } change)
        {
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "UPDATE versions SET state = $s WHERE model = $m AND version = $v;";
            command.Parameters.AddWithValue("$s", change.State);
            command.Parameters.AddWithValue("$m", incident.Model);
            command.Parameters.AddWithValue("$v", incident.Version);
            command.ExecuteNonQuery();
            InsertAudit(connection, incident.At, change.Actor, change.Action, incident.Model, incident.Version, change.Reason);
        }

        StoredRollback? rollback = null;
        StoredHeldRollback? held = null;
        if (incident.Rollback is { } planned)
        {
            long[] alertIds = FiringCriticalAlertIds(connection, incident.Model, incident.Version);
            if (planned.HeldBecause is null)
            {
                rollback = InsertRollback(connection, incident.Model, incident.Version, planned.To, planned.Reason, incident.At, planned.Actor, alertIds,
                    planned.RateLimited);
                outbox += Enqueue(connection, new DeliveryEvent(DeliveryEvent.RollbackType, null, rollback), sinks, incident.At);
            }
            else
            {
                held = InsertHeld(connection, incident, planned, alertIds);
            }
        }

        transaction.Commit();
        return new IncidentResult(alerts, rollback, held, outbox);
    }

    /// <summary>
    /// Releases (issues the signal of) or dismisses a held rollback, audited with who and why, in one transaction.
    /// Null when there is no such held rollback; the decision already taken when it was decided before.
    /// </summary>
    public (StoredHeldRollback Held, StoredRollback? Issued, bool AlreadyDecided)? DecideHeldRollback(long id, bool release, string? to,
        string actor, string reason, DateTimeOffset at, Func<DeliveryEvent, IEnumerable<string>> sinks)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        StoredHeldRollback? held = LoadHeld(connection, "WHERE id = $id", id).FirstOrDefault();
        if (held is null)
        {
            return null;
        }

        if (held.Decision is not null)
        {
            return (held, null, true);
        }

        StoredRollback? issued = null;
        if (release)
        {
            issued = InsertRollback(connection, held.Model, held.From, to,
                $"{held.Reason} (held because {held.HeldBecause}; released by {actor}: {reason})", at, actor, held.AlertIds, rateLimited: false);
            Enqueue(connection, new DeliveryEvent(DeliveryEvent.RollbackType, null, issued), sinks, at);
        }

        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "UPDATE held_rollbacks SET decision = $d, decided_by = $a, released_sequence = $s WHERE id = $id;";
            command.Parameters.AddWithValue("$d", release ? "released" : "dismissed");
            command.Parameters.AddWithValue("$a", actor);
            command.Parameters.AddWithValue("$s", (object?)issued?.Sequence ?? DBNull.Value);
            command.Parameters.AddWithValue("$id", id);
            command.ExecuteNonQuery();
        }

        InsertAudit(connection, at, actor, release ? "release-rollback" : "dismiss-rollback", held.Model, held.From, reason);
        transaction.Commit();
        return (held with { Decision = release ? "released" : "dismissed", DecidedBy = actor, ReleasedSequence = issued?.Sequence }, issued, false);
    }

    /// <summary>Marks a rollback signal acknowledged and audits who and why; null when there is no such signal.</summary>
    public StoredRollback? AcknowledgeRollback(long sequence, string actor, string reason, DateTimeOffset at)
    {
        using (SqliteConnection connection = Open())
        {
            using SqliteTransaction transaction = connection.BeginTransaction();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "UPDATE rollback_signals SET acknowledged_by = $a WHERE sequence = $s RETURNING model, from_version;";
            command.Parameters.AddWithValue("$a", actor);
            command.Parameters.AddWithValue("$s", sequence);
            using (SqliteDataReader reader = command.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return null;
                }

                string model = reader.GetString(0);
                string version = reader.GetString(1);
                reader.Close();
                InsertAudit(connection, at, actor, "acknowledge-rollback", model, version, reason);
            }

            transaction.Commit();
        }

        return LoadRollbackSignals("", sequence - 1).FirstOrDefault(r => r.Sequence == sequence);
    }

    private static StoredAlert UpsertAlert(SqliteConnection connection, Alert alert)
    {
        string json = StoreJson.Write(alert);
        long sequence;
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "INSERT INTO alert_events (alert_id, model, severity, alert_json) VALUES (0, $m, $s, $j); SELECT last_insert_rowid();";
            command.Parameters.AddWithValue("$m", alert.Model);
            command.Parameters.AddWithValue("$s", alert.Severity.ToString());
            command.Parameters.AddWithValue("$j", json);
            sequence = (long)command.ExecuteScalar()!;
        }

        long id;
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                INSERT INTO alerts (model, version, dedupe_key, episode, severity, state, sequence, alert_json)
                VALUES ($m, $v, $k, $e, $s, $st, $q, $j)
                ON CONFLICT (model, version, dedupe_key, episode)
                DO UPDATE SET severity = $s, state = $st, sequence = $q, alert_json = $j
                RETURNING id;
                """;
            command.Parameters.AddWithValue("$m", alert.Model);
            command.Parameters.AddWithValue("$v", alert.Version);
            command.Parameters.AddWithValue("$k", alert.DedupeKey);
            command.Parameters.AddWithValue("$e", alert.Episode);
            command.Parameters.AddWithValue("$s", alert.Severity.ToString());
            command.Parameters.AddWithValue("$st", alert.State.ToString());
            command.Parameters.AddWithValue("$q", sequence);
            command.Parameters.AddWithValue("$j", json);
            id = (long)command.ExecuteScalar()!;
        }

        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "UPDATE alert_events SET alert_id = $id WHERE sequence = $q;";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$q", sequence);
            command.ExecuteNonQuery();
        }

        return new StoredAlert(id, sequence, alert);
    }

    private static long[] FiringCriticalAlertIds(SqliteConnection connection, string model, string version)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT id FROM alerts WHERE model = $m AND version = $v AND state = 'Firing' AND severity = 'Critical' ORDER BY id;
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        using SqliteDataReader reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return [.. ids];
    }

    private static StoredRollback InsertRollback(SqliteConnection connection, string model, string from, string? to, string reason,
        DateTimeOffset at, string actor, long[] alertIds, bool rateLimited)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO rollback_signals (model, from_version, to_version, reason, at, actor, alert_ids, rate_limited)
            VALUES ($m, $f, $t, $r, $a, $x, $ids, $rl);
            SELECT last_insert_rowid();
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$f", from);
        command.Parameters.AddWithValue("$t", (object?)to ?? DBNull.Value);
        command.Parameters.AddWithValue("$r", reason);
        command.Parameters.AddWithValue("$a", Format(at));
        command.Parameters.AddWithValue("$x", actor);
        command.Parameters.AddWithValue("$ids", StoreJson.Write(alertIds));
        command.Parameters.AddWithValue("$rl", rateLimited ? 1 : 0);
        long sequence = (long)command.ExecuteScalar()!;
        return new StoredRollback(sequence, model, from, to, reason, at, null, actor, alertIds);
    }

    private static StoredHeldRollback InsertHeld(SqliteConnection connection, IncidentCommit incident, PlannedRollback planned, long[] alertIds)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO held_rollbacks (model, from_version, to_version, reason, at, alert_ids, held_because)
            VALUES ($m, $f, $t, $r, $a, $ids, $h);
            SELECT last_insert_rowid();
            """;
        command.Parameters.AddWithValue("$m", incident.Model);
        command.Parameters.AddWithValue("$f", incident.Version);
        command.Parameters.AddWithValue("$t", (object?)planned.To ?? DBNull.Value);
        command.Parameters.AddWithValue("$r", planned.Reason);
        command.Parameters.AddWithValue("$a", Format(incident.At));
        command.Parameters.AddWithValue("$ids", StoreJson.Write(alertIds));
        command.Parameters.AddWithValue("$h", planned.HeldBecause!);
        long id = (long)command.ExecuteScalar()!;
        return new StoredHeldRollback(id, incident.Model, incident.Version, planned.To, planned.Reason, incident.At, alertIds,
            planned.HeldBecause!, null, null, null);
    }

    private int Enqueue(SqliteConnection connection, DeliveryEvent delivery, Func<DeliveryEvent, IEnumerable<string>> sinks, DateTimeOffset at)
    {
        int count = 0;
        string payload = StoreJson.Write(delivery);
        foreach (string sink in sinks(delivery))
        {
            if (delivery.Type == DeliveryEvent.AlertType && PendingAlerts(connection, sink) >= _maxPendingAlerts)
            {
                // A receiver this far behind loses alert changes, counted and told; the store and the gRPC watches keep them all.
                using SqliteCommand drop = connection.CreateCommand();
                drop.CommandText = "INSERT INTO outbox_dropped (sink, alerts) VALUES ($k, 1) ON CONFLICT (sink) DO UPDATE SET alerts = alerts + 1;";
                drop.Parameters.AddWithValue("$k", sink);
                drop.ExecuteNonQuery();
                continue;
            }

            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = """
                INSERT OR IGNORE INTO outbox (sink, idempotency_key, payload, created_at, next_attempt_at) VALUES ($k, $i, $p, $t, $t);
                """;
            command.Parameters.AddWithValue("$k", sink);
            command.Parameters.AddWithValue("$i", delivery.IdempotencyKey);
            command.Parameters.AddWithValue("$p", payload);
            command.Parameters.AddWithValue("$t", Format(at));
            count += command.ExecuteNonQuery();
        }

        return count;
    }

    private static long PendingAlerts(SqliteConnection connection, string sink)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox WHERE sink = $k AND delivered_at IS NULL AND idempotency_key LIKE 'alert-%';";
        command.Parameters.AddWithValue("$k", sink);
        return (long)command.ExecuteScalar()!;
    }

    private SqliteConnection Open() => database.Open();
}
