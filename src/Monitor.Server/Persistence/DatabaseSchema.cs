using Microsoft.Data.Sqlite;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Persistence;

/// <summary>
/// The tables of every aggregate, and the migration from each earlier schema version. A database written by any
/// earlier release opens: tables are created if missing, columns added by version (PRAGMA user_version).
/// </summary>
internal static class DatabaseSchema
{
    /// <summary>The schema version this build writes; a database with a newer one is refused.</summary>
    public const int Version = 4;

    /// <summary>Creates what is missing of the schema, inside the caller's migration transaction.</summary>
    /// <param name="storedVersion">The database's schema version before (0 for a new file).</param>
    /// <returns>What the migration changed that an operator should read in the start-up log (empty when nothing).</returns>
    public static List<string> Create(SqliteConnection connection, long storedVersion)
    {
        var notes = new List<string>();
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
                lifecycle_json TEXT,
                last_served_at TEXT,
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
            CREATE TABLE IF NOT EXISTS secrets (
                name TEXT PRIMARY KEY,
                value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS detector_state (
                model TEXT NOT NULL,
                version TEXT NOT NULL,
                baseline_id INTEGER NOT NULL,
                records INTEGER NOT NULL,
                state BLOB NOT NULL,
                PRIMARY KEY (model, version));
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
        CreateIncidentTables(connection, storedVersion);
        CreateProvenance(connection);
        CreateVersionReferences(connection);
        if (storedVersion is > 0 and < 3)
        {
            notes.AddRange(SeparateTrust(connection));
        }

        return notes;
    }

    /// <summary>
    /// Schema 3 keeps artifact provenance: the public keys pinned per model, whether a model requires signed versions,
    /// and per version the key its signature verified against and where the sidecar reads its artifact.
    /// </summary>
    private static void CreateProvenance(SqliteConnection connection)
    {
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS model_keys (
                model TEXT NOT NULL REFERENCES models(name),
                key_id TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                public_key_pem TEXT NOT NULL,
                pinned_at TEXT NOT NULL,
                PRIMARY KEY (model, key_id));
            """);
        foreach ((string table, string column, string definition) in new[]
        {
            ("models", "require_signed", "INTEGER NOT NULL DEFAULT 0"),
            ("models", "artifact_path_template", "TEXT NOT NULL DEFAULT ''"),
            ("versions", "signed_by", "TEXT NOT NULL DEFAULT ''"),
            ("versions", "artifact_path", "TEXT NOT NULL DEFAULT ''"),
            ("versions", "unsafe_artifact", "TEXT NOT NULL DEFAULT ''"),
        })
        {
            if (Scalar<long>(connection, $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}';") == 0)
            {
                Execute(connection, $"ALTER TABLE {table} ADD COLUMN {column} {definition};");
            }
        }
    }

    /// <summary>
    /// Schema 4 keeps versions' own references (docs/detectors.md, "Per-version references"): per version and baseline the
    /// embedding geometry built from its outputs on the baseline's reference inputs. A new table; nothing earlier changes.
    /// </summary>
    private static void CreateVersionReferences(SqliteConnection connection) => Execute(connection, """
        CREATE TABLE IF NOT EXISTS version_references (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model TEXT NOT NULL REFERENCES models(name),
            version TEXT NOT NULL,
            baseline_id INTEGER NOT NULL,
            uploaded_at TEXT NOT NULL,
            uploaded_by TEXT NOT NULL,
            records_received INTEGER NOT NULL,
            records_kept INTEGER NOT NULL,
            profile_json TEXT NOT NULL,
            UNIQUE (model, version, baseline_id));
        """);

    /// <summary>
    /// Schema 3 separates trust from a clean run: a version the policy promoted (its latest promotion in the audit log is
    /// by "policy") becomes ObservedClean; one an admin promoted or registered as known-good stays KnownGood.
    /// </summary>
    private static List<string> SeparateTrust(SqliteConnection connection)
    {
        foreach (string column in new[] { "lifecycle_json", "last_served_at" })
        {
            if (Scalar<long>(connection, $"SELECT COUNT(*) FROM pragma_table_info('versions') WHERE name = '{column}';") == 0)
            {
                Execute(connection, $"ALTER TABLE versions ADD COLUMN {column} TEXT;");
            }
        }
        var demoted = new List<string>();
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT v.model, v.version FROM versions v
                WHERE v.state = 'KnownGood' AND (
                    SELECT a.actor FROM audit_log a
                    WHERE a.model = v.model AND a.version = v.version AND a.action IN ('promote', 'register-known-good')
                    ORDER BY a.id DESC LIMIT 1) = 'policy'
                ORDER BY v.model, v.version;
                """;
            using SqliteDataReader reader = command.ExecuteReader();
            while (reader.Read())
            {
                demoted.Add($"{reader.GetString(0)}/{reader.GetString(1)}");
            }
        }

        Execute(connection, """
            UPDATE versions SET state = 'ObservedClean'
            WHERE state = 'KnownGood' AND (
                SELECT a.actor FROM audit_log a
                WHERE a.model = versions.model AND a.version = versions.version AND a.action IN ('promote', 'register-known-good')
                ORDER BY a.id DESC LIMIT 1) = 'policy';
            """);
        return demoted.Count == 0
            ? []
            : [$"trust separated from a clean run: {demoted.Count} version(s) the policy had promoted are now ObservedClean, " +
                $"not trusted and not rollback targets, until an admin promotes them: {string.Join(", ", demoted)}"];
    }

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
}
