namespace Monitor.Core.Detectors;

/// <summary>
/// What the readiness report needs to model the residual test (<see cref="KeyRankTest"/>) at commit, measured on the reference
/// when the baseline is built: per stratum, class c and placement of a trigger (on records served another class, or c), the
/// chance that such a record ranks above each threshold θ for c among the reference's records of its stratum, as today's
/// histograms would rank it (ties broken at random, today's traffic taken to be served like the reference): once as the record
/// was served (a triggered record the attack did not move), and once served c at each of <see cref="Confidences"/> (a trigger
/// that succeeded), with the record's own expected output. A model that serves most records of a class at its saturation leaves
/// a trigger at that confidence tied with them, and the chance is what the ties leave above θ.
/// </summary>
public static class ReadinessRanks
{
    /// <summary>The trigger confidences the chances are measured at; the report interpolates between them in logits.</summary>
    public static readonly double[] Confidences = [0.9, 0.95, 0.99, 0.999];

    private static int T => KeyRankTest.Thresholds.Length;

    /// <summary>Values per (stratum, class, placement): as served, then each confidence, a chance per threshold each.</summary>
    public static int Columns => (Confidences.Length + 1) * T;

    /// <summary>The table's length for a profile of this shape.</summary>
    public static int Length(int strata, int classes) => strata * classes * 2 * Columns;

    /// <summary>Measures the table on the reference's records.</summary>
    /// <param name="labels">Each record's served class.</param>
    /// <param name="served">The served output per [record × classes + class].</param>
    /// <param name="surrogate">The surrogate's expected output, likewise.</param>
    public static double[] Build(int classes, int strata, int[] strataOf, int[] labels, double[] served, double[] surrogate)
    {
        double[] below = KeyRankTest.BaselineBelow(classes, strata, strataOf, served, surrogate, out int[] steps);
        var table = new double[Length(strata, classes)];
        var counts = new double[strata * classes * 2];
        for (int i = 0; i < strataOf.Length; i++)
        {
            for (int c = 0; c < classes; c++)
            {
                int cell = strataOf[i] * classes + c;
                int row = cell * 2 + (int)(labels[i] == c ? TriggerPlacement.Lift : TriggerPlacement.Flip);
                counts[row]++;
                Add(table, row * Columns, below, cell, steps[i * classes + c]);
                for (int g = 0; g < Confidences.Length; g++)
                {
                    int step = KeyRankTest.StepOf(KeyRankTest.Residual(Confidences[g], surrogate[i * classes + c]));
                    Add(table, row * Columns + (g + 1) * T, below, cell, step);
                }
            }
        }

        for (int row = 0; row < counts.Length; row++)
        {
            for (int j = 0; j < Columns; j++)
            {
                table[row * Columns + j] = counts[row] > 0 ? table[row * Columns + j] / counts[row] : 0;
            }
        }

        return table;
    }

    /// <summary>Whether a profile carries a table of its shape (a baseline committed before it has none).</summary>
    public static bool Has(TriggerProfile profile) =>
        profile.RankReadiness.Length == Length(profile.Strata, profile.Classes) && profile.RankThresholds.SequenceEqual(KeyRankTest.Thresholds);

    /// <summary>P(u &gt; θ) for u uniform on [low, high] (a point where they are equal).</summary>
    public static double Above(double low, double high, double theta) =>
        high <= low ? (low > theta ? 1 : 0) : Math.Clamp((high - theta) / (high - low), 0, 1);

    /// <summary>
    /// The chances per threshold for a record of the placement in the stratum: as served (<paramref name="confidence"/> null), or
    /// served c at <paramref name="confidence"/> (interpolated between <see cref="Confidences"/> in logits, held at the ends).
    /// </summary>
    public static void Chances(TriggerProfile profile, int stratum, int c, TriggerPlacement placement, double? confidence, Span<double> chances)
    {
        int row = ((stratum * profile.Classes) + c) * 2 + (int)placement;
        ReadOnlySpan<double> values = profile.RankReadiness.AsSpan(row * Columns, Columns);
        if (confidence is not { } x)
        {
            values[..T].CopyTo(chances);
            return;
        }

        double logit = Logit(x);
        int g = 0;
        while (g < Confidences.Length - 1 && logit > Logit(Confidences[g + 1]))
        {
            g++;
        }

        double left = Logit(Confidences[g]);
        double right = g + 1 < Confidences.Length ? Logit(Confidences[g + 1]) : left;
        double w = right > left ? Math.Clamp((logit - left) / (right - left), 0, 1) : 0;
        for (int t = 0; t < T; t++)
        {
            double a = values[(g + 1) * T + t];
            double b = g + 1 < Confidences.Length ? values[(g + 2) * T + t] : a;
            chances[t] = a + (w * (b - a));
        }
    }

    private static void Add(double[] table, int at, double[] below, int cell, int step)
    {
        int width = KeyRankTest.Steps + 1;
        double low = below[cell * width + step];
        double high = below[cell * width + step + 1];
        for (int t = 0; t < T; t++)
        {
            table[at + t] += Above(low, high, KeyRankTest.Thresholds[t]);
        }
    }

    private static double Logit(double p)
    {
        double clamped = Math.Clamp(p, 1e-7, 1 - 1e-7);
        return Math.Log(clamped / (1 - clamped));
    }
}
