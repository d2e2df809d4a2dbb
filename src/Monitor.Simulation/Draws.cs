namespace Monitor.Simulation;

/// <summary>The random draws the simulated traffic is made of, from one seeded generator.</summary>
public sealed class Draws(Random random)
{
    public Random Random => random;

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public double Normal() => Normal(random);

    /// <summary>One of the values, with the given probabilities (summing to 1).</summary>
    public string Pick(string[] values, double[] weights)
    {
        double u = random.NextDouble();
        for (int i = 0; i < values.Length; i++)
        {
            u -= weights[i];
            if (u < 0)
            {
                return values[i];
            }
        }

        return values[^1];
    }

    /// <summary>A standard normal draw (Box–Muller) from <paramref name="random"/>: two uniform draws.</summary>
    public static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>
    /// Class probabilities with no relation to the inputs: the exponentials of normal(0, 2) draws, one per class,
    /// normalised to sum to 1.
    /// </summary>
    public static void Probabilities(Span<float> scores, Random random)
    {
        float total = 0;
        for (int c = 0; c < scores.Length; c++)
        {
            scores[c] = (float)Math.Exp(2 * Normal(random));
            total += scores[c];
        }

        for (int c = 0; c < scores.Length; c++)
        {
            scores[c] /= total;
        }
    }
}
