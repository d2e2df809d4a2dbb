using System.Text.Json;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Statistics;

/// <summary>
/// The drift statistics against numpy and scipy on committed fixtures (Fixtures/statistics.json, made by
/// Fixtures/make_statistics_fixtures.py). Tolerance: 1e-9 relative (1e-12 absolute) unless stated.
/// </summary>
public sealed class StatisticsOracleTests
{
    private static readonly JsonElement Fixture = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "statistics.json"))).RootElement;

    public static TheoryData<string> NumericCases() => [.. Fixture.GetProperty("numeric").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    public static TheoryData<string> CategoricalCases() => [.. Fixture.GetProperty("categorical").EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];

    [Theory]
    [MemberData(nameof(NumericCases))]
    public void Bin_edges_and_counts_match_numpy_exactly(string name)
    {
        JsonElement c = Case("numeric", name);
        double[] baseline = Doubles(c, "baseline");
        double[] sorted = [.. baseline.Order()];
        float[] edges = Quantiles.BinEdges(sorted, Fixture.GetProperty("bins").GetInt32());

        Assert.Equal(Doubles(c, "edges"), edges.Select(e => (double)e));
        Assert.Equal(Longs(c, "baseline_counts"), Counts(edges, baseline));
        Assert.Equal(Longs(c, "window_counts"), Counts(edges, Doubles(c, "window")));
    }

    [Theory]
    [MemberData(nameof(NumericCases))]
    public void Numeric_divergences_match_scipy(string name)
    {
        JsonElement c = Case("numeric", name);
        double[] p = Normalise(Longs(c, "baseline_counts"));
        double[] q = Normalise(Longs(c, "window_counts"));
        long n = Longs(c, "baseline_counts").Sum();
        long m = Longs(c, "window_counts").Sum();

        Close(c, "psi", Divergences.Psi(p, q));
        Close(c, "jensen_shannon", Divergences.JensenShannon(p, q));
        Close(c, "hellinger", Divergences.Hellinger(p, q));
        Close(c, "ks", Divergences.KolmogorovSmirnov(p, q));
        Close(c, "ks_pvalue", Divergences.KolmogorovSmirnovPValue(Divergences.KolmogorovSmirnov(p, q), n, m));
        double scale = c.GetProperty("baseline_std").GetDouble();
        Close(c, "wasserstein", Divergences.Wasserstein1(Doubles(c, "baseline_positions"), p, Doubles(c, "window_positions"), q) / scale);
    }

    /// <summary>The same statistics through the window path: profile, prepared batch, accumulator, evaluator.</summary>
    [Theory]
    [MemberData(nameof(NumericCases))]
    public void Window_evaluation_matches_scipy(string name)
    {
        JsonElement c = Case("numeric", name);
        double[] baseline = Doubles(c, "baseline");
        double[] window = Doubles(c, "window");
        ModelSchema schema = SchemaTraffic.Schema(numeric: 1, categorical: 0, output: OutputKind.Regression);
        var channel = ChannelLayout.For(schema).Numeric[0];
        float[] edges = Quantiles.BinEdges([.. baseline.Order()], 20);
        var profile = new BaselineProfile
        {
            Model = "m",
            Schema = schema,
            CreatedAt = DateTimeOffset.UnixEpoch,
            Source = "reference",
            WindowRecords = window.Length,
            FalseAlarmRate = 0.01,
            CalibratedFalseAlarmRate = 0.01,
            ThresholdQuantile = 0.99,
            BootstrapWindows = 1000,
            RecordsReceived = baseline.Length,
            RecordsProfiled = baseline.Length,
            RecordsCalibration = 0,
            Numeric =
            [
                new NumericProfile
                {
                    Channel = channel,
                    Edges = edges,
                    Probabilities = Normalise(Longs(c, "baseline_counts")),
                    Count = baseline.Length,
                    Mean = c.GetProperty("baseline_mean").GetDouble(),
                    Std = c.GetProperty("baseline_std").GetDouble(),
                    MissingRate = 0,
                    Thresholds = new double[channel.Statistics.Length],
                },
                Constant(ChannelLayout.For(schema).Numeric[1]),
            ],
            Categorical = [],
        };
        var compiled = new CompiledBaseline(profile);
        var batch = new RecordBatch
        {
            Count = window.Length,
            Numeric = window.Select(v => (float)v).ToArray(),
            Scores = new float[window.Length],
            Categorical = [],
            Text = [],
        };
        var accumulator = new WindowAccumulator(compiled);
        accumulator.Add(new BatchPreparer(compiled).Prepare(batch), 0, batch.Count);
        var values = new double[compiled.SlotCount];
        var pValues = new double[compiled.SlotCount];
        new WindowEvaluator(compiled).Evaluate(accumulator, values, pValues);

        Statistic[] statistics = channel.Statistics;
        foreach (string key in new[] { "psi", "jensen_shannon", "hellinger", "ks", "wasserstein", "mean_shift", "std_shift" })
        {
            int s = Array.FindIndex(statistics, st => StatisticNames.Of(st) == key);
            Close(c, key, values[s], relative: key is "mean_shift" or "std_shift" ? 1e-6 : 1e-9);
        }

        Close(c, "ks_pvalue", pValues[Array.IndexOf(statistics, Statistic.KolmogorovSmirnov)]);
        Assert.Equal(0.0, values[Array.IndexOf(statistics, Statistic.MissingRate)]);
    }

    [Theory]
    [MemberData(nameof(CategoricalCases))]
    public void Categorical_statistics_match_scipy(string name)
    {
        JsonElement c = Case("categorical", name);
        double[] p = Doubles(c, "baseline_probabilities");
        long[] counts = Longs(c, "window_counts");
        double[] q = Normalise(counts);

        (double statistic, int dof, double pValue) = Divergences.ChiSquared(p, counts);
        Close(c, "chi_squared", statistic);
        Close(c, "chi_squared_pvalue", pValue, relative: 1e-8);
        Assert.Equal(c.GetProperty("chi_squared_dof").GetInt32(), dof);
        Close(c, "psi", Divergences.Psi(p, q));
        Close(c, "jensen_shannon", Divergences.JensenShannon(p, q));
        Close(c, "l_infinity", Divergences.LInfinity(p, q));
    }

    [Fact]
    public void Kolmogorov_survival_matches_scipy_kstwobign()
    {
        foreach (JsonElement point in Fixture.GetProperty("kolmogorov").EnumerateArray())
        {
            double x = point.GetProperty("x").GetDouble();
            double expected = point.GetProperty("sf").GetDouble();
            Assert.True(Math.Abs(Kolmogorov.Survival(x) - expected) <= 1e-12 + 1e-9 * expected,
                $"x = {x}: {Kolmogorov.Survival(x)} vs scipy {expected}");
        }
    }

    [Fact]
    public void Chi_squared_tail_matches_scipy()
    {
        foreach (JsonElement point in Fixture.GetProperty("chi_squared_tail").EnumerateArray())
        {
            double s = point.GetProperty("statistic").GetDouble();
            int k = point.GetProperty("dof").GetInt32();
            double expected = point.GetProperty("sf").GetDouble();
            double actual = Divergences.ChiSquaredSurvival(s, k);
            Assert.True(Math.Abs(actual - expected) <= 1e-9 * expected + 1e-300, $"chi2({s}, {k}): {actual} vs scipy {expected}");
        }
    }

    [Fact]
    public void Quantiles_match_numpy_linear()
    {
        JsonElement q = Fixture.GetProperty("quantiles");
        double[] sorted = [.. Doubles(q, "values").Order()];
        double[] probabilities = Doubles(q, "probabilities");
        double[] expected = Doubles(q, "expected");
        for (int i = 0; i < probabilities.Length; i++)
        {
            Assert.Equal(expected[i], Quantiles.OfSorted(sorted, probabilities[i]), 1e-12);
        }
    }

    [Fact]
    public void Merged_moments_match_numpy()
    {
        JsonElement m = Fixture.GetProperty("moments");
        var total = new RunningMoments();
        foreach (JsonElement chunk in m.GetProperty("chunks").EnumerateArray())
        {
            var part = new RunningMoments();
            foreach (JsonElement v in chunk.EnumerateArray())
            {
                part.Add(v.GetDouble());
            }

            total.Merge(part);
        }

        Assert.Equal(m.GetProperty("mean").GetDouble(), total.Mean, 1e-10);
        double variance = m.GetProperty("variance").GetDouble();
        Assert.True(Math.Abs(total.Variance - variance) <= 1e-10 * variance, $"{total.Variance} vs numpy {variance}");
    }

    private static NumericProfile Constant(NumericChannel channel) => new()
    {
        Channel = channel,
        Edges = [0f, MathF.BitIncrement(0f)],
        Probabilities = [0, 1, 0],
        Count = 1,
        Mean = 0,
        Std = 0,
        MissingRate = 0,
        Thresholds = new double[channel.Statistics.Length],
    };

    private static JsonElement Case(string kind, string name) =>
        Fixture.GetProperty(kind).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static double[] Doubles(JsonElement element, string property) =>
        [.. element.GetProperty(property).EnumerateArray().Select(v => v.GetDouble())];

    private static long[] Longs(JsonElement element, string property) =>
        [.. element.GetProperty(property).EnumerateArray().Select(v => v.GetInt64())];

    private static double[] Normalise(long[] counts)
    {
        double total = counts.Sum();
        return [.. counts.Select(c => c / total)];
    }

    private static long[] Counts(float[] edges, double[] values)
    {
        var counts = new long[edges.Length + 1];
        foreach (double v in values)
        {
            counts[Quantiles.BinOf(edges, (float)v)]++;
        }

        return counts;
    }

    private static void Close(JsonElement c, string key, double actual, double relative = 1e-9)
    {
        double expected = c.GetProperty(key).GetDouble();
        Assert.True(Math.Abs(actual - expected) <= 1e-12 + relative * Math.Abs(expected),
            $"{c.GetProperty("name").GetString()} {key}: {actual:R} vs scipy {expected:R}");
    }
}
