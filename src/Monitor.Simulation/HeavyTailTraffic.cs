using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>A heavy-tailed feature's distribution, by name.</summary>
public enum HeavyTail
{
    /// <summary>exp(1.2·Z), Z standard normal.</summary>
    LogNormal,

    /// <summary>Pareto of shape 2.5 and scale 1: U^(−1/2.5), U uniform on (0, 1]; variance finite, fourth moment not.</summary>
    Pareto,

    /// <summary>Student's t with 3 degrees of freedom: variance finite, fourth moment not.</summary>
    StudentT,
}

/// <summary>
/// Traffic of one heavy-tailed numeric feature x0 and a binary score that does not depend on it (a light-tailed
/// output): the data the whole-window false-alarm rate is measured on. Deterministic for the generator it is given.
/// </summary>
public static class HeavyTailTraffic
{
    public static ModelSchema Schema { get; } = SchemaTraffic.Schema(numeric: 1, categorical: 0, output: OutputKind.Binary);

    /// <summary>The name a report gives the distribution.</summary>
    public static string Describe(HeavyTail tail) => tail switch
    {
        HeavyTail.LogNormal => "log-normal (σ = 1.2)",
        HeavyTail.Pareto => "Pareto (shape 2.5)",
        _ => "Student-t (3 df)",
    };

    /// <summary>One draw of the distribution.</summary>
    public static double Draw(HeavyTail tail, Random random) => tail switch
    {
        HeavyTail.LogNormal => Math.Exp(1.2 * Draws.Normal(random)),
        HeavyTail.Pareto => Math.Pow(1.0 - random.NextDouble(), -1 / 2.5),
        _ => StudentT3(random),
    };

    /// <summary>A batch of n records: x0 from the distribution, the score logistic(0.8·Z) of an independent normal Z.</summary>
    public static RecordBatch Batch(HeavyTail tail, int n, Random random)
    {
        var numeric = new float[n];
        var scores = new float[n];
        for (int i = 0; i < n; i++)
        {
            numeric[i] = (float)Draw(tail, random);
            scores[i] = (float)(1 / (1 + Math.Exp(-0.8 * Draws.Normal(random))));
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [], Embeddings = Array.Empty<float>() };
    }

    /// <summary>Z / √(χ²₃ / 3), the χ²₃ a sum of three squared normals.</summary>
    private static double StudentT3(Random random)
    {
        double z = Draws.Normal(random);
        double chi = 0;
        for (int k = 0; k < 3; k++)
        {
            double g = Draws.Normal(random);
            chi += g * g;
        }

        return z / Math.Sqrt(chi / 3);
    }
}
