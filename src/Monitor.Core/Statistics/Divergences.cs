using MathNet.Numerics;

namespace Monitor.Core.Statistics;

/// <summary>
/// Distances and tests between a baseline distribution p and a window distribution q over the same bins.
/// Definitions are in README.md ("Statistics"); tests compare them with scipy.
/// </summary>
public static class Divergences
{
    /// <summary>Probability floor for empty bins in PSI and chi-squared.</summary>
    public const double Epsilon = 1e-4;

    /// <summary>Population stability index Σ (q̃ − p̃) ln(q̃ / p̃) with p̃ = max(p, ε), q̃ = max(q, ε).</summary>
    public static double Psi(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double a = Math.Max(p[i], Epsilon);
            double b = Math.Max(q[i], Epsilon);
            sum += (b - a) * Math.Log(b / a);
        }

        return sum;
    }

    /// <summary>Jensen–Shannon distance: the square root of the JS divergence in bits, in [0, 1].</summary>
    public static double JensenShannon(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double divergence = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double m = 0.5 * (p[i] + q[i]);
            if (p[i] > 0)
            {
                divergence += 0.5 * p[i] * Math.Log2(p[i] / m);
            }

            if (q[i] > 0)
            {
                divergence += 0.5 * q[i] * Math.Log2(q[i] / m);
            }
        }

        return Math.Sqrt(Math.Max(divergence, 0.0));
    }

    /// <summary>Hellinger distance sqrt(1 − Σ sqrt(p q)), in [0, 1].</summary>
    public static double Hellinger(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double bhattacharyya = 0;
        for (int i = 0; i < p.Length; i++)
        {
            bhattacharyya += Math.Sqrt(p[i] * q[i]);
        }

        return Math.Sqrt(Math.Max(1.0 - bhattacharyya, 0.0));
    }

    /// <summary>Largest absolute difference of probabilities in one bin.</summary>
    public static double LInfinity(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double max = 0;
        for (int i = 0; i < p.Length; i++)
        {
            max = Math.Max(max, Math.Abs(p[i] - q[i]));
        }

        return max;
    }

    /// <summary>Kolmogorov–Smirnov statistic on ordered bins: max |P(≤ bin) − Q(≤ bin)|.</summary>
    public static double KolmogorovSmirnov(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double cp = 0;
        double cq = 0;
        double max = 0;
        for (int i = 0; i < p.Length; i++)
        {
            cp += p[i];
            cq += q[i];
            max = Math.Max(max, Math.Abs(cp - cq));
        }

        return max;
    }

    /// <summary>
    /// Two-sample KS p-value from the asymptotic Kolmogorov distribution:
    /// P(K &gt; sqrt(n m / (n + m)) D).
    /// </summary>
    public static double KolmogorovSmirnovPValue(double d, long n, long m)
    {
        if (n <= 0 || m <= 0)
        {
            return 1.0;
        }

        double en = (double)n * m / (n + m);
        return Kolmogorov.Survival(Math.Sqrt(en) * d);
    }

    /// <summary>
    /// Wasserstein-1 distance between two discrete distributions, each given by ascending
    /// positions and weights (weights need not be normalised).
    /// </summary>
    public static double Wasserstein1(ReadOnlySpan<double> positionsA, ReadOnlySpan<double> weightsA,
        ReadOnlySpan<double> positionsB, ReadOnlySpan<double> weightsB)
    {
        double totalA = Sum(weightsA);
        double totalB = Sum(weightsB);
        if (totalA <= 0 || totalB <= 0)
        {
            return 0;
        }

        // Walk the merged support; between consecutive support points the CDFs are constant.
        int i = 0;
        int j = 0;
        double cdfA = 0;
        double cdfB = 0;
        double distance = 0;
        double previous = double.NaN;
        while (i < positionsA.Length || j < positionsB.Length)
        {
            double x = j >= positionsB.Length || (i < positionsA.Length && positionsA[i] <= positionsB[j])
                ? positionsA[i]
                : positionsB[j];
            if (!double.IsNaN(previous))
            {
                distance += Math.Abs(cdfA - cdfB) * (x - previous);
            }

            while (i < positionsA.Length && positionsA[i] == x)
            {
                cdfA += weightsA[i++] / totalA;
            }

            while (j < positionsB.Length && positionsB[j] == x)
            {
                cdfB += weightsB[j++] / totalB;
            }

            previous = x;
        }

        return distance;
    }

    /// <summary>
    /// Pearson's chi-squared goodness of fit of observed counts to expected probabilities
    /// p̃ = max(p, ε) renormalised; buckets with p = 0 and no observation are left out.
    /// </summary>
    public static (double Statistic, int DegreesOfFreedom, double PValue) ChiSquared(
        ReadOnlySpan<double> p, ReadOnlySpan<long> observed)
    {
        long total = 0;
        double floorSum = 0;
        int used = 0;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] > 0 || observed[i] > 0)
            {
                total += observed[i];
                floorSum += Math.Max(p[i], Epsilon);
                used++;
            }
        }

        if (total == 0 || used < 2)
        {
            return (0.0, Math.Max(used - 1, 0), 1.0);
        }

        double statistic = 0;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] > 0 || observed[i] > 0)
            {
                double expected = total * Math.Max(p[i], Epsilon) / floorSum;
                double diff = observed[i] - expected;
                statistic += diff * diff / expected;
            }
        }

        int dof = used - 1;
        return (statistic, dof, ChiSquaredSurvival(statistic, dof));
    }

    /// <summary>Upper tail of the chi-squared distribution.</summary>
    public static double ChiSquaredSurvival(double statistic, int degreesOfFreedom) =>
        degreesOfFreedom <= 0 || statistic <= 0
            ? 1.0
            : Math.Clamp(SpecialFunctions.GammaUpperRegularized(degreesOfFreedom / 2.0, statistic / 2.0), 0.0, 1.0);

    private static double Sum(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (double v in values)
        {
            sum += v;
        }

        return sum;
    }
}

/// <summary>The Kolmogorov distribution (the limit of sqrt(n) times the KS statistic).</summary>
public static class Kolmogorov
{
    /// <summary>P(K &gt; x), accurate to about 1e-15 for all x ≥ 0.</summary>
    public static double Survival(double x)
    {
        if (x <= 0)
        {
            return 1.0;
        }

        if (x < 1.0)
        {
            // CDF by the Jacobi theta form: sqrt(2π)/x Σ_{k≥1} exp(−(2k−1)²π²/(8x²)).
            double sum = 0;
            double factor = -Math.PI * Math.PI / (8 * x * x);
            for (int k = 1; k <= 20; k++)
            {
                int odd = 2 * k - 1;
                double term = Math.Exp(factor * odd * odd);
                sum += term;
                if (term < 1e-17 * sum)
                {
                    break;
                }
            }

            return Math.Clamp(1.0 - Math.Sqrt(2 * Math.PI) / x * sum, 0.0, 1.0);
        }

        // Survival by the alternating series 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²x²).
        double total = 0;
        for (int k = 1; k <= 100; k++)
        {
            double term = Math.Exp(-2.0 * k * k * x * x);
            total += (k % 2 == 1 ? term : -term);
            if (term < 1e-17)
            {
                break;
            }
        }

        return Math.Clamp(2 * total, 0.0, 1.0);
    }
}
