namespace Monitor.Core.Statistics;

/// <summary>Empirical quantiles.</summary>
public static class Quantiles
{
    /// <summary>
    /// Quantile of sorted values by linear interpolation between order statistics
    /// (Hyndman and Fan type 7, numpy's default): h = (n − 1)p.
    /// </summary>
    public static double OfSorted(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.IsEmpty)
        {
            throw new ArgumentException("no values", nameof(sorted));
        }

        double h = (sorted.Length - 1) * Math.Clamp(p, 0.0, 1.0);
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>
    /// Bin edges at the quantiles 0, 1/bins, …, 1 of the values, rounded to float, with duplicates
    /// collapsed and the top edge moved just above the maximum so that every value lies below it.
    /// Values are binned by the number of edges at or below them: bin 0 is open below the minimum,
    /// the last bin is open above the maximum.
    /// </summary>
    public static float[] BinEdges(ReadOnlySpan<double> sorted, int bins)
    {
        if (sorted.IsEmpty)
        {
            return [];
        }

        var edges = new List<float>(bins + 1);
        for (int i = 0; i <= bins; i++)
        {
            float edge = (float)OfSorted(sorted, (double)i / bins);
            if (i == bins)
            {
                edge = MathF.BitIncrement((float)sorted[^1]);
            }

            if (edges.Count == 0 || edge > edges[^1])
            {
                edges.Add(edge);
            }
        }

        if (edges.Count == 1)
        {
            edges.Add(MathF.BitIncrement(edges[0]));
        }

        return [.. edges];
    }

    /// <summary>Number of edges at or below the value: its bin index against <see cref="BinEdges"/>.</summary>
    public static int BinOf(ReadOnlySpan<float> edges, float value)
    {
        int lo = 0;
        int hi = edges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (edges[mid] <= value)
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
