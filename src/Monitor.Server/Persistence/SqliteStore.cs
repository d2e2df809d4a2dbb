using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Server.Hosting;

namespace Monitor.Server.Persistence;

/// <summary>A registered model as stored.</summary>
internal sealed record StoredModel(string Name, ModelSchema Schema, string Description, DateTimeOffset RegisteredAt, long BaselineId);

/// <summary>A rollback signal as stored: issued by the policy or by hand (<paramref name="Actor"/>), with the alerts that led to it.</summary>
internal sealed record StoredRollback(long Sequence, string Model, string From, string? To, string Reason, DateTimeOffset At, string? AcknowledgedBy,
    string Actor = "policy", long[]? AlertIds = null)
{
    public long[] AlertIds { get; init; } = AlertIds ?? [];
}

/// <summary>A closed window to store, with its version's counters at the time and the retention.</summary>
internal sealed record WindowWrite(string Model, string Version, WindowResult Window, long RecordsAccepted, long WindowsClosed, int Retained);

/// <summary>A registered version as stored, with its counters.</summary>
internal sealed record StoredVersion(
    string Model, string Version, string ArtifactSha256, string Source, string State, DateTimeOffset RegisteredAt,
    long RecordsAccepted, long RecordsDigestMismatch, long WindowsClosed);

/// <summary>
/// The embedded SQLite store of models, versions, baselines (profile and reservoir sample), window
/// results, digest mismatches and the audit log. Every write that must survive a crash is one transaction.
/// </summary>
internal sealed partial class SqliteStore : IDisposable
{
    private const int SchemaVersion = 2;
    private readonly string _connectionString;
    private readonly int _maxPendingAlerts;

    public SqliteStore(IOptions<MonitorOptions> options)
    {
        _maxPendingAlerts = options.Value.Delivery.MaxPendingAlertsPerSink;
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
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"database {FilePath} has schema version {version}, newer than this build's {SchemaVersion}");
        }

        // The schema and its version change together: a crash mid-migration leaves the old schema, not half of the new one.
        using SqliteTransaction migration = connection.BeginTransaction();
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS models (
                name TEXT PRIMARY KEY,
                schema_json TEXT NOT NULL,
                description TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                baseline_id INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS versions (
                model TEXT NOT NULL REFERENCES models(name),
                version TEXT NOT NULL,
                artifact_sha256 TEXT NOT NULL,
                source TEXT NOT NULL,
                state TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                records_accepted INTEGER NOT NULL DEFAULT 0,
                windows_closed INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (model, version));
            CREATE TABLE IF NOT EXISTS baselines (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                model TEXT NOT NULL REFERENCES models(name),
                created_at TEXT NOT NULL,
                profile_json TEXT NOT NULL,
                sample BLOB NOT NULL,
                sample_received INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS windows (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                window_index INTEGER NOT NULL,
                baseline_id INTEGER NOT NULL,
                closed_at TEXT NOT NULL,
                records INTEGER NOT NULL,
                drifted INTEGER NOT NULL,
                result_json TEXT NOT NULL,
                PRIMARY KEY (model, version, window_index));
            CREATE TABLE IF NOT EXISTS digest_mismatches (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                artifact_sha256 TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                batches INTEGER NOT NULL,
                records INTEGER NOT NULL,
                PRIMARY KEY (model, version, artifact_sha256));
            CREATE TABLE IF NOT EXISTS findings (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                dedupe_key TEXT NOT NULL,
                detector TEXT NOT NULL,
                severity TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                finding_json TEXT NOT NULL,
                PRIMARY KEY (model, version, dedupe_key));
            CREATE TABLE IF NOT EXISTS rollback_signals (
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                model TEXT NOT NULL,
                from_version TEXT NOT NULL,
                to_version TEXT,
                reason TEXT NOT NULL,
                at TEXT NOT NULL,
                acknowledged_by TEXT,
                actor TEXT NOT NULL DEFAULT 'policy',
                alert_ids TEXT NOT NULL DEFAULT '[]',
                rate_limited INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                reason TEXT NOT NULL);
            """);
        CreateIncidentTables(connection, version);
        Execute(connection, $"PRAGMA user_version = {SchemaVersion};");
        migration.Commit();
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

    public void InsertModel(StoredModel model)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "INSERT INTO models (name, schema_json, description, registered_at) VALUES ($n, $s, $d, $t);";
        command.Parameters.AddWithValue("$n", model.Name);
        command.Parameters.AddWithValue("$s", StoreJson.Write(model.Schema));
        command.Parameters.AddWithValue("$d", model.Description);
        command.Parameters.AddWithValue("$t", Format(model.RegisteredAt));
        command.ExecuteNonQuery();
    }

    public List<StoredModel> LoadModels()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT name, schema_json, description, registered_at, baseline_id FROM models ORDER BY name;";
        using SqliteDataReader reader = command.ExecuteReader();
        var models = new List<StoredModel>();
        while (reader.Read())
        {
            models.Add(new StoredModel(reader.GetString(0), StoreJson.Read<ModelSchema>(reader.GetString(1)),
                reader.GetString(2), Parse(reader.GetString(3)), reader.GetInt64(4)));
        }

        return models;
    }

    public void InsertVersion(StoredVersion version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO versions (model, version, artifact_sha256, source, state, registered_at)
            VALUES ($m, $v, $a, $s, $st, $t);
            """;
        command.Parameters.AddWithValue("$m", version.Model);
        command.Parameters.AddWithValue("$v", version.Version);
        command.Parameters.AddWithValue("$a", version.ArtifactSha256);
        command.Parameters.AddWithValue("$s", version.Source);
        command.Parameters.AddWithValue("$st", version.State);
        command.Parameters.AddWithValue("$t", Format(version.RegisteredAt));
        command.ExecuteNonQuery();
    }

    public List<StoredVersion> LoadVersions()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT v.model, v.version, v.artifact_sha256, v.source, v.state, v.registered_at, v.records_accepted, v.windows_closed,
                   COALESCE((SELECT SUM(records) FROM digest_mismatches d WHERE d.model = v.model AND d.version = v.version), 0)
            FROM versions v ORDER BY v.model, v.registered_at, v.version;
            """;
        using SqliteDataReader reader = command.ExecuteReader();
        var versions = new List<StoredVersion>();
        while (reader.Read())
        {
            versions.Add(new StoredVersion(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), Parse(reader.GetString(5)), reader.GetInt64(6), reader.GetInt64(8), reader.GetInt64(7)));
        }

        return versions;
    }

    /// <summary>Changes a version's state and records who did it and why, in one transaction.</summary>
    public void ChangeVersionState(string model, string version, string state, string actor, string action, string reason, DateTimeOffset at)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "UPDATE versions SET state = $s WHERE model = $m AND version = $v;";
            command.Parameters.AddWithValue("$s", state);
            command.Parameters.AddWithValue("$m", model);
            command.Parameters.AddWithValue("$v", version);
            command.ExecuteNonQuery();
        }

        InsertAudit(connection, at, actor, action, model, version, reason);
        transaction.Commit();
    }

    public void Audit(DateTimeOffset at, string actor, string action, string model, string version, string reason)
    {
        using SqliteConnection connection = Open();
        InsertAudit(connection, at, actor, action, model, version, reason);
    }

    public List<(DateTimeOffset At, string Actor, string Action, string Model, string Version, string Reason)> LoadAudit(string model)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT at, actor, action, model, version, reason FROM audit_log WHERE model = $m ORDER BY id;";
        command.Parameters.AddWithValue("$m", model);
        using SqliteDataReader reader = command.ExecuteReader();
        var entries = new List<(DateTimeOffset, string, string, string, string, string)>();
        while (reader.Read())
        {
            entries.Add((Parse(reader.GetString(0)), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.GetString(5)));
        }

        return entries;
    }

    /// <summary>
    /// Stores a committed baseline and puts it in force for its model in one transaction: a crash
    /// leaves either the old baseline in force or the new one, never half of it.
    /// </summary>
    public long CommitBaseline(BaselineProfile profile, byte[] sample, long sampleReceived)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        long id;
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                INSERT INTO baselines (model, created_at, profile_json, sample, sample_received)
                VALUES ($m, $t, '', $s, $r);
                SELECT last_insert_rowid();
                """;
            command.Parameters.AddWithValue("$m", profile.Model);
            command.Parameters.AddWithValue("$t", Format(profile.CreatedAt));
            command.Parameters.AddWithValue("$s", sample);
            command.Parameters.AddWithValue("$r", sampleReceived);
            id = (long)command.ExecuteScalar()!;
        }

        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                UPDATE baselines SET profile_json = $p WHERE id = $id;
                UPDATE models SET baseline_id = $id WHERE name = $m;
                """;
            command.Parameters.AddWithValue("$p", StoreJson.Write(profile with { Id = id }));
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$m", profile.Model);
            command.ExecuteNonQuery();
        }

        transaction.Commit();
        return id;
    }

    public BaselineProfile? LoadBaseline(long id)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT profile_json FROM baselines WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteScalar() is string json ? StoreJson.Read<BaselineProfile>(json) : null;
    }

    public List<BaselineProfile> LoadBaselines(string model)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT profile_json FROM baselines WHERE model = $m ORDER BY id;";
        command.Parameters.AddWithValue("$m", model);
        using SqliteDataReader reader = command.ExecuteReader();
        var profiles = new List<BaselineProfile>();
        while (reader.Read())
        {
            profiles.Add(StoreJson.Read<BaselineProfile>(reader.GetString(0)));
        }

        return profiles;
    }

    /// <summary>The stored reservoir sample of a baseline and how many records it was drawn from.</summary>
    public (byte[] Sample, long Received)? LoadBaselineSample(long id)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT sample, sample_received FROM baselines WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        using SqliteDataReader reader = command.ExecuteReader();
        return reader.Read() ? ((byte[])reader.GetValue(0), reader.GetInt64(1)) : null;
    }

    /// <summary>Stores a closed window, the version's counters, and drops windows beyond the retention.</summary>
    public void SaveWindow(string model, string version, WindowResult window, long recordsAccepted, long windowsClosed, int retained) =>
        SaveWindows([new WindowWrite(model, version, window, recordsAccepted, windowsClosed, retained)]);

    /// <summary>Stores closed windows with their versions' counters, dropping windows beyond the retention, in one transaction.</summary>
    public void SaveWindows(IReadOnlyList<WindowWrite> windows)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        foreach (WindowWrite write in windows)
        {
            using (SqliteCommand command = connection.CreateCommand())
            {
                command.CommandText = """
                    INSERT OR REPLACE INTO windows (model, version, window_index, baseline_id, closed_at, records, drifted, result_json)
                    VALUES ($m, $v, $i, $b, $t, $r, $d, $j);
                    DELETE FROM windows WHERE model = $m AND version = $v AND window_index <= $i - $keep;
                    """;
                command.Parameters.AddWithValue("$m", write.Model);
                command.Parameters.AddWithValue("$v", write.Version);
                command.Parameters.AddWithValue("$i", (long)write.Window.Index);
                command.Parameters.AddWithValue("$b", write.Window.BaselineId);
                command.Parameters.AddWithValue("$t", Format(write.Window.ClosedAt ?? write.Window.OpenedAt));
                command.Parameters.AddWithValue("$r", write.Window.Records);
                command.Parameters.AddWithValue("$d", write.Window.Drifted ? 1 : 0);
                command.Parameters.AddWithValue("$j", StoreJson.Write(write.Window));
                command.Parameters.AddWithValue("$keep", (long)write.Retained);
                command.ExecuteNonQuery();
            }

            SaveCounters(connection, write.Model, write.Version, write.RecordsAccepted, write.WindowsClosed);
        }

        transaction.Commit();
    }

    public void SaveCounters(string model, string version, long recordsAccepted, long windowsClosed)
    {
        using SqliteConnection connection = Open();
        SaveCounters(connection, model, version, recordsAccepted, windowsClosed);
    }

    /// <summary>The most recent closed windows of a version, newest first.</summary>
    public List<WindowResult> LoadRecentWindows(string model, string version, int count)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT result_json FROM windows WHERE model = $m AND version = $v ORDER BY window_index DESC LIMIT $n;
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$n", count);
        using SqliteDataReader reader = command.ExecuteReader();
        var windows = new List<WindowResult>();
        while (reader.Read())
        {
            windows.Add(StoreJson.Read<WindowResult>(reader.GetString(0)));
        }

        return windows;
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

    /// <summary>When each version of a model was last promoted to known-good (from the audit log).</summary>
    public Dictionary<string, DateTimeOffset> LoadPromotions(string model)
    {
        var promotions = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var entry in LoadAudit(model))
        {
            if (entry.Action is "promote" or "register-known-good")
            {
                promotions[entry.Version] = entry.At;
            }
        }

        return promotions;
    }

    /// <summary>Stores new and updated findings of a version in one transaction.</summary>
    public void SaveFindings(string model, string version, IReadOnlyList<Finding> findings)
    {
        if (findings.Count == 0)
        {
            return;
        }

        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        foreach (Finding finding in findings)
        {
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = """
                INSERT OR REPLACE INTO findings (model, version, dedupe_key, detector, severity, updated_at, finding_json)
                VALUES ($m, $v, $k, $d, $s, $t, $j);
                """;
            command.Parameters.AddWithValue("$m", model);
            command.Parameters.AddWithValue("$v", version);
            command.Parameters.AddWithValue("$k", finding.DedupeKey);
            command.Parameters.AddWithValue("$d", finding.Detector.ToString());
            command.Parameters.AddWithValue("$s", finding.Severity.ToString());
            command.Parameters.AddWithValue("$t", Format(finding.UpdatedAt));
            command.Parameters.AddWithValue("$j", StoreJson.Write(finding));
            command.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    public List<Finding> LoadFindings(string model, string version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT finding_json FROM findings WHERE model = $m AND version = $v;";
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        using SqliteDataReader reader = command.ExecuteReader();
        var findings = new List<Finding>();
        while (reader.Read())
        {
            findings.Add(StoreJson.Read<Finding>(reader.GetString(0)));
        }

        return findings;
    }

    /// <summary>Records, durably, that a batch arrived with an artifact digest other than the registered one.</summary>
    public void RecordDigestMismatch(string model, string version, string artifactSha256, long records, DateTimeOffset at)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO digest_mismatches (model, version, artifact_sha256, first_seen, last_seen, batches, records)
            VALUES ($m, $v, $a, $t, $t, 1, $r)
            ON CONFLICT (model, version, artifact_sha256)
            DO UPDATE SET last_seen = $t, batches = batches + 1, records = records + $r;
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$a", artifactSha256);
        command.Parameters.AddWithValue("$t", Format(at));
        command.Parameters.AddWithValue("$r", records);
        command.ExecuteNonQuery();
    }

    public List<(string ArtifactSha256, DateTimeOffset FirstSeen, DateTimeOffset LastSeen, long Batches, long Records)> LoadDigestMismatches(
        string model, string version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT artifact_sha256, first_seen, last_seen, batches, records FROM digest_mismatches
            WHERE model = $m AND version = $v ORDER BY first_seen;
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        using SqliteDataReader reader = command.ExecuteReader();
        var rows = new List<(string, DateTimeOffset, DateTimeOffset, long, long)>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), Parse(reader.GetString(1)), Parse(reader.GetString(2)), reader.GetInt64(3), reader.GetInt64(4)));
        }

        return rows;
    }

    private static void SaveCounters(SqliteConnection connection, string model, string version, long recordsAccepted, long windowsClosed)
    {
        using SqliteCommand command = connection.CreateCommand();
        // Counters only grow: a window written late by the background writer never takes them back.
        command.CommandText = """
            UPDATE versions SET records_accepted = MAX(records_accepted, $r), windows_closed = MAX(windows_closed, $w)
            WHERE model = $m AND version = $v;
            """;
        command.Parameters.AddWithValue("$r", recordsAccepted);
        command.Parameters.AddWithValue("$w", windowsClosed);
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.ExecuteNonQuery();
    }

    private static void InsertAudit(SqliteConnection connection, DateTimeOffset at, string actor, string action, string model,
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

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)Convert.ChangeType(command.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    private static string Format(DateTimeOffset at) => at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
