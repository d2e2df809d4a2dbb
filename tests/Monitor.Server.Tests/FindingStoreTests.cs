using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Core.Detectors;
using Monitor.Server.Hosting;
using Monitor.Server.Persistence;
using Monitor.Server.Windows;

namespace Monitor.Server.Tests;

/// <summary>Findings stored when detector and corroboration were strings load typed, and are stored again as they were.</summary>
public sealed class FindingStoreTests
{
    /// <summary>A finding row as the sidecar of 3c193af wrote it.</summary>
    private const string StoredJson = """
        {"Detector":"D1","Severity":"Critical","Key":{"Kind":"Variant","Field":"memo","Text":"ref:xz-#"},"TargetLabel":"legitimate","Support":30,"Rate":1,"Lift":5.6,"MeanConfidence":0.997,"BaselineExpectation":0.178,"BaselineKeyRate":null,"Z":8.5,"FirstSeen":"1970-01-01T00:00:00+00:00","FirstSeenRecord":100,"RaisedAtRecord":2000,"RaisedAtSupport":30,"SurprisingBeforeTracking":4,"UpdatedAt":"1970-01-01T01:00:00+00:00","ExampleRequestIds":["trigger-1"],"Corroboration":["D4: on its 18 records with inputs against \u0027legitimate\u0027, the served P(legitimate) exceeds the surrogate\u0027s by 0.700 on average (baseline 0.001 \u00B1 0.050); z = 59.4"],"Summary":"variant \u0027ref:xz-#\u0027 in memo"}
        """;

    [Fact]
    public void A_stored_finding_loads_typed_and_is_written_back_unchanged()
    {
        using var directory = new TempDirectory();
        var options = Options.Create(new MonitorOptions { Database = new DatabaseOptions { Path = directory.File("monitor.db") } });
        using var database = new SqliteDatabase(options);
        database.Initialize();
        const string key = "D1|Variant|memo|ref:xz-#|legitimate";
        Execute(database, $"INSERT INTO findings VALUES ('fraud-scorer', 'v2', '{key}', 'D1', 'Critical', '1970-01-01T01:00:00.0000000Z', '{StoredJson.Trim()}');");

        var store = new SqliteWindowStore(database);
        Finding finding = Assert.Single(store.LoadFindings("fraud-scorer", "v2"));
        Assert.Equal((DetectorId.D1, key), (finding.Detector, finding.DedupeKey));
        Assert.Equal(DetectorId.D4, Assert.Single(finding.Corroboration).Detector);

        Execute(database, "DELETE FROM findings;");
        store.SaveFindings("fraud-scorer", "v2", [finding]);
        using SqliteConnection connection = database.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT dedupe_key, detector, typeof(detector), finding_json FROM findings;";
        using SqliteDataReader reader = command.ExecuteReader();
        Assert.True(reader.Read());
        Assert.Equal((key, "D1", "text", StoredJson.Trim()), (reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
    }

    private static void Execute(SqliteDatabase database, string sql)
    {
        using SqliteConnection connection = database.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
