using Microsoft.Data.Sqlite;
using Monitor.Core.Alerts;
using Monitor.Core.Detectors;

namespace Monitor.Server.Persistence;

/// <summary>An alert as stored: its id, and the sequence number of its latest change.</summary>
internal sealed record StoredAlert(long Id, long Sequence, Alert Alert);

/// <summary>A rollback the policy held for a human (or the per-model rate limit held), and what was decided.</summary>
internal sealed record StoredHeldRollback(long Id, string Model, string From, string? To, string Reason, DateTimeOffset At, long[] AlertIds,
    string HeldBecause, string? Decision, string? DecidedBy, long? ReleasedSequence);

/// <summary>What the outbox carries to a sink: an alert change or a rollback signal, as committed.</summary>
internal sealed record DeliveryEvent(string Type, StoredAlert? Alert, StoredRollback? Rollback)
{
    public const string AlertType = "alert";
    public const string RollbackType = "rollback";

    /// <summary>The same key on every attempt, so a receiver can drop repeats.</summary>
    public string IdempotencyKey => Type == AlertType ? $"alert-{Alert!.Id}-{Alert.Sequence}" : $"rollback-{Rollback!.Sequence}";
}

/// <summary>One pending or delivered outbox entry.</summary>
/// <param name="Event">Null when the stored payload could not be read (the entry is then recorded as failing, never dropped silently).</param>
internal sealed record OutboxItem(long Id, string Sink, string IdempotencyKey, DeliveryEvent? Event, int Attempts, DateTimeOffset CreatedAt,
    DateTimeOffset NextAttemptAt, DateTimeOffset? DeliveredAt, string? LastError);

/// <summary>A rollback the policy (or an admin) wants issued with the rest of an incident.</summary>
/// <param name="HeldBecause">Non-null: hold it for a human's decision instead of signalling.</param>
/// <param name="RateLimited">Whether it counts toward the per-model rate limit (automatic rollbacks on evidence from inputs do; an artifact swap or an admin's does not).</param>
internal sealed record PlannedRollback(string? To, string Reason, string Actor, string? HeldBecause, bool RateLimited = false);

/// <summary>Everything one incident changes, committed in one transaction before anyone is told.</summary>
internal sealed class IncidentCommit(string model, string version, DateTimeOffset at)
{
    public string Model { get; } = model;
    public string Version { get; } = version;
    public DateTimeOffset At { get; } = at;
    public List<Alert> Alerts { get; } = [];
    public (string State, string Actor, string Action, string Reason)? StateChange { get; set; }
    public PlannedRollback? Rollback { get; set; }

    public bool IsEmpty => Alerts.Count == 0 && StateChange is null && Rollback is null;
}

internal sealed record IncidentResult(IReadOnlyList<StoredAlert> Alerts, StoredRollback? Rollback, StoredHeldRollback? Held, int OutboxEntries);

/// <summary>Alerts, rollback signals, held rollbacks and the delivery outbox.</summary>
internal sealed partial class SqliteStore
{
    private static void CreateIncidentTables(SqliteConnection connection, long storedVersion)
    {
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS alerts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                dedupe_key TEXT NOT NULL,
                episode INTEGER NOT NULL,
                severity TEXT NOT NULL,
                state TEXT NOT NULL,
                sequence INTEGER NOT NULL,
                alert_json TEXT NOT NULL,
                UNIQUE (model, version, dedupe_key, episode));
            CREATE TABLE IF NOT EXISTS alert_events (
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id INTEGER NOT NULL,
                model TEXT NOT NULL,
                severity TEXT NOT NULL,
                alert_json TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS held_rollbacks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                model TEXT NOT NULL,
                from_version TEXT NOT NULL,
                to_version TEXT,
                reason TEXT NOT NULL,
                at TEXT NOT NULL,
                alert_ids TEXT NOT NULL,
                held_because TEXT NOT NULL,
                decision TEXT,
                decided_by TEXT,
                released_sequence INTEGER);
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                sink TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT NOT NULL,
                delivered_at TEXT,
                last_error TEXT,
                UNIQUE (sink, idempotency_key));
            CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (next_attempt_at) WHERE delivered_at IS NULL;
            CREATE INDEX IF NOT EXISTS outbox_backlog ON outbox (sink, id) WHERE delivered_at IS NULL;
            CREATE TABLE IF NOT EXISTS outbox_dropped (
                sink TEXT PRIMARY KEY,
                alerts INTEGER NOT NULL);
            """);
        if (storedVersion == 1)
        {
            Execute(connection, """
                ALTER TABLE rollback_signals ADD COLUMN actor TEXT NOT NULL DEFAULT 'policy';
                ALTER TABLE rollback_signals ADD COLUMN alert_ids TEXT NOT NULL DEFAULT '[]';
                ALTER TABLE rollback_signals ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0;
                """);
        }
    }

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

    public List<StoredHeldRollback> LoadHeldRollbacks(string model, bool pendingOnly)
    {
        using SqliteConnection connection = Open();
        return LoadHeld(connection, "WHERE ($m = '' OR model = $m) AND ($p = 0 OR decision IS NULL)", 0, model, pendingOnly);
    }

    /// <summary>Automatic rollback signals on evidence from inputs issued for a model since a time (for the per-model rate limit).</summary>
    public int CountRateLimitedRollbacksSince(string model, DateTimeOffset since)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM rollback_signals WHERE model = $m AND rate_limited = 1 AND at >= $t;";
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$t", Format(since));
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public List<(long Sequence, string From, string? To, string Reason, DateTimeOffset At)> LoadRollbacks(string model) =>
        [.. LoadRollbackSignals(model, 0).Select(r => (r.Sequence, r.From, r.To, r.Reason, r.At))];

    /// <summary>Rollback signals after a sequence number, of one model or (empty) of all, in order.</summary>
    public List<StoredRollback> LoadRollbackSignals(string model, long afterSequence)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT sequence, model, from_version, to_version, reason, at, acknowledged_by, actor, alert_ids FROM rollback_signals
            WHERE sequence > $s AND ($m = '' OR model = $m) ORDER BY sequence;
            """;
        command.Parameters.AddWithValue("$s", afterSequence);
        command.Parameters.AddWithValue("$m", model);
        using SqliteDataReader reader = command.ExecuteReader();
        var rows = new List<StoredRollback>();
        while (reader.Read())
        {
            rows.Add(new StoredRollback(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), Parse(reader.GetString(5)), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetString(7),
                StoreJson.Read<long[]>(reader.GetString(8))));
        }

        return rows;
    }

    /// <summary>Alerts, newest change first, filtered by model, version, least severity and state (null = any).</summary>
    public List<StoredAlert> LoadAlerts(string model, string version, Severity minSeverity, AlertState? state, int limit)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, sequence, alert_json FROM alerts
            WHERE ($m = '' OR model = $m) AND ($v = '' OR version = $v) AND ($st = '' OR state = $st)
            ORDER BY sequence DESC;
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$st", state?.ToString() ?? "");
        using SqliteDataReader reader = command.ExecuteReader();
        var alerts = new List<StoredAlert>();
        while (reader.Read() && alerts.Count < limit)
        {
            var alert = new StoredAlert(reader.GetInt64(0), reader.GetInt64(1), StoreJson.Read<Alert>(reader.GetString(2)));
            if (alert.Alert.Severity >= minSeverity)
            {
                alerts.Add(alert);
            }
        }

        return alerts;
    }

    public StoredAlert? LoadAlert(long id)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT id, sequence, alert_json FROM alerts WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        using SqliteDataReader reader = command.ExecuteReader();
        return reader.Read() ? new StoredAlert(reader.GetInt64(0), reader.GetInt64(1), StoreJson.Read<Alert>(reader.GetString(2))) : null;
    }

    /// <summary>Alert changes after a sequence number, in order, each as the alert was at that change.</summary>
    public List<StoredAlert> LoadAlertEvents(string model, Severity minSeverity, long afterSequence, int limit = int.MaxValue)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT alert_id, sequence, alert_json FROM alert_events
            WHERE sequence > $s AND ($m = '' OR model = $m) ORDER BY sequence;
            """;
        command.Parameters.AddWithValue("$s", afterSequence);
        command.Parameters.AddWithValue("$m", model);
        using SqliteDataReader reader = command.ExecuteReader();
        var events = new List<StoredAlert>();
        while (reader.Read() && events.Count < limit)
        {
            var alert = new StoredAlert(reader.GetInt64(0), reader.GetInt64(1), StoreJson.Read<Alert>(reader.GetString(2)));
            if (alert.Alert.Severity >= minSeverity)
            {
                events.Add(alert);
            }
        }

        return events;
    }

    /// <summary>The latest episode of every alert of a version (to restore its alert policy after a restart).</summary>
    public List<Alert> LoadLatestAlerts(string model, string version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT alert_json FROM alerts a WHERE model = $m AND version = $v
            AND episode = (SELECT MAX(episode) FROM alerts b WHERE b.model = a.model AND b.version = a.version AND b.dedupe_key = a.dedupe_key);
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        using SqliteDataReader reader = command.ExecuteReader();
        var alerts = new List<Alert>();
        while (reader.Read())
        {
            alerts.Add(StoreJson.Read<Alert>(reader.GetString(0)));
        }

        return alerts;
    }

    /// <summary>Firing alerts per model and severity.</summary>
    public List<(string Model, Severity Severity, long Count)> CountFiringAlerts()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT model, severity, COUNT(*) FROM alerts WHERE state = 'Firing' GROUP BY model, severity;";
        using SqliteDataReader reader = command.ExecuteReader();
        var counts = new List<(string, Severity, long)>();
        while (reader.Read())
        {
            counts.Add((reader.GetString(0), Enum.Parse<Severity>(reader.GetString(1)), reader.GetInt64(2)));
        }

        return counts;
    }

    /// <summary>
    /// A sink's undelivered entries, oldest first, when its oldest one is due; empty otherwise. A sink's
    /// entries go out in order: while its head waits for a retry, everything behind it waits too.
    /// </summary>
    /// <param name="latest">The latest a retry can be scheduled from now (the longest back-off): a head scheduled later than that
    /// was scheduled before the wall clock jumped back, and is due now rather than after the jump.</param>
    public List<OutboxItem> LoadSinkBacklog(string sink, DateTimeOffset now, int limit, TimeSpan latest)
    {
        using SqliteConnection connection = Open();
        List<OutboxItem> backlog = LoadOutbox(connection, "WHERE sink = $k AND delivered_at IS NULL ORDER BY id LIMIT $n", now, limit, sink);
        return backlog.Count > 0 && (backlog[0].NextAttemptAt <= now || backlog[0].NextAttemptAt > now + latest) ? backlog : [];
    }

    /// <summary>Every outbox entry of a sink (for inspection and tests), in order.</summary>
    public List<OutboxItem> LoadOutbox(string sink)
    {
        using SqliteConnection connection = Open();
        return LoadOutbox(connection, "WHERE sink = $k ORDER BY id", DateTimeOffset.MinValue, int.MaxValue, sink);
    }

    /// <summary>When the head (oldest undelivered entry) of one of the given sinks is next due; null when none has a backlog.</summary>
    public DateTimeOffset? NextOutboxAttempt(IEnumerable<string> sinks)
    {
        DateTimeOffset? next = null;
        using SqliteConnection connection = Open();
        foreach (string sink in sinks)
        {
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "SELECT next_attempt_at FROM outbox WHERE sink = $k AND delivered_at IS NULL ORDER BY id LIMIT 1;";
            command.Parameters.AddWithValue("$k", sink);
            if (command.ExecuteScalar() is string at && (next is null || Parse(at) < next))
            {
                next = Parse(at);
            }
        }

        return next;
    }

    private static long PendingAlerts(SqliteConnection connection, string sink)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox WHERE sink = $k AND delivered_at IS NULL AND idempotency_key LIKE 'alert-%';";
        command.Parameters.AddWithValue("$k", sink);
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Alert deliveries dropped for a sink whose backlog was full, in total.</summary>
    public long CountDroppedAlerts(string sink)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT alerts FROM outbox_dropped WHERE sink = $k;";
        command.Parameters.AddWithValue("$k", sink);
        return command.ExecuteScalar() is long dropped ? dropped : 0;
    }

    /// <summary>Pending entries per sink (for the backlog gauge).</summary>
    public Dictionary<string, long> CountPendingOutbox()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT sink, COUNT(*) FROM outbox WHERE delivered_at IS NULL GROUP BY sink;";
        using SqliteDataReader reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    public void MarkDelivered(long id, int attempts, DateTimeOffset at)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "UPDATE outbox SET delivered_at = $t, attempts = $a, last_error = NULL WHERE id = $id;";
        command.Parameters.AddWithValue("$t", Format(at));
        command.Parameters.AddWithValue("$a", attempts);
        command.Parameters.AddWithValue("$id", id);
        command.ExecuteNonQuery();
    }

    public void MarkAttemptFailed(long id, int attempts, DateTimeOffset nextAttempt, string error)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "UPDATE outbox SET attempts = $a, next_attempt_at = $t, last_error = $e WHERE id = $id;";
        command.Parameters.AddWithValue("$a", attempts);
        command.Parameters.AddWithValue("$t", Format(nextAttempt));
        command.Parameters.AddWithValue("$e", error.Length <= 500 ? error : error[..500]);
        command.Parameters.AddWithValue("$id", id);
        command.ExecuteNonQuery();
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

    private static List<StoredHeldRollback> LoadHeld(SqliteConnection connection, string where, long id, string model = "", bool pendingOnly = false)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT id, model, from_version, to_version, reason, at, alert_ids, held_because, decision, decided_by, released_sequence
            FROM held_rollbacks {where} ORDER BY id;
            """;
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$p", pendingOnly ? 1 : 0);
        using SqliteDataReader reader = command.ExecuteReader();
        var rows = new List<StoredHeldRollback>();
        while (reader.Read())
        {
            rows.Add(new StoredHeldRollback(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), Parse(reader.GetString(5)), StoreJson.Read<long[]>(reader.GetString(6)), reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.IsDBNull(10) ? null : reader.GetInt64(10)));
        }

        return rows;
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

    private static List<OutboxItem> LoadOutbox(SqliteConnection connection, string where, DateTimeOffset now, int limit, string sink = "")
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT id, sink, idempotency_key, payload, attempts, created_at, next_attempt_at, delivered_at, last_error FROM outbox {where};
            """;
        command.Parameters.AddWithValue("$t", Format(now));
        command.Parameters.AddWithValue("$n", limit);
        command.Parameters.AddWithValue("$k", sink);
        using SqliteDataReader reader = command.ExecuteReader();
        var items = new List<OutboxItem>();
        while (reader.Read())
        {
            DeliveryEvent? delivery;
            try
            {
                delivery = StoreJson.Read<DeliveryEvent>(reader.GetString(3));
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException)
            {
                delivery = null;
            }

            items.Add(new OutboxItem(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), delivery,
                reader.GetInt32(4), Parse(reader.GetString(5)), Parse(reader.GetString(6)), reader.IsDBNull(7) ? null : Parse(reader.GetString(7)),
                reader.IsDBNull(8) ? null : reader.GetString(8)));
        }

        return items;
    }
}
