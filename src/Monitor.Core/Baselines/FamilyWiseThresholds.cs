namespace Monitor.Core.Baselines;

/// <summary>The thresholds chosen for a family of statistics, and what they mean.</summary>
public sealed record ThresholdSelection(double[] Thresholds, double Quantile, double RealisedFalseAlarmRate);

/// <summary>
/// Chooses one threshold per statistic so that, over bootstrap windows of unchanged traffic, the share
/// of windows in which <em>any</em> statistic exceeds its threshold is at most α (a max-statistic
/// correction in the manner of Westfall and Young: it accounts for the statistics' correlation,
/// unlike Bonferroni). Every statistic's threshold sits at the same quantile of its own bootstrap
/// distribution; the quantile is the lowest one that keeps the whole-window rate within α.
/// </summary>
public static class FamilyWiseThresholds
{
    /// <param name="values">windows × slots statistic values, row-major.</param>
    public static ThresholdSelection Select(ReadOnlySpan<double> values, int windows, int slots, double alpha)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windows, 1);
        if (values.Length != windows * slots)
        {
            throw new ArgumentException($"expected {windows} × {slots} values, got {values.Length}", nameof(values));
        }

        // Sorted bootstrap distribution of each statistic.
        var sorted = new double[slots][];
        for (int s = 0; s < slots; s++)
        {
            var column = new double[windows];
            for (int w = 0; w < windows; w++)
            {
                column[w] = values[w * slots + s];
            }

            Array.Sort(column);
            sorted[s] = column;
        }

        // The k-th order statistic of each column is the threshold; the alarm rate falls as k rises.
        int lo = 1;
        int hi = windows;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (AlarmRate(values, sorted, windows, slots, mid) <= alpha)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        var thresholds = new double[slots];
        for (int s = 0; s < slots; s++)
        {
            thresholds[s] = sorted[s][lo - 1];
        }

        return new ThresholdSelection(thresholds, (double)lo / windows, AlarmRate(values, sorted, windows, slots, lo));
    }

    private static double AlarmRate(ReadOnlySpan<double> values, double[][] sorted, int windows, int slots, int k)
    {
        int alarms = 0;
        for (int w = 0; w < windows; w++)
        {
            ReadOnlySpan<double> row = values.Slice(w * slots, slots);
            for (int s = 0; s < slots; s++)
            {
                if (row[s] > sorted[s][k - 1])
                {
                    alarms++;
                    break;
                }
            }
        }

        return (double)alarms / windows;
    }
}
