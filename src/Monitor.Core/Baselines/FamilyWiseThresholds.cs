namespace Monitor.Core.Baselines;

/// <summary>The thresholds chosen for a family of statistics, and what they mean.</summary>
/// <param name="Thresholds">One per statistic; a window alarms when any statistic exceeds its threshold.</param>
/// <param name="TailProbability">The per-statistic exceedance probability p* every threshold sits at.</param>
/// <param name="RealisedFalseAlarmRate">
/// Share of the bootstrap windows that alarm at p*, each judged at the thresholds of tails fitted without it: the rate
/// a new window of the same null alarms at.
/// </param>
public sealed record ThresholdSelection(double[] Thresholds, double TailProbability, double RealisedFalseAlarmRate)
{
    /// <summary>The quantile 1 − p* of its own null distribution at which each threshold sits.</summary>
    public double Quantile => 1 - TailProbability;
}

/// <summary>
/// Chooses one threshold per statistic so that, over bootstrap windows of unchanged traffic, the share
/// of windows in which <em>any</em> statistic exceeds its threshold is α: a min-p correction in the
/// manner of Westfall and Young, which accounts for how the statistics move together (unlike
/// Bonferroni). Each statistic's bootstrap values give its null exceedance probability p(s): the
/// empirical survival function in the bulk, and beyond its (1 − τ) quantile u an exponential tail
/// τ·exp(−(s − u)/β) with β the mean excess over u (peaks over threshold), so that tail probabilities
/// far below 1/B are resolved. A window's score is the smallest p over its statistics, each p fitted
/// without the window (10-fold cross-fitting); p* is the α quantile of that score over the bootstrap
/// windows, and each threshold is p⁻¹(p*) on the tails fitted on all of them.
/// </summary>
public static class FamilyWiseThresholds
{
    /// <summary>Share of each statistic's bootstrap values treated as its tail.</summary>
    public const double TailFraction = 0.05;

    /// <summary>Folds of the cross-fitting: each window's score is taken against tails fitted on the other folds.</summary>
    public const int Folds = 10;

    /// <param name="values">windows × slots statistic values, row-major.</param>
    public static ThresholdSelection Select(ReadOnlySpan<double> values, int windows, int slots, double alpha)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        if (values.Length != windows * slots)
        {
            throw new ArgumentException($"expected {windows} × {slots} values, got {values.Length}", nameof(values));
        }

        Tail[] tails = FitTails(values, windows, slots, fold: -1);

        // Each window's smallest exceedance probability over the family, against tails fitted without it (cross-fitting):
        // scored against tails that include it, a window looks less extreme than a new window would, and p* comes out
        // too large, the more so the fewer the windows.
        int folds = Math.Min(Folds, windows);
        var scores = new double[windows];
        var foldTails = new Tail[folds][];
        for (int f = 0; f < folds; f++)
        {
            foldTails[f] = folds > 1 ? FitTails(values, windows, slots, f, folds) : tails;
            for (int w = f; w < windows; w += folds)
            {
                scores[w] = Score(values.Slice(w * slots, slots), foldTails[f]);
            }
        }

        Array.Sort(scores);

        // p* = the α quantile of the window scores: at most ⌊αB⌋ windows score strictly below it.
        int allowed = (int)Math.Floor(alpha * windows);
        double pStar = allowed < windows ? scores[allowed] : 1.0;
        if (allowed == 0)
        {
            pStar = Math.Min(pStar, alpha);
        }

        var thresholds = new double[slots];
        for (int s = 0; s < slots; s++)
        {
            thresholds[s] = tails[s].InverseSurvival(pStar);
        }

        // The rate a new window alarms at: each window judged at the thresholds its fold's tails give p*.
        int alarms = 0;
        var foldThresholds = new double[slots];
        for (int f = 0; f < folds; f++)
        {
            for (int s = 0; s < slots; s++)
            {
                foldThresholds[s] = foldTails[f][s].InverseSurvival(pStar);
            }

            for (int w = f; w < windows; w += folds)
            {
                ReadOnlySpan<double> row = values.Slice(w * slots, slots);
                for (int s = 0; s < slots; s++)
                {
                    if (row[s] > foldThresholds[s])
                    {
                        alarms++;
                        break;
                    }
                }
            }
        }

        return new ThresholdSelection(thresholds, pStar, (double)alarms / windows);
    }

    /// <summary>Every statistic's tail, fitted on all windows (fold −1) or on those outside fold f of <paramref name="folds"/>.</summary>
    private static Tail[] FitTails(ReadOnlySpan<double> values, int windows, int slots, int fold, int folds = 1)
    {
        var tails = new Tail[slots];
        var column = new List<double>(windows);
        for (int s = 0; s < slots; s++)
        {
            column.Clear();
            for (int w = 0; w < windows; w++)
            {
                if (fold < 0 || w % folds != fold)
                {
                    column.Add(values[w * slots + s]);
                }
            }

            tails[s] = Tail.Fit([.. column]);
        }

        return tails;
    }

    /// <summary>A window's smallest exceedance probability over the family.</summary>
    private static double Score(ReadOnlySpan<double> row, Tail[] tails)
    {
        double min = 1.0;
        for (int s = 0; s < row.Length; s++)
        {
            min = Math.Min(min, tails[s].Survival(row[s]));
        }

        return min;
    }

    /// <summary>A statistic's null survival function: empirical in the bulk, exponential beyond u.</summary>
    private sealed class Tail
    {
        private readonly double[] _sorted;
        private readonly double _u;
        private readonly double _beta;

        private Tail(double[] sorted, double u, double beta)
        {
            _sorted = sorted;
            _u = u;
            _beta = beta;
        }

        public static Tail Fit(double[] column)
        {
            double[] sorted = (double[])column.Clone();
            Array.Sort(sorted);
            int n = sorted.Length;
            double u = sorted[Math.Clamp((int)Math.Ceiling((1 - TailFraction) * n) - 1, 0, n - 1)];
            double excess = 0;
            int count = 0;
            foreach (double v in sorted)
            {
                if (v > u)
                {
                    excess += v - u;
                    count++;
                }
            }

            return new Tail(sorted, u, count > 0 ? excess / count : 0.0);
        }

        /// <summary>P(S ≥ s) under the null.</summary>
        public double Survival(double s)
        {
            if (s > _u)
            {
                return _beta > 0 ? TailFraction * Math.Exp(-(s - _u) / _beta) : 0.0;
            }

            // Share of bootstrap values at or above s, but never below the tail's share.
            int below = LowerBound(s);
            return Math.Max((double)(_sorted.Length - below) / _sorted.Length, TailFraction);
        }

        /// <summary>The smallest s with P(S &gt; s) ≤ p: the threshold at exceedance probability p.</summary>
        public double InverseSurvival(double p)
        {
            if (p < TailFraction)
            {
                return _beta > 0 ? _u + _beta * Math.Log(TailFraction / p) : _u;
            }

            int n = _sorted.Length;
            int index = Math.Clamp((int)Math.Ceiling((1 - p) * n) - 1, 0, n - 1);
            return _sorted[index];
        }

        private int LowerBound(double s)
        {
            int lo = 0;
            int hi = _sorted.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (_sorted[mid] < s)
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
    }
}
