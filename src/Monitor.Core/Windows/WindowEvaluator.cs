using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>
/// Computes every statistic of a window against its baseline into a flat array laid out by
/// <see cref="CompiledBaseline"/>. The same code judges live windows and calibrates thresholds on
/// bootstrap windows, so a threshold means exactly what it was calibrated for.
/// </summary>
public sealed class WindowEvaluator
{
    private readonly CompiledBaseline _baseline;
    private readonly double[] _q;
    private readonly double[] _positions;

    public WindowEvaluator(CompiledBaseline baseline)
    {
        _baseline = baseline;
        _q = new double[baseline.MaxBuckets];
        _positions = new double[baseline.MaxBuckets];
    }

    /// <param name="values">Receives every statistic (length <see cref="CompiledBaseline.SlotCount"/>).</param>
    /// <param name="pValues">Receives the p-value of each statistic that has one, NaN elsewhere.</param>
    public void Evaluate(WindowAccumulator window, Span<double> values, Span<double> pValues)
    {
        BaselineProfile profile = _baseline.Profile;
        pValues.Fill(double.NaN);
        for (int c = 0; c < profile.Numeric.Length; c++)
        {
            int slot = _baseline.NumericSlots[c];
            EvaluateNumeric(c, window, values[slot..], pValues[slot..]);
        }

        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            int slot = _baseline.CategoricalSlots[c];
            EvaluateCategorical(c, window, values[slot..], pValues[slot..]);
        }
    }

    private void EvaluateNumeric(int c, WindowAccumulator window, Span<double> values, Span<double> pValues)
    {
        NumericProfile profile = _baseline.Profile.Numeric[c];
        long[] counts = window.NumericCounts[c];
        RunningMoments moments = window.MomentsOf(c);
        long finite = moments.Count;
        ReadOnlySpan<double> p = profile.Probabilities;
        Span<double> q = _q.AsSpan(0, counts.Length);
        for (int b = 0; b < counts.Length; b++)
        {
            q[b] = finite > 0 ? (double)counts[b] / finite : 0.0;
        }

        double[] basePositions = _baseline.Positions[c];
        Span<double> positions = _positions.AsSpan(0, counts.Length);
        basePositions.CopyTo(positions);
        if (counts.Length > 1)
        {
            if (counts[0] > 0)
            {
                positions[0] = Math.Min(window.BelowSum[c] / counts[0], basePositions[0]);
            }

            if (counts[^1] > 0)
            {
                positions[^1] = Math.Max(window.AboveSum[c] / counts[^1], basePositions[^1]);
            }
        }

        bool any = finite > 0;
        double scale = profile.Scale;
        Statistic[] statistics = profile.Channel.Statistics;
        for (int s = 0; s < statistics.Length; s++)
        {
            values[s] = statistics[s] switch
            {
                Statistic.Psi => any ? Divergences.Psi(p, q) : 0,
                Statistic.JensenShannon => any ? Divergences.JensenShannon(p, q) : 0,
                Statistic.Hellinger => any ? Divergences.Hellinger(p, q) : 0,
                Statistic.KolmogorovSmirnov => any ? Divergences.KolmogorovSmirnov(p, q) : 0,
                Statistic.Wasserstein => any ? Divergences.Wasserstein1(basePositions, p, positions, q) / scale : 0,
                Statistic.MeanShift => any ? Math.Abs(moments.Mean - profile.Mean) / scale : 0,
                Statistic.StdShift => finite > 1 ? StdShift(moments.StandardDeviation, profile.Std, scale) : 0,
                Statistic.MissingRate => window.Records > 0 ? (double)window.NumericMissing[c] / window.Records : 0,
                _ => throw new InvalidOperationException($"{statistics[s]} is not a numeric statistic"),
            };

            if (statistics[s] == Statistic.KolmogorovSmirnov && any)
            {
                pValues[s] = Divergences.KolmogorovSmirnovPValue(values[s], profile.Count, finite);
            }
        }
    }

    private void EvaluateCategorical(int c, WindowAccumulator window, Span<double> values, Span<double> pValues)
    {
        CategoricalProfile profile = _baseline.Profile.Categorical[c];
        long[] counts = window.CategoricalCounts[c];
        long present = 0;
        foreach (long count in counts)
        {
            present += count;
        }

        ReadOnlySpan<double> p = profile.Probabilities;
        Span<double> q = _q.AsSpan(0, counts.Length);
        for (int b = 0; b < counts.Length; b++)
        {
            q[b] = present > 0 ? (double)counts[b] / present : 0.0;
        }

        bool any = present > 0;
        Statistic[] statistics = profile.Channel.Statistics;
        for (int s = 0; s < statistics.Length; s++)
        {
            switch (statistics[s])
            {
                case Statistic.ChiSquared:
                    (double statistic, _, double pValue) = Divergences.ChiSquared(p, counts);
                    values[s] = statistic;
                    pValues[s] = pValue;
                    break;
                case Statistic.Psi:
                    values[s] = any ? Divergences.Psi(p, q) : 0;
                    break;
                case Statistic.JensenShannon:
                    values[s] = any ? Divergences.JensenShannon(p, q) : 0;
                    break;
                case Statistic.LInfinity:
                    values[s] = any ? Divergences.LInfinity(p, q) : 0;
                    break;
                case Statistic.UnseenRate:
                    values[s] = window.Records > 0 ? (double)counts[^1] / window.Records : 0;
                    break;
                case Statistic.MissingRate:
                    values[s] = window.Records > 0 ? (double)window.CategoricalMissing[c] / window.Records : 0;
                    break;
                default:
                    throw new InvalidOperationException($"{statistics[s]} is not a categorical statistic");
            }
        }
    }

    /// <summary>|ln(σ_window / σ_baseline)|, with a floor of 1e-9 of the scale so a constant side stays finite.</summary>
    private static double StdShift(double windowStd, double baselineStd, double scale)
    {
        double floor = 1e-9 * scale;
        return Math.Abs(Math.Log((windowStd + floor) / (baselineStd + floor)));
    }
}
