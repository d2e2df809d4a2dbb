namespace Monitor.Core.Statistics;

/// <summary>
/// Count, mean and sum of squared deviations, updated by Welford's method and merged by
/// Chan, Golub and LeVeque's pairwise formula, so window statistics combine in any order.
/// </summary>
public struct RunningMoments
{
    public long Count { readonly get; private set; }
    public double Mean { readonly get; private set; }
    public double M2 { readonly get; private set; }

    public RunningMoments(long count, double mean, double m2)
    {
        Count = count;
        Mean = mean;
        M2 = m2;
    }

    /// <summary>Sample variance (n − 1 in the denominator); 0 below two values.</summary>
    public readonly double Variance => Count > 1 ? M2 / (Count - 1) : 0.0;

    public readonly double StandardDeviation => Math.Sqrt(Variance);

    public void Add(double value)
    {
        Count++;
        double delta = value - Mean;
        Mean += delta / Count;
        M2 += delta * (value - Mean);
    }

    public void Merge(in RunningMoments other)
    {
        if (other.Count == 0)
        {
            return;
        }

        if (Count == 0)
        {
            this = other;
            return;
        }

        long n = Count + other.Count;
        double delta = other.Mean - Mean;
        Mean += delta * other.Count / n;
        M2 += other.M2 + delta * delta * ((double)Count * other.Count / n);
        Count = n;
    }
}
