namespace Monitor.Core.Statistics;

/// <summary>Intervals for a proportion.</summary>
public static class Proportions
{
    /// <summary>The normal quantile of a two-sided 95% interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>The Wilson score interval at 95% for <paramref name="k"/> of <paramref name="n"/> ((0, 1) when n is 0).</summary>
    public static (double Low, double High) Wilson(long k, long n)
    {
        if (n <= 0)
        {
            return (0, 1);
        }

        double p = (double)k / n;
        double z2 = Z95 * Z95;
        double denominator = 1 + (z2 / n);
        double centre = (p + (z2 / (2.0 * n))) / denominator;
        double half = Z95 * Math.Sqrt((p * (1 - p) / n) + (z2 / (4.0 * n * n))) / denominator;
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
