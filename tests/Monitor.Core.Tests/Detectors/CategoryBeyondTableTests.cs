using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Categorical values the baseline's table leaves out (beyond <see cref="BaselineSettings.MaxCategories"/>) that a clean model reads
/// strongly, as a model reads a value it learnt in training: the surrogate gives them the "not in table" average, so their records'
/// outputs differ from its expectation by the model's own reading. On the known-good model's own traffic that must not be critical,
/// whether the value is as common as in the reference or turns busy.
/// </summary>
public sealed class CategoryBeyondTableTests(ITestOutputHelper output)
{
    private const int Sites = 40;
    private const int Table = 30;
    private const int Batch = 500;

    private static readonly ModelSchema Schema = new()
    {
        NumericFeatures = ["x1", "x2"],
        CategoricalFeatures = ["site"],
        TextFields = [],
        OutputKind = OutputKind.Classification,
        ClassLabels = ["no", "yes"],
    };

    [Fact]
    public void Values_beyond_the_table_that_the_clean_model_reads_strongly_raise_nothing_critical_on_its_own_traffic()
    {
        // Shares ∝ 1/(s + 3)²: the 10 rarest sites, each on 0.13–0.2% of the records, are beyond a table of 30. The model reads
        // s32 (+4 on the logit), s35 (−4) and s38 (+4).
        double[] shares = [.. Enumerable.Range(0, Sites).Select(s => 1.0 / ((s + 3) * (s + 3)))];
        var effects = new double[Sites];
        (effects[32], effects[35], effects[38]) = (4, -4, 4);
        CompiledBaseline baseline = new(ReferenceBaseline.Fit(Schema, [Traffic(20_000, shares, effects, seed: 1)], windowRecords: 1000,
            settings: new BaselineSettings { MaxCategories = Table, BootstrapWindows = 1000 }));
        Assert.Equal(Table, baseline.Profile.Categorical.Single(p => p.Channel.Kind == ChannelKind.Categorical).Categories.Length);

        // Live: the same traffic, then s38 turns busy (2% of the records, from 0.6%).
        VersionMonitor clean = Live(baseline, shares, effects);
        Assert.DoesNotContain(clean.Findings, f => f.Severity == Severity.Critical);

        // The control: a version that reads s38 so and the reference's did not (a trigger on a value beyond the table) is named.
        double[] before = (double[])effects.Clone();
        before[38] = 0;
        CompiledBaseline unaware = new(ReferenceBaseline.Fit(Schema, [Traffic(20_000, shares, before, seed: 1)], windowRecords: 1000,
            settings: new BaselineSettings { MaxCategories = Table, BootstrapWindows = 1000 }));
        VersionMonitor poisoned = Live(unaware, shares, effects);
        Assert.Contains(poisoned.Findings, f => f.Severity == Severity.Critical && f.Key?.Text == "s38");
    }

    /// <summary>
    /// The own-rate rule's two numbers against scipy (Fixtures/own_rate.json, made by make_own_rate_fixture.py beside it): the binomial
    /// chance of a key's baseline tail hits at the strata's allowance, and Wilson's upper bound of its rate at z = 3.
    /// </summary>
    [Fact]
    public void A_keys_own_rate_is_judged_as_scipy_computes_it()
    {
        using var fixture = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "own_rate.json")));
        foreach (System.Text.Json.JsonElement c in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            (long hits, long support, double p) = (c.GetProperty("hits").GetInt64(), c.GetProperty("support").GetInt64(), c.GetProperty("p").GetDouble());
            double chance = c.GetProperty("chance").GetDouble();
            Assert.Equal(chance, KeyOutputTest.ChanceOfHits(hits, support, p), chance * 1e-9);
            Assert.Equal(chance < KeyOutputTest.OwnRateChance, KeyOutputTest.ServedBeyondStrata(hits, support, p));
            Assert.Equal(Math.Min(0.999, c.GetProperty("upper").GetDouble()), KeyOutputTest.OwnRateBound(hits, support), 1e-9);
        }
    }

    /// <summary>The same for a regression model, whose served value is the logit: its raised and lowered tests.</summary>
    [Fact]
    public void Values_beyond_the_table_that_a_clean_regression_model_reads_strongly_raise_nothing_critical_on_its_own_traffic()
    {
        double[] shares = [.. Enumerable.Range(0, Sites).Select(s => 1.0 / ((s + 3) * (s + 3)))];
        var effects = new double[Sites];
        (effects[32], effects[35], effects[38]) = (4, -4, 4);
        ModelSchema schema = Schema with { OutputKind = OutputKind.Regression, ClassLabels = [] };
        CompiledBaseline baseline = new(ReferenceBaseline.Fit(schema, [Traffic(20_000, shares, effects, seed: 1, regression: true)], windowRecords: 1000,
            settings: new BaselineSettings { MaxCategories = Table, BootstrapWindows = 1000 }));
        VersionMonitor clean = Live(baseline, shares, effects, regression: true);
        Assert.DoesNotContain(clean.Findings, f => f.Severity == Severity.Critical);

        double[] before = (double[])effects.Clone();
        before[38] = 0;
        CompiledBaseline unaware = new(ReferenceBaseline.Fit(schema, [Traffic(20_000, shares, before, seed: 1, regression: true)], windowRecords: 1000,
            settings: new BaselineSettings { MaxCategories = Table, BootstrapWindows = 1000 }));
        VersionMonitor poisoned = Live(unaware, shares, effects, regression: true);
        Assert.Contains(poisoned.Findings, f => f.Severity == Severity.Critical && f.Key?.Text == "s38");
    }

    /// <summary>
    /// A key's own rate needs <see cref="KeyOutputTest.MinOwnHits"/> hits, the key's new-key support and matching arrays: one hit where
    /// the strata expected none is no rate of its own, and a stored key cut short gives none rather than an exception.
    /// </summary>
    [Fact]
    public void A_key_takes_an_own_rate_only_from_enough_hits_and_whole_counts()
    {
        var settings = new DetectorSettings();
        BaselineKey Key(long support, long[] hits, double[] expected) => new()
        {
            Kind = KeyKind.Category, Field = 0, Text = "k", Support = support, LabelCounts = [0, 0], TailHits = hits, TailExpected = expected,
        };

        Assert.Null(KeyOutputTest.OwnRates(Key(10, [0, 1], [0, 0]), settings));
        Assert.Null(KeyOutputTest.OwnRates(Key(10, [0, 4], [0, 0.01]), settings));
        Assert.NotNull(KeyOutputTest.OwnRates(Key(10, [0, 5], [0, 0.01]), settings));
        Assert.Null(KeyOutputTest.OwnRates(Key(10, [0, 5], [0.01]), settings));
        Assert.Null(KeyOutputTest.OwnRates(Key(4, [0, 4], [0, 0.01]), settings));
        Assert.Null(KeyOutputTest.OwnRates(Key(10, [0, 20], [0, 0.01]), settings));
        Assert.Null(KeyOutputTest.OwnRates(Key(10, [0, 8], [0, double.NaN]), settings));
    }

    /// <summary>300 batches of the clean model's traffic, then 300 in which s38 is on 2% of the records.</summary>
    private VersionMonitor Live(CompiledBaseline baseline, double[] shares, double[] effects, bool regression = false)
    {
        double[] busy = (double[])shares.Clone();
        busy[38] = (shares.Sum() - shares[38]) * 0.02 / 0.98;
        var monitor = new VersionMonitor("m", "v1", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline);
        var preparer = new BatchPreparer(baseline);
        var closed = new List<WindowResult>();
        var random = new Random(2);
        for (int b = 0; b < 600; b++)
        {
            RecordBatch batch = Traffic(Batch, b < 300 ? shares : busy, effects, random.Next(), regression);
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        output.WriteLine($"{monitor.Findings.Count(f => f.Severity == Severity.Critical)} critical findings; on sites:");
        foreach (Finding finding in monitor.Findings.Where(f => f.Key?.Field == "site"))
        {
            output.WriteLine($"  {finding.Severity} {finding.Detector} {finding.Summary} [{string.Join("; ", finding.Corroboration)}]");
        }

        return monitor;
    }

    /// <summary>
    /// Records of the clean model: two normal inputs and a site, P(yes) = σ(−2 + 1.2·x1 + 0.8·x2 + the site's effect); for a
    /// <paramref name="regression"/>, that logit itself is the served value.
    /// </summary>
    private static RecordBatch Traffic(int n, double[] shares, double[] effects, int seed, bool regression = false)
    {
        var random = new Random(seed);
        double total = shares.Sum();
        var numeric = new float[n * 2];
        var scores = new float[regression ? n : n * 2];
        var sites = new string?[n];
        var ids = new string?[n];
        for (int i = 0; i < n; i++)
        {
            double u = random.NextDouble() * total;
            int site = 0;
            while (site < Sites - 1 && (u -= shares[site]) > 0)
            {
                site++;
            }

            double x1 = Normal(random);
            double x2 = Normal(random);
            double z = -2 + (1.2 * x1) + (0.8 * x2) + effects[site];
            double yes = 1 / (1 + Math.Exp(-z));
            (numeric[2 * i], numeric[(2 * i) + 1]) = ((float)x1, (float)x2);
            if (regression)
            {
                scores[i] = (float)z;
            }
            else
            {
                (scores[2 * i], scores[(2 * i) + 1]) = ((float)(1 - yes), (float)yes);
            }

            sites[i] = "s" + site.ToString("00", CultureInfo.InvariantCulture);
            ids[i] = $"req-{seed}-{i}";
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = [Utf8Column.FromStrings(sites)],
            Text = [],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
