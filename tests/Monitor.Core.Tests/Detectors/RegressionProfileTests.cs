using System.Text.Json;
using Monitor.Core.Detectors;
using Monitor.Core.Statistics;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The regression profile's residual bins and the pinned test's baseline mass against numpy (Fixtures/regression_mass.json,
/// made by Fixtures/make_regression_fixture.py): heavy-tailed residuals cut at their quantiles, bins found for points, and the
/// distribution function interpolated through the edges, integrated over intervals.
/// </summary>
public sealed class RegressionProfileTests
{
    [Fact]
    public void Bins_and_interval_masses_match_numpy()
    {
        using JsonDocument fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "regression_mass.json")));
        Assert.Equal(RegressionProfile.Bins, fixture.RootElement.GetProperty("bins").GetInt32());
        int checkedIntervals = 0;
        foreach (JsonElement c in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            double[] sorted = [.. c.GetProperty("residuals").EnumerateArray().Select(v => v.GetDouble()).Order()];
            double[] edges = [.. Enumerable.Range(1, RegressionProfile.Bins - 1).Select(j => Quantiles.OfSorted(sorted, j / (double)RegressionProfile.Bins))];
            double[] expectedEdges = [.. c.GetProperty("edges").EnumerateArray().Select(v => v.GetDouble())];
            for (int j = 0; j < edges.Length; j++)
            {
                Assert.Equal(expectedEdges[j], edges[j], 1e-9 * Math.Max(1, Math.Abs(expectedEdges[j])));
            }

            RegressionProfile profile = OneStratum(edges, sorted[0], sorted[^1]);
            double[] points = [.. c.GetProperty("points").EnumerateArray().Select(v => v.GetDouble())];
            int[] bins = [.. c.GetProperty("bins").EnumerateArray().Select(v => v.GetInt32())];
            for (int i = 0; i < points.Length; i++)
            {
                Assert.Equal(bins[i], profile.BinOf(0, points[i]));
            }

            foreach (JsonElement interval in c.GetProperty("intervals").EnumerateArray())
            {
                double mass = profile.Mass(0, interval.GetProperty("low").GetDouble(), interval.GetProperty("high").GetDouble());
                Assert.Equal(interval.GetProperty("mass").GetDouble(), mass, 1e-9);
                checkedIntervals++;
            }
        }

        Assert.Equal(60, checkedIntervals);
    }

    [Fact]
    public void Overlaps_of_every_bin_with_an_interval_add_up_to_its_mass_times_the_bin_count()
    {
        double[] sorted = [.. Enumerable.Range(0, 500).Select(i => Math.Pow(i - 250, 3) / 1e4)];
        double[] edges = [.. Enumerable.Range(1, RegressionProfile.Bins - 1).Select(j => Quantiles.OfSorted(sorted, j / (double)RegressionProfile.Bins))];
        RegressionProfile profile = OneStratum(edges, sorted[0], sorted[^1]);
        foreach ((double low, double high) in new[] { (-3.0, 4.0), (-1000.0, 1000.0), (0.5, 0.6), (100.0, 2000.0) })
        {
            double overlap = Enumerable.Range(0, RegressionProfile.Bins).Sum(b => profile.Overlap(0, b, low, high));
            Assert.Equal(profile.Mass(0, low, high) * RegressionProfile.Bins, overlap, 1e-9);
        }
    }

    private static RegressionProfile OneStratum(double[] edges, double min, double max) => new()
    {
        Surrogate = new SurrogateModel { Classes = 1, NumericEdges = [], NumericOffsets = [], CategoricalOffsets = [], Slots = 1, Weights = [[0f]], Bias = [0f] },
        StratumEdges = [],
        Strata = 1,
        StratumRecords = [1000],
        ResidualEdges = edges,
        ResidualMin = [min],
        ResidualMax = [max],
        PinWidth = [1],
        LowRates = [0.02],
        HighRates = [0.02],
        Values = new ValueKeyTables { FineEdges = [] },
        Keys = [],
        Records = 1000,
    };
}
