using System.Text.Json;
using Monitor.Core.Statistics;

namespace Monitor.Core.Tests.Statistics;

/// <summary>Wilson intervals against scipy (Fixtures/wilson.json, made by make_wilson_fixture.py beside it).</summary>
public sealed class ProportionsTests
{
    [Fact]
    public void Wilson_intervals_match_scipy()
    {
        using JsonDocument fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "wilson.json")));
        int checkedCases = 0;
        foreach (JsonElement c in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            (double low, double high) = Proportions.Wilson(c.GetProperty("k").GetInt64(), c.GetProperty("n").GetInt64());
            Assert.Equal(c.GetProperty("low").GetDouble(), low, 1e-12);
            Assert.Equal(c.GetProperty("high").GetDouble(), high, 1e-12);
            checkedCases++;
        }

        Assert.Equal(10, checkedCases);
        Assert.Equal((0.0, 1.0), Proportions.Wilson(0, 0));
    }
}
