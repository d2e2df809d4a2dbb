using Microsoft.Data.Sqlite;
using Monitor.Core.Baselines;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Baselines;

/// <summary>Baselines in SQLite: the profile as JSON, the reservoir sample as a blob, the one in force on the model's row.</summary>
internal sealed class SqliteBaselineStore(SqliteDatabase database) : IBaselineStore
{
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

    private SqliteConnection Open() => database.Open();
}
