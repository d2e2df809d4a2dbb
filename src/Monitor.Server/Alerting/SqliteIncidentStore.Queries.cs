using Microsoft.Data.Sqlite;
using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Alerting;

/// <summary>The queries of alerts, rollback signals and held rollbacks.</summary>
internal sealed partial class SqliteIncidentStore
{
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

    /// <summary>Rollback signals after a sequence number, of one model or (empty) of all, in order.</summary>
    public List<StoredRollback> LoadRollbackSignals(string model, long afterSequence, int limit = int.MaxValue)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT sequence, model, from_version, to_version, reason, at, acknowledged_by, actor, alert_ids FROM rollback_signals
            WHERE sequence > $s AND ($m = '' OR model = $m) ORDER BY sequence LIMIT $l;
            """;
        command.Parameters.AddWithValue("$s", afterSequence);
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$l", limit);
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
}
