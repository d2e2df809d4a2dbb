using Microsoft.Data.Sqlite;
using Monitor.Core.Schema;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.AuditLog;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Models;

/// <summary>The models, versions (with their counters), digest mismatches and audit log in SQLite.</summary>
internal sealed class SqliteModelStore(SqliteDatabase database) : IModelStore
{
    public string Location => database.FilePath;

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
        command.CommandText = "SELECT name, schema_json, description, registered_at, baseline_id, require_signed, artifact_path_template FROM models ORDER BY name;";
        using SqliteDataReader reader = command.ExecuteReader();
        var models = new List<StoredModel>();
        while (reader.Read())
        {
            models.Add(new StoredModel(reader.GetString(0), StoreJson.Read<ModelSchema>(reader.GetString(1)),
                reader.GetString(2), Parse(reader.GetString(3)), reader.GetInt64(4), reader.GetInt64(5) != 0,
                reader.GetString(6)));
        }

        return models;
    }

    public void SaveSigning(string model, IReadOnlyList<SigningKey> pin, IReadOnlyList<string> unpin, bool requireSigned)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        using SqliteCommand command = connection.CreateCommand();
        command.Parameters.AddWithValue("$m", model);
        command.CommandText = "UPDATE models SET require_signed = $r WHERE name = $m;";
        command.Parameters.AddWithValue("$r", requireSigned ? 1 : 0);
        command.ExecuteNonQuery();
        command.CommandText = "DELETE FROM model_keys WHERE model = $m AND key_id = $k;";
        SqliteParameter key = command.Parameters.AddWithValue("$k", "");
        foreach (string id in unpin)
        {
            key.Value = id;
            command.ExecuteNonQuery();
        }

        command.CommandText = """
            INSERT INTO model_keys (model, key_id, algorithm, public_key_pem, pinned_at) VALUES ($m, $k, $a, $p, $t)
            ON CONFLICT (model, key_id) DO NOTHING;
            """;
        SqliteParameter algorithm = command.Parameters.AddWithValue("$a", "");
        SqliteParameter pem = command.Parameters.AddWithValue("$p", "");
        SqliteParameter at = command.Parameters.AddWithValue("$t", "");
        foreach (SigningKey pinned in pin)
        {
            key.Value = pinned.KeyId;
            algorithm.Value = pinned.Algorithm;
            pem.Value = pinned.Pem;
            at.Value = Format(pinned.PinnedAt);
            command.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    public void SaveArtifactPathTemplate(string model, string template)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "UPDATE models SET artifact_path_template = $p WHERE name = $m;";
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$p", template);
        command.ExecuteNonQuery();
    }

    public Dictionary<string, List<SigningKey>> LoadKeys()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT model, key_id, algorithm, public_key_pem, pinned_at FROM model_keys ORDER BY model, rowid;";
        using SqliteDataReader reader = command.ExecuteReader();
        var keys = new Dictionary<string, List<SigningKey>>(StringComparer.Ordinal);
        while (reader.Read())
        {
            if (!keys.TryGetValue(reader.GetString(0), out List<SigningKey>? list))
            {
                list = [];
                keys[reader.GetString(0)] = list;
            }

            list.Add(new SigningKey(reader.GetString(1), reader.GetString(2), reader.GetString(3), Parse(reader.GetString(4))));
        }

        return keys;
    }

    public void InsertVersion(StoredVersion version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO versions (model, version, artifact_sha256, source, state, registered_at, signed_by, artifact_path, unsafe_artifact)
            VALUES ($m, $v, $a, $s, $st, $t, $sb, $p, $u);
            """;
        command.Parameters.AddWithValue("$u", version.UnsafeArtifact);
        command.Parameters.AddWithValue("$sb", version.SignedBy);
        command.Parameters.AddWithValue("$p", version.ArtifactPath);
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
                   COALESCE((SELECT SUM(records) FROM digest_mismatches d WHERE d.model = v.model AND d.version = v.version), 0),
                   v.lifecycle_json, v.last_served_at, v.signed_by, v.artifact_path, v.unsafe_artifact
            FROM versions v ORDER BY v.model, v.registered_at, v.version;
            """;
        using SqliteDataReader reader = command.ExecuteReader();
        var versions = new List<StoredVersion>();
        while (reader.Read())
        {
            versions.Add(new StoredVersion(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), Parse(reader.GetString(5)), reader.GetInt64(6), reader.GetInt64(8), reader.GetInt64(7),
                reader.IsDBNull(9) ? null : StoreJson.Read<Core.Versions.LifecycleCounters>(reader.GetString(9)),
                reader.IsDBNull(10) ? null : Parse(reader.GetString(10)), reader.GetString(11), reader.GetString(12), reader.GetString(13)));
        }

        return versions;
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

    /// <summary>When an admin last made each version of a model known-good (from the audit log; the policy's promotions are not trust).</summary>
    public Dictionary<string, DateTimeOffset> LoadPromotions(string model)
    {
        var promotions = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var entry in LoadAudit(model))
        {
            // A verified signature plus a clean run is trust the policy may grant ("signed-known-good").
            if (entry.Action is "promote" or "register-known-good" && entry.Actor != "policy" || entry.Action == SignedKnownGood)
            {
                promotions[entry.Version] = entry.At;
            }
        }

        return promotions;
    }

    /// <summary>
    /// Records, durably, that a batch arrived with an artifact digest other than the registered one: one row per digest,
    /// at most <see cref="IModelStore.MaxDigestRows"/> per version, after which further digests are counted in the row
    /// <see cref="IModelStore.OtherDigests"/>. Returns whether the digest was new for the version.
    /// </summary>
    public bool RecordDigestMismatch(string model, string version, string artifactSha256, long records, DateTimeOffset at)
    {
        using SqliteConnection connection = Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT EXISTS (SELECT 1 FROM digest_mismatches WHERE model = $m AND version = $v AND artifact_sha256 = $a),
                   (SELECT COUNT(*) FROM digest_mismatches WHERE model = $m AND version = $v AND artifact_sha256 <> $o);
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$a", artifactSha256);
        command.Parameters.AddWithValue("$o", IModelStore.OtherDigests);
        bool known;
        long rows;
        using (SqliteDataReader reader = command.ExecuteReader())
        {
            reader.Read();
            known = reader.GetInt64(0) == 1;
            rows = reader.GetInt64(1);
        }

        string stored = known || rows < IModelStore.MaxDigestRows ? artifactSha256 : IModelStore.OtherDigests;
        command.CommandText = """
            INSERT INTO digest_mismatches (model, version, artifact_sha256, first_seen, last_seen, batches, records)
            VALUES ($m, $v, $s, $t, $t, 1, $r)
            ON CONFLICT (model, version, artifact_sha256)
            DO UPDATE SET last_seen = $t, batches = batches + 1, records = records + $r;
            """;
        command.Parameters.AddWithValue("$s", stored);
        command.Parameters.AddWithValue("$t", Format(at));
        command.Parameters.AddWithValue("$r", records);
        command.ExecuteNonQuery();
        transaction.Commit();
        return !known;
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

    /// <summary>The audit action of a signed version the policy made known-good after its clean run.</summary>
    public const string SignedKnownGood = "signed-known-good";

    private SqliteConnection Open() => database.Open();
}
