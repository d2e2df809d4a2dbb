using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>
/// Traffic for a schema of any shape, named by position (numeric x0, x1 …, categorical c0 …, text t0 …, classes
/// class0 …): the Core tests' data. Deterministic for the generator it is given.
/// </summary>
public static class SchemaTraffic
{
    private static readonly string[] Levels = ["red", "green", "blue", "amber", "violet"];
    private static readonly double[] LevelWeights = [0.4, 0.3, 0.15, 0.1, 0.05];

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

    /// <summary>
    /// A valid batch of n records: feature j is normal(0, 1), lognormal(0, 0.5) or uniform on 0..4 by j mod 3, plus
    /// meanShift[j]; the outputs follow the first feature; categories are five colours, texts a few of 50 words,
    /// embeddings standard normal.
    /// </summary>
    public static RecordBatch Batch(ModelSchema schema, int n, Random random, double[]? meanShift = null)
    {
        var draws = new Draws(random);
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
                    0 => draws.Normal() + shift,
                    1 => Math.Exp(0.5 * draws.Normal()) + shift,
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
                    e[c] = Math.Exp(z * (c - k / 2.0) * 0.7 + 0.3 * draws.Normal());
                    sum += e[c];
                }

                for (int c = 0; c < k; c++)
                {
                    scores[i * k + c] = (float)(e[c] / sum);
                }
            }
        }

        var categorical = new Utf8Column[schema.CategoricalFeatures.Length];
        for (int c = 0; c < categorical.Length; c++)
        {
            var values = new string?[n];
            for (int i = 0; i < n; i++)
            {
                values[i] = draws.Pick(Levels, LevelWeights);
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
            embeddings[i] = (float)draws.Normal();
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

    /// <summary>A baseline profiled from <paramref name="referenceRecords"/> records of <see cref="Batch"/>, drawn from the seed.</summary>
    public static BaselineProfile Baseline(ModelSchema schema, int referenceRecords, int windowRecords, double alpha, int seed,
        BaselineSettings? settings = null)
    {
        var random = new Random(seed);
        var reference = new List<RecordBatch>();
        for (int sent = 0; sent < referenceRecords; sent += 1000)
        {
            reference.Add(Batch(schema, Math.Min(1000, referenceRecords - sent), random));
        }

        return ReferenceBaseline.Fit(schema, reference, windowRecords, alpha, settings);
    }
}
