using Microsoft.Data.Sqlite;
using Monitor.Server.Alerting;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Delivery;

/// <summary>The outbox table as the dispatcher reads and updates it; the payload is the committed <see cref="DeliveryEvent"/> as JSON.</summary>
internal sealed class SqliteOutboxStore(SqliteDatabase database) : IOutboxStore
{
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

    private SqliteConnection Open() => database.Open();
}
