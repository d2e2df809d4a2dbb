using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>
/// Traffic of a numeric-only classifier, the shape the load tests, the benchmarks and the throughput command
/// measure: feature j is normal(j/100, 1) and the class probabilities are unrelated to the features.
/// </summary>
public static class NumericTraffic
{
    /// <summary>x0 … x(features-1), classes class0 … class(classes-1), nothing else.</summary>
    public static ModelSchema Schema(int features, int classes) => SchemaTraffic.Schema(numeric: features, categorical: 0, classes: classes);

    /// <summary>
    /// n records, each drawn whole (its features, then its probabilities); when <paramref name="missingOneIn"/> is
    /// positive, each value is missing (NaN) with probability 1/missingOneIn.
    /// </summary>
    public static RecordBatch Next(ModelSchema schema, int n, Random random, int missingOneIn = 0)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.OutputWidth;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            Features(numeric.AsSpan(i * d, d), random, missingOneIn);
            Draws.Probabilities(scores.AsSpan(i * k, k), random);
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [] };
    }

    /// <summary>The same traffic, no value missing, drawn in another order: every record's features, then every record's probabilities.</summary>
    public static RecordBatch NextFeaturesFirst(ModelSchema schema, int n, Random random)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.OutputWidth;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            Features(numeric.AsSpan(i * d, d), random, missingOneIn: 0);
        }

        for (int i = 0; i < n; i++)
        {
            Draws.Probabilities(scores.AsSpan(i * k, k), random);
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [] };
    }

    /// <summary>
    /// n records of another model: feature j uniform on [-1, 1) plus j/100, and probability 0.7 on the class the
    /// first feature falls in (its range cut in as many equal parts as there are classes), the rest shared evenly.
    /// </summary>
    public static RecordBatch Uniform(ModelSchema schema, int n, Random random)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                numeric[i * d + j] = (float)(random.NextDouble() * 2 - 1 + j * 0.01);
            }

            int best = (int)((numeric[i * d] + 1) / 2 * k) % k;
            float rest = 0.3f / (k - 1);
            for (int c = 0; c < k; c++)
            {
                scores[i * k + c] = c == best ? 0.7f : rest;
            }
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [] };
    }

    private static void Features(Span<float> row, Random random, int missingOneIn)
    {
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = missingOneIn > 0 && random.Next(missingOneIn) == 0 ? float.NaN : (float)(Draws.Normal(random) + (j * 0.01));
        }
    }
}
