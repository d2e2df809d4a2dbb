namespace Monitor.Server.Scenarios;

/// <summary>The random draws the simulated traffic is made of, from one seeded generator.</summary>
internal sealed class Draws(Random random)
{
    public Random Random => random;

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public double Normal()
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

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
}
