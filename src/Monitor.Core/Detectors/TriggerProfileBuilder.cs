using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>How the trigger detectors' baseline tables are built.</summary>
public sealed record TriggerSettings
{
    /// <summary>Keys kept in the baseline's key table (the most frequent).</summary>
    public int BaselineKeys { get; init; } = 20_000;

    /// <summary>Pseudo-records that pull a stratum's label rates towards the overall shares.</summary>
    public double Smoothing { get; init; } = 1;

    public int Seed { get; init; } = 20_261_125;
}

/// <summary>
/// Builds a <see cref="TriggerProfile"/> from the profiled part of a reference sample: fits the
/// surrogate, cuts strata from its scores, measures label rates per stratum, confidence and residual
/// profiles per class, value-key cut points, and the table of the baseline's keys.
/// </summary>
public static class TriggerProfileBuilder
{
    /// <summary>Null for outputs without classes (regression), which the trigger detectors do not watch.</summary>
    /// <param name="fitBatch">Records the surrogate is fitted on.</param>
    /// <param name="batch">Other records, on which everything that depends on the surrogate is measured
    /// (cross-fitting: in-sample, an overfitted surrogate would make strata look purer than they are).</param>
    /// <param name="detectors">The settings the detectors will run with: the key table is counted on the keys they extract.</param>
    public static TriggerProfile? Build(CompiledBaseline baseline, RecordBatch fitBatch, RecordBatch batch, TriggerSettings settings,
        DetectorSettings detectors)
    {
        ModelSchema schema = baseline.Profile.Schema;
        if (schema.OutputKind == OutputKind.Regression || batch.Count == 0 || fitBatch.Count == 0)
        {
            return null;
        }

        int k = schema.PredictedClassLabels.Length;
        int n = batch.Count;
        int classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        PreparedBatch fitPrepared = new BatchPreparer(baseline).Prepare(fitBatch);
        ValueKeyTables values = ValueTables(schema, fitBatch);
        SurrogateModel surrogate = SurrogateModel.Fit(baseline, fitPrepared, ServedProbabilities(schema, fitBatch), k, settings.Seed, values.FineEdges);

        PreparedBatch prepared = new BatchPreparer(baseline).Prepare(batch);
        int[] labels = prepared.Codes[classChannel][..n];
        var served = ServedProbabilities(schema, batch);
        var predicted = new double[n * k];
        var active = new int[surrogate.NumericOffsets.Length + surrogate.CategoricalOffsets.Length];
        for (int i = 0; i < n; i++)
        {
            surrogate.Predict(baseline, prepared, i, active, predicted.AsSpan(i * k, k));
        }

        (double[] edges, int strata) = StratumEdges(predicted, k, n);
        var profile = new TriggerProfile
        {
            Surrogate = surrogate,
            Classes = k,
            StratumEdges = edges,
            Strata = strata,
            LabelRates = [],
            ClassShares = [],
            StratumRecords = [],
            UltraRecords = [],
            UltraThresholds = [],
            UltraRates = [],
            ResidualMean = [],
            ResidualStd = [],
            Values = values,
            Keys = [],
            Records = n,
        };

        var shares = new double[k];
        foreach (int label in labels)
        {
            shares[label] += 1.0 / n;
        }

        // Rates per stratum, smoothed towards the surrogate's own mean prediction there (not the overall
        // share, which would pull sparse high-risk strata towards the majority class).
        var stratumCounts = new double[strata * k];
        var stratumPredicted = new double[strata * k];
        var stratumTotals = new double[strata];
        for (int i = 0; i < n; i++)
        {
            int s = profile.StratumOf(predicted.AsSpan(i * k, k));
            stratumCounts[s * k + labels[i]]++;
            stratumTotals[s]++;
            for (int c = 0; c < k; c++)
            {
                stratumPredicted[s * k + c] += predicted[i * k + c];
            }
        }

        var rates = new double[strata * k];
        for (int s = 0; s < strata; s++)
        {
            for (int c = 0; c < k; c++)
            {
                double prior = stratumTotals[s] > 0 ? stratumPredicted[s * k + c] / stratumTotals[s] : shares[c];
                rates[s * k + c] = (stratumCounts[s * k + c] + settings.Smoothing * prior) / (stratumTotals[s] + settings.Smoothing);
            }
        }

        var strataOf = new int[n];
        for (int i = 0; i < n; i++)
        {
            strataOf[i] = profile.StratumOf(predicted.AsSpan(i * k, k));
        }

        TriggerProfile rated = profile with { LabelRates = rates };
        ConfidencePercentiles ultra = UltraConfidence(baseline, prepared, labels, strataOf, rated);
        (double[] mean, double[] std) = Residuals(served, predicted, strataOf, rated);
        TailProfile tails = TailProfile.Build(rated, strataOf, labels, served);
        EmbeddingProfile? embedding = EmbeddingProfiles.Build(schema, batch, labels, k, settings.Seed,
            i => tails.Hit(strataOf[i], k, labels[i], served.AsSpan(i * k, k)) ? labels[i] : -1);
        double[] ranks = KeyRankTest.BaselineRanks(k, strata, strataOf, served, predicted);
        // Twice: the first count gives the shares that rank a record's numeric parts for conjunctions, the second counts them.
        BaselineKey[] singles = KeyTable(schema, rated, batch, labels, strataOf, served, predicted, tails, ranks, settings,
            new KeyExtractor(schema, values, detectors.MaxKeysPerRecord, 0, KeyExtractor.Vocabulary));
        BaselineKey[] keys = detectors.MaxConjunctionKeysPerRecord == 0 ? singles : KeyTable(schema, rated, batch, labels, strataOf, served, predicted,
            tails, ranks, settings, new KeyExtractor(schema, values, detectors.MaxKeysPerRecord, detectors.MaxConjunctionKeysPerRecord, KeyExtractor.Vocabulary,
                KeyExtractor.PartShares(singles, n)));
        if (embedding is not null)
        {
            keys = [.. keys, OutlierKey(embedding, batch, labels, strataOf, rated, served, predicted, tails)];
        }

        return profile with
        {
            LabelRates = rates,
            ClassShares = shares,
            StratumRecords = stratumTotals,
            UltraThresholds = ultra.Thresholds,
            UltraRates = ultra.Rates,
            UltraRecords = ultra.Records,
            ResidualMean = mean,
            ResidualStd = std,
            Keys = keys,
            Tails = tails,
            RankThresholds = [.. KeyRankTest.Thresholds],
            RankReadiness = ReadinessRanks.Build(k, strata, strataOf, labels, served, predicted),
            Embedding = embedding,
            KeyVocabulary = KeyExtractor.Vocabulary,
        };
    }

    /// <summary>The baseline's own embedding outliers as a key, so live outliers are judged against them.</summary>
    private static BaselineKey OutlierKey(EmbeddingProfile embedding, RecordBatch batch, int[] labels, int[] strata, TriggerProfile profile,
        double[] served, double[] predicted, TailProfile tails)
    {
        int k = profile.Classes;
        var counts = new long[k];
        var contrarian = new long[k];
        var hits = new long[k];
        var tailHits = new long[k];
        var tailExpected = new double[k];
        var projection = new double[embedding.ComponentCount];
        for (int i = 0; i < batch.Count; i++)
        {
            if (embedding.IsOutlier(batch.Embeddings.Span.Slice(i * embedding.Width, embedding.Width), projection))
            {
                counts[labels[i]]++;
                for (int c = 0; c < k; c++)
                {
                    int cell = strata[i] * k + c;
                    tailExpected[c] += tails.Rates[cell];
                    tailHits[c] += labels[i] == c && tails.Hit(strata[i], k, c, served.AsSpan(i * k, k)) ? 1 : 0;
                    if (profile.Contrarian(strata[i], c))
                    {
                        contrarian[c]++;
                        hits[c] += labels[i] == c ? 1 : 0;
                    }
                }
            }
        }

        return new BaselineKey
        {
            Kind = KeyKind.EmbeddingOutlier,
            Field = 0,
            Text = "beyond the 99.9th percentile",
            Support = counts.Sum(),
            LabelCounts = counts,
            ContrarianCounts = contrarian,
            ContrarianHits = hits,
            TailHits = tailHits,
            TailExpected = tailExpected,
        };
    }

    /// <summary>The served model's probability of each class, per record (binary: 1 − s, s).</summary>
    public static double[] ServedProbabilities(ModelSchema schema, RecordBatch batch)
    {
        int k = schema.PredictedClassLabels.Length;
        var served = new double[batch.Count * k];
        ReadOnlySpan<float> scores = batch.Scores.Span;
        for (int i = 0; i < batch.Count; i++)
        {
            if (schema.OutputKind == OutputKind.Binary)
            {
                served[i * 2] = 1 - scores[i];
                served[i * 2 + 1] = scores[i];
            }
            else
            {
                for (int c = 0; c < k; c++)
                {
                    served[i * k + c] = scores[i * k + c];
                }
            }
        }

        return served;
    }

    private static (double[] Edges, int Strata) StratumEdges(double[] predicted, int k, int n)
    {
        if (k == 2)
        {
            double[] p1 = [.. Enumerable.Range(0, n).Select(i => predicted[i * 2 + 1]).Order()];
            double[] edges2 = [.. Enumerable.Range(1, 9).Select(q => Quantiles.OfSorted(p1, q / 10.0))
                .Concat([0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95])
                .Select(e => Math.Round(e, 6))
                .Distinct()
                .Order()];
            return (edges2, edges2.Length + 1);
        }

        var edges = new double[k * 4];
        for (int c = 0; c < k; c++)
        {
            var top = new List<double>();
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<double> row = predicted.AsSpan(i * k, k);
                int best = 0;
                for (int j = 1; j < k; j++)
                {
                    if (row[j] > row[best])
                    {
                        best = j;
                    }
                }

                if (best == c)
                {
                    top.Add(row[c]);
                }
            }

            double[] sorted = [.. top.Order()];
            for (int q = 1; q <= 4; q++)
            {
                edges[c * 4 + q - 1] = sorted.Length > 0 ? Quantiles.OfSorted(sorted, q / 5.0) : q / 5.0;
            }
        }

        return (edges, k * 5);
    }

    /// <summary>
    /// D3's percentiles, the whole-output test's tails and D4's residuals of a version's own reference (docs/detectors.md,
    /// "Per-version references"): its outputs on the baseline's reference inputs, each record in the stratum the baseline's
    /// surrogate gives its inputs and judged, as the baseline's records were, by the baseline's odds there; and per record, the
    /// class it was served beyond its stratum's own tail threshold or −1 (the direction test's null, <see cref="EmbeddingProfile.TailOutputs"/>).
    /// Null when the baseline has no trigger profile.
    /// </summary>
    public static (ConfidencePercentiles Confidence, OutputShape Shape, int[] TailOutputs)? ReferenceOutputs(CompiledBaseline baseline, RecordBatch records)
    {
        if (baseline.Profile.Triggers is not { } profile || records.Count == 0)
        {
            return null;
        }

        int k = profile.Classes;
        int n = records.Count;
        int classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        PreparedBatch prepared = new BatchPreparer(baseline).Prepare(records);
        int[] labels = prepared.Codes[classChannel][..n];
        double[] served = ServedProbabilities(baseline.Profile.Schema, records);
        var strata = new int[n];
        var predicted = new double[n * k];
        var active = new int[profile.Surrogate.NumericOffsets.Length + profile.Surrogate.CategoricalOffsets.Length];
        var stratumRecords = new double[profile.Strata];
        var residualRecords = new double[k];
        for (int i = 0; i < n; i++)
        {
            profile.Surrogate.Predict(baseline, prepared, i, active, predicted.AsSpan(i * k, k));
            strata[i] = profile.StratumOf(predicted.AsSpan(i * k, k));
            stratumRecords[strata[i]]++;
            for (int c = 0; c < k; c++)
            {
                residualRecords[c] += profile.Contrarian(strata[i], c) ? 1 : 0;
            }
        }

        TailProfile tails = TailProfile.Build(profile, strata, labels, served);
        (double[] mean, double[] std) = Residuals(served, predicted, strata, profile);
        var shape = new OutputShape
        {
            Tails = tails,
            StratumRecords = stratumRecords,
            ResidualMean = mean,
            ResidualStd = std,
            ResidualRecords = residualRecords,
        };
        TailProfile used = profile.Tails is { } baselineTails ? shape.TailsOver(baselineTails, k) : tails;
        int[] tailOutputs = [.. Enumerable.Range(0, n).Select(i => used.Hit(strata[i], k, labels[i], served.AsSpan(i * k, k)) ? labels[i] : -1)];
        return (UltraConfidence(baseline, prepared, labels, strata, profile), shape, tailOutputs);
    }

    /// <summary>
    /// Per class and per kind of stratum (where the class is expected, and where it has less than even
    /// odds), the 99.9th percentile of the confidence of records served that class, and the share beyond it.
    /// An output far more confident than the baseline ever was for such inputs is what a trigger leaves.
    /// </summary>
    private static ConfidencePercentiles UltraConfidence(CompiledBaseline baseline, PreparedBatch prepared, int[] labels, int[] strata, TriggerProfile profile)
    {
        int k = profile.Classes;
        int channel = Array.FindIndex(baseline.Profile.Numeric, p => p.Channel.Source == NumericSource.Confidence);
        NumericView view = prepared.Numeric[channel];
        ReadOnlySpan<float> data = view.Data.Span;
        var thresholds = new double[2 * k];
        var rates = new double[2 * k];
        var records = new double[2 * k];
        for (int slot = 0; slot < 2 * k; slot++)
        {
            int c = slot / 2;
            bool contrarian = slot % 2 == 1;
            var values = new List<double>();
            for (int i = 0; i < labels.Length; i++)
            {
                if (labels[i] == c && profile.Contrarian(strata[i], c) == contrarian)
                {
                    values.Add(data[view.Offset + i * view.Stride]);
                }
            }

            if (values.Count == 0)
            {
                thresholds[slot] = 0.5;
                rates[slot] = 1.0 / (labels.Length + 1);
                continue;
            }

            double[] sorted = [.. values.Order()];
            thresholds[slot] = Quantiles.OfSorted(sorted, 0.999);
            int above = sorted.Count(v => v > thresholds[slot]);
            rates[slot] = Math.Max(above, 1) / (double)(sorted.Length + 1);
            records[slot] = sorted.Length;
        }

        return new ConfidencePercentiles { Thresholds = thresholds, Rates = rates, Records = records };
    }

    /// <summary>Per class c: mean and spread of (served − surrogate) P(c) over records whose inputs give c less than even odds.</summary>
    private static (double[] Mean, double[] Std) Residuals(double[] served, double[] predicted, int[] strata, TriggerProfile profile)
    {
        int k = profile.Classes;
        var mean = new double[k];
        var std = new double[k];
        for (int c = 0; c < k; c++)
        {
            var moments = new RunningMoments();
            for (int i = 0; i < strata.Length; i++)
            {
                if (profile.Contrarian(strata[i], c))
                {
                    moments.Add(served[i * k + c] - predicted[i * k + c]);
                }
            }

            mean[c] = moments.Mean;
            std[c] = Math.Max(moments.StandardDeviation, 0.01);
        }

        return (mean, std);
    }

    internal static ValueKeyTables ValueTables(ModelSchema schema, RecordBatch batch)
    {
        int d = schema.NumericFeatures.Length;
        var fine = new float[d][];
        ReadOnlySpan<float> numeric = batch.Numeric.Span;
        for (int f = 0; f < d; f++)
        {
            var values = new List<double>(batch.Count);
            for (int i = 0; i < batch.Count; i++)
            {
                float v = numeric[i * d + f];
                if (float.IsFinite(v))
                {
                    values.Add(v);
                }
            }

            double[] sorted = [.. values.Order()];
            fine[f] = Quantiles.BinEdges(sorted, 100);
        }

        return new ValueKeyTables { FineEdges = fine };
    }

    private static BaselineKey[] KeyTable(ModelSchema schema, TriggerProfile profile, RecordBatch batch, int[] labels, int[] strata,
        double[] served, double[] predicted, TailProfile tails, double[] ranks, TriggerSettings settings, KeyExtractor extractor)
    {
        int k = profile.Classes;
        double[] thresholds = KeyRankTest.Thresholds;
        int t = thresholds.Length;
        var table = new Dictionary<ulong, (BaselineKey Key, long[] Labels, double[] TailExpected)>();
        for (int i = 0; i < batch.Count; i++)
        {
            foreach (KeyOccurrence key in extractor.Extract(batch, i))
            {
                if (!table.TryGetValue(key.Hash, out var entry))
                {
                    DetectorKey described = extractor.Describe(key).Bounded();
                    entry = (new BaselineKey
                    {
                        Kind = key.Kind,
                        Field = key.Field,
                        Text = described.Text,
                        Payload = KeyExtractor.PayloadOf(key),
                        Support = 0,
                        LabelCounts = [],
                    }, new long[(4 + t) * k], new double[k]);
                    table[key.Hash] = entry;
                }

                entry.Labels[labels[i]]++;
                for (int c = 0; c < k; c++)
                {
                    int cell = strata[i] * k + c;
                    entry.TailExpected[c] += tails.Rates[cell];
                    entry.Labels[3 * k + c] += labels[i] == c && tails.Hit(strata[i], k, c, served.AsSpan(i * k, k)) ? 1 : 0;
                    for (int j = 0; j < t; j++)
                    {
                        entry.Labels[4 * k + c * t + j] += ranks[i * k + c] > thresholds[j] ? 1 : 0;
                    }
                }

                for (int c = 0; c < k; c++)
                {
                    if (profile.Contrarian(strata[i], c))
                    {
                        entry.Labels[k + c]++;
                        entry.Labels[2 * k + c] += labels[i] == c ? 1 : 0;
                    }
                }
            }
        }

        return [.. table.Values
            .Select(e => e.Key with
            {
                Support = e.Labels.AsSpan(0, k).ToArray().Sum(),
                LabelCounts = e.Labels[..k],
                ContrarianCounts = e.Labels[k..(2 * k)],
                ContrarianHits = e.Labels[(2 * k)..(3 * k)],
                TailHits = e.Labels[(3 * k)..(4 * k)],
                TailExpected = e.TailExpected,
                RankAbove = e.Labels[(4 * k)..],
            })
            .OrderByDescending(key => key.Support)
            .ThenBy(key => key.Text, StringComparer.Ordinal)
            .Take(settings.BaselineKeys)];
    }
}
