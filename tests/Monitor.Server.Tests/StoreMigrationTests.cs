using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Server.Hosting;
using Monitor.Server.Persistence;

namespace Monitor.Server.Tests;

/// <summary>A database written by the previous schema version opens, keeps its rows, and gains the new columns and tables.</summary>
public sealed class StoreMigrationTests
{
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
        var store = new SqliteStore(Options.Create(new MonitorOptions { Database = new DatabaseOptions { Path = path } }));
        store.Initialize();
        StoredRollback signal = Assert.Single(store.LoadRollbackSignals("", 0));
        Assert.Equal(("v2", "v1", "policy", 0), (signal.From, signal.To, signal.Actor, signal.AlertIds.Length));
        Assert.Equal(0, store.CountRateLimitedRollbacksSince("fraud-scorer", DateTimeOffset.MinValue));
        Assert.Empty(store.LoadAlerts("", "", Core.Detectors.Severity.Info, null, 10));
        store.Initialize(); // opening again is a no-op
        Assert.Single(store.LoadRollbackSignals("", 0));
    }
}
