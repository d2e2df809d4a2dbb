using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>
/// The whole-output key test's tables (<see cref="KeyOutputTest"/>): per surrogate stratum and class, how high the
/// baseline's served probability of the class goes for such inputs, and how often a record is served the class beyond
/// that. A record served class c with P(c) beyond its stratum's threshold is a <em>tail hit</em> for c: a flip to c where
/// the inputs say otherwise, or a confidence the baseline rarely gave such inputs, which is what a trigger leaves whether
/// it flips a label or only lifts the confidence of records already of its class.
/// </summary>
public sealed record TailProfile
{
    /// <summary>
    /// The tail share τ: a threshold is its stratum's 1 − τ quantile. In a stratum of few records that is near its
    /// maximum, strict; the rate beyond it is then uncertain, which the key test's null covers with today's rate
    /// (<see cref="KeyOutputTest.Refresh"/>).
    /// </summary>
    public const double Share = 0.01;

    /// <summary>
    /// [stratum × classes + class]: the probability at twice the odds of the baseline's 1 − τ quantile of served P(class) among
    /// the stratum's records. Twice the odds, so that a hit is a real change of the output (0.30 becomes 0.46, 0.95 becomes
    /// 0.974), not a difference in the fourth decimal where a class's probability is near 1 for every record.
    /// </summary>
    public required double[] Thresholds { get; init; }

    /// <summary>[stratum × classes + class]: the baseline's share of the stratum's records that were hits for the class, (n + 1) / (N + 2).</summary>
    public required double[] Rates { get; init; }

    /// <summary>
    /// Whether a record of stratum s served <paramref name="label"/> with those probabilities is a tail hit for it: beyond its
    /// stratum's threshold.
    /// </summary>
    public bool Hit(int stratum, int classes, int label, ReadOnlySpan<double> served)
    {
        int cell = stratum * classes + label;
        return served[label] > Thresholds[cell];
    }

    /// <summary>The probability with twice the odds of <paramref name="p"/>: 2p / (1 + p).</summary>
    public static double DoubleOdds(double p) => 2 * p / (1 + p);

    /// <summary>
    /// Measures the tables on the baseline's records: their strata (of the profile's), served classes and served probabilities
    /// (row-major, k per record).
    /// </summary>
    public static TailProfile Build(TriggerProfile profile, int[] strataOf, int[] labels, double[] served)
    {
        int k = profile.Classes;
        int strata = profile.Strata;

        var members = new List<int>[strata];
        for (int s = 0; s < strata; s++)
        {
            members[s] = [];
        }

        for (int i = 0; i < strataOf.Length; i++)
        {
            members[strataOf[i]].Add(i);
        }

        var thresholds = new double[strata * k];
        var rates = new double[strata * k];
        var values = new double[strataOf.Length];
        for (int s = 0; s < strata; s++)
        {
            int n = members[s].Count;
            for (int c = 0; c < k; c++)
            {
                int cell = s * k + c;
                if (n == 0)
                {
                    // No baseline record has such inputs: nothing is known, so no record there can be a hit.
                    thresholds[cell] = double.PositiveInfinity;
                    rates[cell] = 0.5;
                    continue;
                }

                for (int j = 0; j < n; j++)
                {
                    values[j] = served[members[s][j] * k + c];
                }

                Array.Sort(values, 0, n);
                thresholds[cell] = DoubleOdds(Quantiles.OfSorted(values.AsSpan(0, n), 1 - Share));
                int beyond = 0;
                foreach (int i in members[s])
                {
                    beyond += labels[i] == c && served[i * k + c] > thresholds[cell] ? 1 : 0;
                }

                rates[cell] = (beyond + 1.0) / (n + 2.0);
            }
        }

        return new TailProfile { Thresholds = thresholds, Rates = rates };
    }
}
