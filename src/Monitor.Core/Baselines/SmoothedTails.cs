using System.Runtime.InteropServices;
using Monitor.Core.Ingest;

namespace Monitor.Core.Baselines;

/// <summary>
/// The reference's numeric inputs with their extreme tails smoothed, for the calibration's bootstrap: a resampled record's
/// value beyond a feature's tail threshold (the outermost <see cref="TailShare"/> of its reference values, each side) is
/// redrawn from a generalised Pareto distribution fitted to the reference's excesses over that threshold (probability-
/// weighted moments, Hosking and Wallis 1987). A plain resample can never hold a value beyond the reference's extremes,
/// so for a heavy tail it understates how far a window's standard deviation, mean and outer bins can stray, the more so
/// the smaller the reference; the fitted tail continues the reference's own tail beyond its largest value. Features
/// whose tail is not continuous (fewer than 90% distinct excesses: counts, codes, clipped values) are left as they are.
/// </summary>
internal sealed class SmoothedTails
{
    /// <summary>Share of a feature's finite reference values beyond each of its tail thresholds.</summary>
    public const double TailShare = 0.02;

    /// <summary>Fewest excesses a tail is fitted on.</summary>
    public const int MinExcesses = 50;

    /// <summary>Bounds on the fitted shape ξ: from a uniform tail (−1) to one whose mean is barely finite.</summary>
    public const double MinShape = -1;

    public const double MaxShape = 0.9;

    private readonly Tail?[] _upper;
    private readonly Tail?[] _lower;

    private SmoothedTails(Tail?[] upper, Tail?[] lower)
    {
        _upper = upper;
        _lower = lower;
    }

    /// <summary>Whether any feature's tail is smoothed.</summary>
    public bool Any => _upper.Any(t => t is not null) || _lower.Any(t => t is not null);

    /// <summary>The fitted tail of a feature: +1 upper, −1 lower; null when that tail is left as it is.</summary>
    public (double Threshold, double Shape, double Scale)? Of(int feature, int side)
    {
        Tail? tail = side > 0 ? _upper[feature] : _lower[feature];
        return tail is { } t ? (t.Threshold, t.Shape, t.Scale) : null;
    }

    /// <summary>Fits both tails of each of the <paramref name="features"/> numeric inputs of <paramref name="reference"/>.</summary>
    public static SmoothedTails Fit(RecordBatch reference, int features)
    {
        var upper = new Tail?[features];
        var lower = new Tail?[features];
        ReadOnlySpan<float> numeric = reference.Numeric.Span;
        var values = new List<double>(reference.Count);
        for (int j = 0; j < features; j++)
        {
            values.Clear();
            for (int i = 0; i < reference.Count; i++)
            {
                float v = numeric[i * features + j];
                if (float.IsFinite(v))
                {
                    values.Add(v);
                }
            }

            double[] sorted = [.. values];
            Array.Sort(sorted);
            upper[j] = Tail.Fit(sorted, +1);
            lower[j] = Tail.Fit(sorted, -1);
        }

        return new SmoothedTails(upper, lower);
    }

    /// <summary>
    /// The tails refitted on as many excesses drawn from themselves as they were fitted on (a parametric bootstrap of the
    /// fit): each resampled reference of the calibration gets its own, so the null also carries the uncertainty of the
    /// fitted tail, not one estimate of it taken as the truth.
    /// </summary>
    public SmoothedTails Refitted(Random random) =>
        new([.. _upper.Select(t => t?.Refitted(random))], [.. _lower.Select(t => t?.Refitted(random))]);

    /// <summary>Redraws, in place, every value of a batch of resampled records that lies beyond a smoothed tail's threshold.</summary>
    public void Apply(RecordBatch batch, Random random)
    {
        int d = _upper.Length;
        if (d == 0 || !Any)
        {
            return;
        }

        Span<float> numeric = MemoryMarshal.AsMemory(batch.Numeric).Span;
        for (int i = 0; i < batch.Count; i++)
        {
            Span<float> row = numeric.Slice(i * d, d);
            for (int j = 0; j < d; j++)
            {
                float v = row[j];
                if (_upper[j] is { } up && v > up.Threshold)
                {
                    row[j] = (float)Math.Min(up.Threshold + up.Draw(random), float.MaxValue);
                }
                else if (_lower[j] is { } low && v < -low.Threshold)
                {
                    row[j] = (float)Math.Max(-low.Threshold - low.Draw(random), float.MinValue);
                }
            }
        }
    }

    /// <summary>A generalised Pareto tail of excesses beyond a threshold, on the side's outward axis (lower tails negated).</summary>
    private sealed record Tail(double Threshold, double Shape, double Scale, int Excesses)
    {
        public static Tail? Fit(double[] sorted, int side)
        {
            int n = sorted.Length;
            int k = (int)Math.Floor(TailShare * n);
            if (k < MinExcesses)
            {
                return null;
            }

            // Outward values: ascending for the upper tail, the negated values descending for the lower.
            double At(int i) => side > 0 ? sorted[i] : -sorted[n - 1 - i];
            double threshold = At(n - k - 1);
            var excesses = new List<double>(k);
            for (int i = n - k; i < n; i++)
            {
                double y = At(i) - threshold;
                if (y > 0)
                {
                    excesses.Add(y);
                }
            }

            int distinct = excesses.Count > 0 ? 1 : 0;
            for (int i = 1; i < excesses.Count; i++)
            {
                if (excesses[i] != excesses[i - 1])
                {
                    distinct++;
                }
            }

            if (excesses.Count < MinExcesses || distinct < 0.9 * k)
            {
                return null;
            }

            return FitExcesses(threshold, excesses);
        }

        /// <summary>The same threshold, its shape and scale fitted on excesses drawn from this tail.</summary>
        public Tail? Refitted(Random random)
        {
            var excesses = new List<double>(Excesses);
            for (int i = 0; i < Excesses; i++)
            {
                excesses.Add(Draw(random));
            }

            excesses.Sort();
            return FitExcesses(Threshold, excesses) ?? this;
        }

        /// <summary>Probability-weighted moments a0 = E[Y], a1 = E[Y (1 − F(Y))] of sorted excesses, plotting positions (i + 0.65) / m.</summary>
        private static Tail? FitExcesses(double threshold, List<double> excesses)
        {
            int m = excesses.Count;
            double a0 = 0;
            double a1 = 0;
            for (int i = 0; i < m; i++)
            {
                a0 += excesses[i];
                a1 += excesses[i] * (1 - (i + 0.65) / m);
            }

            a0 /= m;
            a1 /= m;
            if (a0 <= 2 * a1)
            {
                return null;
            }

            double shape = Math.Clamp(2 - a0 / (a0 - 2 * a1), MinShape, MaxShape);
            double scale = a0 * (1 - shape);
            return scale > 0 ? new Tail(threshold, shape, scale, m) : null;
        }

        /// <summary>An excess drawn from the fitted distribution, by inversion.</summary>
        public double Draw(Random random)
        {
            double u = 1.0 - random.NextDouble();
            return Math.Abs(Shape) < 1e-9 ? -Scale * Math.Log(u) : Scale / Shape * (Math.Pow(u, -Shape) - 1);
        }
    }
}
