using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Persistence;

/// <summary>
/// The embedded SQLite database: its file, pooled connections and their pragmas, the schema and its migrations
/// (<see cref="DatabaseSchema"/>), the write probe, the health ping and retention. The stores of each aggregate open
/// their connections here.
/// </summary>
internal sealed class SqliteDatabase : IDisposable
{
    private readonly string _connectionString;

    public SqliteDatabase(IOptions<MonitorOptions> options)
    {
        string path = Path.GetFullPath(options.Value.Database.Path);
        FilePath = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string FilePath { get; }

    /// <summary>Why the one-time VACUUM that adopts incremental auto-vacuum did not run at start-up (null when it ran or was not needed).</summary>
    public string? VacuumDeferred { get; private set; }

    /// <summary>What the latest migration changed that an operator should read (logged at start).</summary>
    public IReadOnlyList<string> MigrationNotes { get; private set; } = [];

    /// <summary>Closes the pooled connections, so the files are released when the sidecar stops.</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    /// <summary>Opens the database, creating or migrating its schema; a storage that refuses it throws <see cref="StoreUnavailableException"/>.</summary>
    public void Initialize()
    {
        try
        {
            InitializeSchema();
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex) || ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException(FilePath, ex, DirectoryProblem());
        }
    }

    /// <summary>Why a file cannot be created beside the database (read-only file system, no space, no permission), or null.</summary>
    private string? DirectoryProblem()
    {
        string probe = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(FilePath)) ?? ".", $".monitor-write-test-{Environment.ProcessId}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose))
            {
            }

            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }

    private void InitializeSchema()
    {
        string? directory = Path.GetDirectoryName(FilePath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        using SqliteConnection connection = Open();
        if (Scalar<long>(connection, "PRAGMA auto_vacuum;") != 2)
        {
            // Incremental auto-vacuum lets retention return freed pages to the file system. A new file takes the setting
            // at once; an existing one needs one VACUUM to adopt it.
            Execute(connection, "PRAGMA auto_vacuum = INCREMENTAL;");
            if (Scalar<long>(connection, "PRAGMA page_count;") > 0)
            {
                try
                {
                    Execute(connection, "VACUUM;");
                }
                catch (SqliteException ex) when (StoreHealth.IsStorageFault(ex))
                {
                    // VACUUM needs about the file's size in free space: without it the sidecar still starts, and tries again next time.
                    VacuumDeferred = StoreHealth.Describe(ex);
                }
            }
        }

        Execute(connection, "PRAGMA journal_mode = WAL;");
        long version = Scalar<long>(connection, "PRAGMA user_version;");
        if (version > DatabaseSchema.Version)
        {
            throw new InvalidOperationException(
                $"database {FilePath} has schema version {version}, newer than this build's {DatabaseSchema.Version}");
        }

        // The schema and its version change together: a crash mid-migration leaves the old schema, not half of the new one.
        using SqliteTransaction migration = connection.BeginTransaction();
        MigrationNotes = DatabaseSchema.Create(connection, version);
        Execute(connection, $"PRAGMA user_version = {DatabaseSchema.Version};");
        migration.Commit();
    }

    /// <summary>
    /// The key the detectors hash keys under, as this database keeps it: <paramref name="proposed"/> if it has none yet.
    /// Kept so that a checkpoint's hashed keys mean the same keys after a restart.
    /// </summary>
    public ulong KeyHashSecret(ulong proposed)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT OR IGNORE INTO secrets (name, value) VALUES ('key-hash', $v);
            SELECT value FROM secrets WHERE name = 'key-hash';
            """;
        command.Parameters.AddWithValue("$v", unchecked((long)proposed));
        return unchecked((ulong)(long)command.ExecuteScalar()!);
    }

    /// <summary>
    /// A write that needs new space: the write-ahead log is truncated, then 256 KiB committed and deleted. Throws
    /// while the storage refuses writes (full, read-only, failing); used to learn that it recovered.
    /// </summary>
    public void ProbeWrite()
    {
        using SqliteConnection connection = Open();
        Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE);");
        Execute(connection, "CREATE TABLE IF NOT EXISTS health_probe (at TEXT NOT NULL, pad BLOB NOT NULL);");
        Execute(connection, "INSERT INTO health_probe (at, pad) VALUES (datetime('now'), randomblob(262144));");
        Execute(connection, "DELETE FROM health_probe;");
    }

    /// <summary>
    /// Deletes history older than <paramref name="cutoff"/>: closed windows, findings, resolved alerts and their change
    /// events, delivered outbox entries and digest mismatches, in one transaction; then returns the freed pages to the
    /// file system. Models, versions, baselines, rollback signals, held rollbacks and the audit log are kept.
    /// </summary>
    public RetentionResult ApplyRetention(DateTimeOffset cutoff)
    {
        using SqliteConnection connection = Open();
        var deleted = new Dictionary<string, long>(StringComparer.Ordinal);
        using (SqliteTransaction transaction = connection.BeginTransaction())
        {
            string at = Format(cutoff)[..19];
            foreach ((string what, string sql) in (ReadOnlySpan<(string, string)>)
            [
                ("windows", "DELETE FROM windows WHERE substr(closed_at, 1, 19) < $c;"),
                ("findings", "DELETE FROM findings WHERE substr(updated_at, 1, 19) < $c;"),
                ("alerts", "DELETE FROM alerts WHERE state = 'Resolved' AND substr(json_extract(alert_json, '$.ResolvedAt'), 1, 19) < $c;"),
                ("alert_events", "DELETE FROM alert_events WHERE alert_id NOT IN (SELECT id FROM alerts);"),
                ("outbox", "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND substr(delivered_at, 1, 19) < $c;"),
                ("digest_mismatches", "DELETE FROM digest_mismatches WHERE substr(last_seen, 1, 19) < $c;"),
            ])
            {
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.AddWithValue("$c", at);
                deleted[what] = command.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        long before = Scalar<long>(connection, "PRAGMA page_count;");
        Execute(connection, "PRAGMA incremental_vacuum;");
        Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE);");
        long after = Scalar<long>(connection, "PRAGMA page_count;");
        long pageSize = Scalar<long>(connection, "PRAGMA page_size;");
        return new RetentionResult(deleted, (before - after) * pageSize, after * pageSize);
    }

    /// <summary>Whether the database answers a query (for health checks).</summary>
    public bool Ping()
    {
        using SqliteConnection connection = Open();
        return Scalar<long>(connection, "SELECT 1;") == 1;
    }

    /// <summary>A connection to the database, opened, with the pragmas every connection needs.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
        return connection;
    }
}
