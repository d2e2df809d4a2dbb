using System.IO.Compression;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Monitor.Core.Detectors;
using Monitor.Core.Windows;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Windows;

/// <summary>Closed windows (as JSON, a bounded number per version), version counters and findings in SQLite.</summary>
internal sealed class SqliteWindowStore(SqliteDatabase database) : IWindowStore
{
    /// <summary>Stores a closed window, the version's counters, and drops windows beyond the retention.</summary>
    public void SaveWindow(WindowWrite write) => SaveWindows([write]);

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

            SaveCounters(connection, write.Model, write.Version, write.Counters);
        }

        // One checkpoint per version: the latest in this batch.
        foreach (WindowWrite write in windows.Where(w => w.Detector is not null).GroupBy(w => (w.Model, w.Version)).Select(g => g.Last()))
        {
            SaveDetectorState(connection, write.Model, write.Version, write.Detector!);
        }

        transaction.Commit();
    }

    public void SaveCounters(string model, string version, VersionCounters counters)
    {
        using SqliteConnection connection = Open();
        SaveCounters(connection, model, version, counters);
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

    public void SaveDetectorState(string model, string version, DetectorState state)
    {
        using SqliteConnection connection = Open();
        SaveDetectorState(connection, model, version, state);
    }

    public DetectorState? LoadDetectorState(string model, string version)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT state FROM detector_state WHERE model = $m AND version = $v;";
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        if (command.ExecuteScalar() is not byte[] compressed)
        {
            return null;
        }

        using var input = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        return JsonSerializer.Deserialize<DetectorState>(input, StoreJson.Options);
    }

    /// <summary>Replaces a version's detector checkpoint: JSON, gzip-compressed (the candidate table is most of it).</summary>
    private static void SaveDetectorState(SqliteConnection connection, string model, string version, DetectorState state)
    {
        using var buffer = new MemoryStream();
        using (var output = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            JsonSerializer.Serialize(output, state, StoreJson.Options);
        }

        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT OR REPLACE INTO detector_state (model, version, baseline_id, records, state) VALUES ($m, $v, $b, $r, $s);
            """;
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.Parameters.AddWithValue("$b", state.BaselineId);
        command.Parameters.AddWithValue("$r", state.Records);
        command.Parameters.AddWithValue("$s", buffer.ToArray());
        command.ExecuteNonQuery();
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

    private static void SaveCounters(SqliteConnection connection, string model, string version, VersionCounters counters)
    {
        using SqliteCommand command = connection.CreateCommand();
        // Counters only grow: a window written late by the background writer never takes them back, nor replaces the
        // lifecycle's counters of a later window (every expression reads the row as it was before the update).
        command.CommandText = """
            UPDATE versions SET records_accepted = MAX(records_accepted, $r), windows_closed = MAX(windows_closed, $w),
                lifecycle_json = CASE WHEN $w >= windows_closed THEN $l ELSE lifecycle_json END,
                last_served_at = CASE WHEN last_served_at IS NULL OR $s > last_served_at THEN $s ELSE last_served_at END
            WHERE model = $m AND version = $v;
            """;
        command.Parameters.AddWithValue("$r", counters.RecordsAccepted);
        command.Parameters.AddWithValue("$w", counters.WindowsClosed);
        command.Parameters.AddWithValue("$l", StoreJson.Write(counters.Lifecycle));
        command.Parameters.AddWithValue("$s", counters.LastServedAt is { } served ? Format(served) : DBNull.Value);
        command.Parameters.AddWithValue("$m", model);
        command.Parameters.AddWithValue("$v", version);
        command.ExecuteNonQuery();
    }

    private SqliteConnection Open() => database.Open();
}
