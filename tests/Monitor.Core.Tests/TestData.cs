using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests;

/// <summary>Small builders for schemas, batches and baselines used across tests.</summary>
internal static class TestData
{
    public static ModelSchema Schema(int numeric = 2, int categorical = 1, int text = 0, OutputKind output = OutputKind.Classification,
        int classes = 2, int embedding = 0) => new()
    {
        NumericFeatures = [.. Enumerable.Range(0, numeric).Select(i => $"x{i}")],
        CategoricalFeatures = [.. Enumerable.Range(0, categorical).Select(i => $"c{i}")],
        TextFields = [.. Enumerable.Range(0, text).Select(i => $"t{i}")],
        OutputKind = output,
        ClassLabels = output == OutputKind.Classification ? [.. Enumerable.Range(0, classes).Select(i => $"class{i}")] : [],
        EmbeddingWidth = embedding,
    };

    /// <summary>A valid batch of n records: feature j is normal(0, 1), lognormal(0, 0.5) or uniform on 0..4 by j mod 3, plus meanShift[j].</summary>
    public static RecordBatch Batch(ModelSchema schema, int n, Random random, double[]? meanShift = null)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.OutputWidth;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        Span<double> e = stackalloc double[k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double shift = meanShift is null ? 0 : meanShift[j];
                numeric[i * d + j] = (float)((j % 3) switch
                {
                    0 => Normal(random) + shift,
                    1 => Math.Exp(0.5 * Normal(random)) + shift,
                    _ => random.Next(5) + shift,
                });
            }

            double z = numeric[i * d];
            if (k == 1)
            {
                scores[i] = schema.OutputKind == OutputKind.Regression ? (float)z : (float)(1 / (1 + Math.Exp(-z)));
            }
            else
            {
                double sum = 0;
                for (int c = 0; c < k; c++)
                {
                    e[c] = Math.Exp(z * (c - k / 2.0) * 0.7 + 0.3 * Normal(random));
                    sum += e[c];
                }

                for (int c = 0; c < k; c++)
                {
                    scores[i * k + c] = (float)(e[c] / sum);
                }
            }
        }

        string[] levels = ["red", "green", "blue", "amber", "violet"];
        double[] weights = [0.4, 0.3, 0.15, 0.1, 0.05];
        var categorical = new Utf8Column[schema.CategoricalFeatures.Length];
        for (int c = 0; c < categorical.Length; c++)
        {
            var values = new string?[n];
            for (int i = 0; i < n; i++)
            {
                double u = random.NextDouble();
                int pick = 0;
                while (pick < levels.Length - 1 && (u -= weights[pick]) >= 0)
                {
                    pick++;
                }

                values[i] = levels[pick];
            }

            categorical[c] = Utf8Column.FromStrings(values);
        }

        var text = new Utf8Column[schema.TextFields.Length];
        for (int t = 0; t < text.Length; t++)
        {
            var values = new string?[n];
            for (int i = 0; i < n; i++)
            {
                values[i] = random.Next(4) == 0 ? null : string.Join(' ', Enumerable.Range(0, 1 + random.Next(4)).Select(w => $"w{random.Next(50)}"));
            }

            text[t] = Utf8Column.FromStrings(values);
        }

        var embeddings = new float[schema.EmbeddingWidth * n];
        for (int i = 0; i < embeddings.Length; i++)
        {
            embeddings[i] = (float)Normal(random);
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = categorical,
            Text = text,
            Embeddings = embeddings,
        };
    }

    public static BaselineProfile Baseline(ModelSchema schema, int referenceRecords, int windowRecords, double alpha, int seed,
        BaselineSettings? settings = null)
    {
        var random = new Random(seed);
        var sample = new ReferenceSample(schema, referenceRecords, seed);
        for (int sent = 0; sent < referenceRecords; sent += 1000)
        {
            sample.Add(Batch(schema, Math.Min(1000, referenceRecords - sent), random));
        }

        return BaselineBuilder.Build(new BaselineRequest("m", "reference", "", windowRecords, alpha, DateTimeOffset.UnixEpoch),
            sample, settings ?? new BaselineSettings());
    }

    public static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
