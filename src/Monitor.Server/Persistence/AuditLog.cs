using Microsoft.Data.Sqlite;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Persistence;

/// <summary>The audit log: who changed a version or decided a rollback, and why; written inside the change's own transaction.</summary>
internal static class AuditLog
{
    public static void InsertAudit(SqliteConnection connection, DateTimeOffset at, string actor, string action, string model,
        string version, string reason)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO audit_log (at, actor, action, model, version, reason) VALUES ($t, $a, $x, $m, $v, $r);
            """;
        command.Parameters.AddWithValue("$t", Format(at));
        command.Parameters.AddWithValue("$a", actor);
        command.Parameters.AddWithValue("$x", action);
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$r", reason);
        command.ExecuteNonQuery();
    }
}
