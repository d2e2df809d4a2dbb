using Monitor.Core.Baselines;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// What the regression key tests (<see cref="RegressionDetector"/>) know of the baseline of a model with one value per record:
/// an additive surrogate of the served value from the inputs (the expected value), strata cut from it, and per stratum the
/// distribution of the residual (served − expected) as quantile edges. Built with the baseline, stored with it, never changed.
/// </summary>
public sealed record RegressionProfile
{
    /// <summary>Residual bins per stratum: equal-probability bins of the baseline's residuals there.</summary>
    public const int Bins = 50;

    /// <summary>The additive surrogate's layout (the classifier surrogate's bins) and its one weight vector and bias.</summary>
    public required SurrogateModel Surrogate { get; init; }

    /// <summary>Cut points of the expected value (its deciles on the baseline): stratum s holds values in [edge s−1, edge s).</summary>
    public required double[] StratumEdges { get; init; }

    public required int Strata { get; init; }

    /// <summary>Baseline records per stratum.</summary>
    public required double[] StratumRecords { get; init; }

    /// <summary>Per stratum, <see cref="Bins"/> − 1 quantile edges of the residual (row-major).</summary>
    public required double[] ResidualEdges { get; init; }

    /// <summary>Per stratum, the smallest and largest residual of the baseline (the outer bins' ends).</summary>
    public required double[] ResidualMin { get; init; }

    public required double[] ResidualMax { get; init; }

    /// <summary>Per stratum: the half-width of the "narrow interval" of the pinned test, a quarter of the residuals' interquartile range.</summary>
    public required double[] PinWidth { get; init; }

    /// <summary>Per stratum: the baseline's share of records in the lowest and in the highest residual bin (about 1/<see cref="Bins"/> each).</summary>
    public required double[] LowRates { get; init; }

    public required double[] HighRates { get; init; }

    public required ValueKeyTables Values { get; init; }

    /// <summary>
    /// The most frequent keys of the baseline. Per key, <see cref="BaselineKey.TailHits"/> holds its records in the highest and
    /// the lowest residual bin (raised, lowered) and <see cref="BaselineKey.TailExpected"/> what the strata's rates predict.
    /// </summary>
    public required BaselineKey[] Keys { get; init; }

    /// <summary>Records the key table was counted on.</summary>
    public required long Records { get; init; }

    public int KeyVocabulary { get; init; }

    /// <summary>The surrogate's expected value for record i of a prepared batch.</summary>
    public double Expected(CompiledBaseline baseline, PreparedBatch prepared, int i, Span<int> active)
    {
        int n = Surrogate.ActiveSlots(baseline, prepared, i, active);
        float[] w = Surrogate.Weights[0];
        double value = Surrogate.Bias[0];
        foreach (int slot in active[..n])
        {
            value += w[slot];
        }

        return value;
    }

    /// <summary>The stratum of an expected value.</summary>
    public int StratumOf(double expected)
    {
        int s = 0;
        while (s < StratumEdges.Length && expected >= StratumEdges[s])
        {
            s++;
        }

        return s;
    }

    /// <summary>The residual's bin in its stratum, 0 (lowest) to <see cref="Bins"/> − 1 (highest).</summary>
    public int BinOf(int stratum, double residual)
    {
        ReadOnlySpan<double> edges = ResidualEdges.AsSpan(stratum * (Bins - 1), Bins - 1);
        int lo = 0;
        int hi = edges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (residual >= edges[mid])
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>
    /// The baseline's share of a stratum's residuals in [<paramref name="low"/>, <paramref name="high"/>]: its distribution
    /// function interpolated linearly between the quantile edges (the outer bins end at the baseline's extreme residuals).
    /// </summary>
    public double Mass(int stratum, double low, double high) => Math.Max(0, Cdf(stratum, high) - Cdf(stratum, low));

    /// <summary>The baseline's distribution function of a stratum's residual, piecewise linear through its quantile edges.</summary>
    public double Cdf(int stratum, double x)
    {
        ReadOnlySpan<double> edges = ResidualEdges.AsSpan(stratum * (Bins - 1), Bins - 1);
        double min = ResidualMin[stratum];
        double max = ResidualMax[stratum];
        if (x <= min)
        {
            return 0;
        }

        if (x >= max)
        {
            return 1;
        }

        int bin = BinOf(stratum, x);
        double left = bin == 0 ? min : edges[bin - 1];
        double right = bin == edges.Length ? max : edges[bin];
        double within = right > left ? Math.Clamp((x - left) / (right - left), 0, 1) : 1;
        return (bin + within) / Bins;
    }

    /// <summary>The share of bin b of a stratum that lies in [low, high] (linear within the bin).</summary>
    public double Overlap(int stratum, int bin, double low, double high)
    {
        ReadOnlySpan<double> edges = ResidualEdges.AsSpan(stratum * (Bins - 1), Bins - 1);
        double left = bin == 0 ? ResidualMin[stratum] : edges[bin - 1];
        double right = bin == edges.Length ? ResidualMax[stratum] : edges[bin];
        if (right <= left)
        {
            return low <= left && left <= high ? 1 : 0;
        }

        return Math.Clamp((Math.Min(high, right) - Math.Max(low, left)) / (right - left), 0, 1);
    }
}
