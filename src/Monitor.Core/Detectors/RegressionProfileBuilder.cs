using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// Builds a <see cref="RegressionProfile"/> from a reference sample of a regression model: fits the additive surrogate of the
/// served value on one part (backfitting over the classifier surrogate's one-hot bins, each bin's weight shrunk towards 0),
/// and on the other part (cross-fitting) cuts strata from its expected values, measures the residuals' quantiles per stratum
/// and counts the baseline's keys.
/// </summary>
public static class RegressionProfileBuilder
{
    /// <summary>Backfitting sweeps over the features.</summary>
    private const int Sweeps = 10;

    /// <summary>
    /// Bins per numeric feature in the surrogate: coarse, so that it learns the served model's smooth trend rather than
    /// its value on each reference input, and its residuals on the reference are what new inputs show.
    /// </summary>
    public const int SurrogateBins = 16;

    /// <summary>Pseudo-records of weight 0 in each bin: a bin seen a few times moves little.</summary>
    private const double Shrinkage = 10;

    /// <summary>Strata: deciles of the expected value.</summary>
    private const int Strata = 10;

    /// <summary>The pinned test's interval half-width, as a share of the stratum's residual interquartile range.</summary>
    public const double PinShare = 0.25;

    /// <summary>Null unless the output is a regression value, or without records.</summary>
    public static RegressionProfile? Build(CompiledBaseline baseline, RecordBatch fitBatch, RecordBatch batch, TriggerSettings settings,
        DetectorSettings detectors)
    {
        ModelSchema schema = baseline.Profile.Schema;
        if (schema.OutputKind != OutputKind.Regression || batch.Count < Strata * 10 || fitBatch.Count == 0)
        {
            return null;
        }

        ValueKeyTables values = TriggerProfileBuilder.ValueTables(schema, fitBatch);
        SurrogateModel surrogate = Fit(baseline, new BatchPreparer(baseline).Prepare(fitBatch), fitBatch.Scores.Span, CoarseEdges(schema, fitBatch));
        var template = new RegressionProfile
        {
            Surrogate = surrogate,
            StratumEdges = [],
            Strata = 1,
            StratumRecords = [],
            ResidualEdges = [],
            ResidualMin = [],
            ResidualMax = [],
            PinWidth = [],
            LowRates = [],
            HighRates = [],
            Values = values,
            Keys = [],
            Records = batch.Count,
        };

        int n = batch.Count;
        PreparedBatch prepared = new BatchPreparer(baseline).Prepare(batch);
        var expected = new double[n];
        var residual = new double[n];
        var active = new int[surrogate.NumericOffsets.Length + surrogate.CategoricalOffsets.Length];
        ReadOnlySpan<float> scores = batch.Scores.Span;
        for (int i = 0; i < n; i++)
        {
            expected[i] = template.Expected(baseline, prepared, i, active);
            residual[i] = scores[i] - expected[i];
        }

        double[] sortedExpected = [.. expected.Order()];
        double[] stratumEdges = [.. Enumerable.Range(1, Strata - 1).Select(q => Quantiles.OfSorted(sortedExpected, q / (double)Strata)).Distinct()];
        int strata = stratumEdges.Length + 1;
        var profile = template with { StratumEdges = stratumEdges, Strata = strata };
        int[] strataOf = [.. expected.Select(profile.StratumOf)];

        int b = RegressionProfile.Bins;
        var edges = new double[strata * (b - 1)];
        var min = new double[strata];
        var max = new double[strata];
        var pin = new double[strata];
        var records = new double[strata];
        for (int s = 0; s < strata; s++)
        {
            double[] sorted = [.. Enumerable.Range(0, n).Where(i => strataOf[i] == s).Select(i => residual[i]).Order()];
            records[s] = sorted.Length;
            if (sorted.Length == 0)
            {
                sorted = [0];
            }

            for (int j = 1; j < b; j++)
            {
                edges[s * (b - 1) + j - 1] = Quantiles.OfSorted(sorted, j / (double)b);
            }

            min[s] = sorted[0];
            max[s] = sorted[^1];
            double iqr = Quantiles.OfSorted(sorted, 0.75) - Quantiles.OfSorted(sorted, 0.25);
            pin[s] = Math.Max(PinShare * iqr, 1e-9);
        }

        profile = profile with { ResidualEdges = edges, ResidualMin = min, ResidualMax = max, PinWidth = pin, StratumRecords = records };
        var low = new double[strata];
        var high = new double[strata];
        var bins = new int[n];
        for (int i = 0; i < n; i++)
        {
            int s = strataOf[i];
            bins[i] = profile.BinOf(s, residual[i]);
            low[s] += bins[i] == 0 ? 1 : 0;
            high[s] += bins[i] == b - 1 ? 1 : 0;
        }

        for (int s = 0; s < strata; s++)
        {
            // With one pseudo-record each way: a stratum's rate is never 0.
            low[s] = (low[s] + 1) / (records[s] + 2);
            high[s] = (high[s] + 1) / (records[s] + 2);
        }

        profile = profile with { LowRates = low, HighRates = high };
        // Twice, as for classifiers: the first count gives the shares that rank a record's numeric parts for conjunctions.
        BaselineKey[] singles = KeyTable(profile, batch, strataOf, bins, settings,
            new KeyExtractor(schema, values, detectors.MaxKeysPerRecord, 0, KeyExtractor.Vocabulary));
        BaselineKey[] keys = detectors.MaxConjunctionKeysPerRecord == 0 ? singles : KeyTable(profile, batch, strataOf, bins, settings,
            new KeyExtractor(schema, values, detectors.MaxKeysPerRecord, detectors.MaxConjunctionKeysPerRecord, KeyExtractor.Vocabulary,
                KeyExtractor.PartShares(singles, n)));
        return profile with { Keys = keys, KeyVocabulary = KeyExtractor.Vocabulary };
    }

    /// <summary>
    /// The additive surrogate: value ≈ bias + Σ_f w[bin of feature f], by backfitting (each feature's bin weights set in turn to
    /// the shrunk mean of what the others leave), from a start at the mean served value.
    /// </summary>
    public static SurrogateModel Fit(CompiledBaseline baseline, PreparedBatch prepared, ReadOnlySpan<float> served, float[][] numericEdges)
    {
        (int[] numericOffsets, int[] categoricalOffsets, int slots) = SurrogateModel.Layout(baseline, numericEdges);
        var template = new SurrogateModel
        {
            Classes = 1,
            NumericEdges = numericEdges,
            NumericOffsets = numericOffsets,
            CategoricalOffsets = categoricalOffsets,
            Slots = slots,
            Weights = [],
            Bias = [],
        };

        int n = prepared.Count;
        int features = numericOffsets.Length + categoricalOffsets.Length;
        var active = new int[n * features];
        double bias = 0;
        for (int i = 0; i < n; i++)
        {
            template.ActiveSlots(baseline, prepared, i, active.AsSpan(i * features, features));
            bias += served[i];
        }

        bias = n > 0 ? bias / n : 0;
        var weights = new double[slots];
        var fitted = new double[n];
        Array.Fill(fitted, bias);
        var sums = new double[slots];
        var counts = new double[slots];
        for (int sweep = 0; sweep < Sweeps; sweep++)
        {
            for (int f = 0; f < features; f++)
            {
                Array.Clear(sums);
                Array.Clear(counts);
                for (int i = 0; i < n; i++)
                {
                    int slot = active[i * features + f];
                    sums[slot] += served[i] - fitted[i] + weights[slot];
                    counts[slot]++;
                }

                for (int i = 0; i < n; i++)
                {
                    int slot = active[i * features + f];
                    double updated = sums[slot] / (counts[slot] + Shrinkage);
                    fitted[i] += updated - weights[slot];
                }

                for (int i = 0; i < n; i++)
                {
                    int slot = active[i * features + f];
                    weights[slot] = sums[slot] / (counts[slot] + Shrinkage);
                }
            }
        }

        return template with { Weights = [[.. weights.Select(w => (float)w)]], Bias = [(float)bias] };
    }

    /// <summary>Quantile bin edges of each numeric feature, <see cref="SurrogateBins"/> bins.</summary>
    private static float[][] CoarseEdges(ModelSchema schema, RecordBatch batch)
    {
        int d = schema.NumericFeatures.Length;
        var edges = new float[d][];
        ReadOnlySpan<float> numeric = batch.Numeric.Span;
        for (int f = 0; f < d; f++)
        {
            var values = new List<double>(batch.Count);
            for (int i = 0; i < batch.Count; i++)
            {
                if (float.IsFinite(numeric[i * d + f]))
                {
                    values.Add(numeric[i * d + f]);
                }
            }

            double[] sorted = [.. values.Order()];
            edges[f] = Quantiles.BinEdges(sorted, SurrogateBins);
        }

        return edges;
    }

    private static BaselineKey[] KeyTable(RegressionProfile profile, RecordBatch batch, int[] strata, int[] bins,
        TriggerSettings settings, KeyExtractor extractor)
    {
        int top = RegressionProfile.Bins - 1;
        var table = new Dictionary<ulong, (BaselineKey Key, long[] Counts, double[] Expected)>();
        for (int i = 0; i < batch.Count; i++)
        {
            foreach (KeyOccurrence key in extractor.Extract(batch, i))
            {
                if (!table.TryGetValue(key.Hash, out var entry))
                {
                    entry = (new BaselineKey
                    {
                        Kind = key.Kind,
                        Field = key.Field,
                        Text = extractor.Describe(key).Bounded().Text,
                        Payload = KeyExtractor.PayloadOf(key),
                        Support = 0,
                        LabelCounts = [],
                    }, new long[3], new double[2]);
                    table[key.Hash] = entry;
                }

                int s = strata[i];
                entry.Counts[0]++;
                entry.Counts[1] += bins[i] == top ? 1 : 0;
                entry.Counts[2] += bins[i] == 0 ? 1 : 0;
                entry.Expected[0] += profile.HighRates[s];
                entry.Expected[1] += profile.LowRates[s];
            }
        }

        return [.. table.Values
            .Select(e => e.Key with { Support = e.Counts[0], LabelCounts = [e.Counts[0]], TailHits = e.Counts[1..], TailExpected = e.Expected })
            .OrderByDescending(key => key.Support)
            .ThenBy(key => key.Text, StringComparer.Ordinal)
            .Take(settings.BaselineKeys)];
    }
}
