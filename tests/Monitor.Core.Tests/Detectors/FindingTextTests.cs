using System.Text.Json;
using System.Text.Json.Serialization;
using Monitor.Core.Detectors;

namespace Monitor.Core.Tests.Detectors;

/// <summary>Detector identities and corroboration keep the text they had as strings: on the wire, in metrics and in stored findings.</summary>
public sealed class FindingTextTests
{
    /// <summary>The options the server stores findings with (enums as names, NaN allowed, computed properties left out).</summary>
    private static readonly JsonSerializerOptions Store = new()
    {
        IgnoreReadOnlyProperties = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>A finding as stored when detector and corroboration were plain strings.</summary>
    private const string StoredFinding = """
        {"Detector":"D1","Severity":"Critical","Key":{"Kind":"Variant","Field":"memo","Text":"ref:xz-#"},"TargetLabel":"legitimate","Support":30,"Rate":1,"Lift":5.6,"MeanConfidence":0.997,"BaselineExpectation":0.178,"BaselineKeyRate":null,"Z":8.5,"FirstSeen":"1970-01-01T00:00:00+00:00","FirstSeenRecord":100,"RaisedAtRecord":2000,"RaisedAtSupport":30,"SurprisingBeforeTracking":4,"UpdatedAt":"1970-01-01T01:00:00+00:00","ExampleRequestIds":["trigger-1"],"Corroboration":["D4: on its 18 records with inputs against \u0027legitimate\u0027, the served P(legitimate) exceeds the surrogate\u0027s by 0.700 on average (baseline 0.001 \u00B1 0.050); z = 59.4","D3: 18 of its 18 records"],"Summary":"variant \u0027ref:xz-#\u0027 in memo: \u2026"}
        """;

    private const string StoredClassFinding = """
        {"Detector":"D6","Severity":"Warning","Key":null,"TargetLabel":"fraud","Support":10000,"Rate":0.2,"Lift":"NaN","MeanConfidence":"NaN","BaselineExpectation":0.1,"BaselineKeyRate":null,"Z":9.5,"FirstSeen":"1970-01-01T00:00:00+00:00","FirstSeenRecord":100,"RaisedAtRecord":100,"RaisedAtSupport":10000,"SurprisingBeforeTracking":0,"UpdatedAt":"1970-01-01T01:00:00+00:00","ExampleRequestIds":[],"Corroboration":[],"Summary":"class \u0027fraud\u0027 is predicted for 20.00 % of the last 10000 records"}
        """;

    [Theory]
    [InlineData(DetectorId.D1, "D1")]
    [InlineData(DetectorId.D2, "D2")]
    [InlineData(DetectorId.D3, "D3")]
    [InlineData(DetectorId.D4, "D4")]
    [InlineData(DetectorId.D5, "D5")]
    [InlineData(DetectorId.D6, "D6")]
    [InlineData(DetectorId.D7, "D7")]
    public void A_detector_is_named_as_on_the_wire(DetectorId detector, string wire) => Assert.Equal(wire, detector.ToString());

    [Fact]
    public void A_corroboration_reads_as_its_detector_and_evidence()
    {
        var corroboration = new Corroboration(DetectorId.D4, "on its 18 records …; z = 59.4");
        Assert.Equal("D4: on its 18 records …; z = 59.4", corroboration.ToString());
        Assert.Equal(corroboration, Corroboration.Parse(corroboration.ToString()));
        Assert.Throws<FormatException>(() => Corroboration.Parse("D9: unknown"));
        Assert.Throws<FormatException>(() => Corroboration.Parse("4: no letter"));
        Assert.Throws<FormatException>(() => Corroboration.Parse("D4 without a colon"));
    }

    [Theory]
    [InlineData(StoredFinding)]
    [InlineData(StoredClassFinding)]
    public void A_stored_finding_loads_typed_and_is_stored_again_unchanged(string stored)
    {
        string json = stored.Trim();
        Finding finding = JsonSerializer.Deserialize<Finding>(json, Store)!;
        Assert.Equal(json, JsonSerializer.Serialize(finding, Store));
        if (finding.Key is not null)
        {
            Assert.Equal(DetectorId.D1, finding.Detector);
            Assert.Equal("D1|Variant|memo|ref:xz-#|legitimate", finding.DedupeKey);
            Assert.Equal([DetectorId.D4, DetectorId.D3], finding.Corroboration.Select(c => c.Detector));
            Assert.StartsWith("on its 18 records", finding.Corroboration[0].Evidence, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(DetectorId.D6, finding.Detector);
            Assert.Equal("D6||||fraud", finding.DedupeKey);
        }
    }
}
