namespace Monitor.Core.Detectors;

/// <summary>
/// 2-means clustering (Lloyd's algorithm from a k-means++ start) of activation vectors, as in the
/// Activation Clustering defence (Chen et al., 2018): a poisoned class tends to split into a large
/// clean cluster and a small, well-separated poisoned one.
/// </summary>
public static class TwoMeans
{
    /// <summary>Share of the smaller cluster and the mean silhouette; (0.5, 0) for too few points.</summary>
    public static (double MinorityShare, double Silhouette) Split(IReadOnlyList<double[]> points, int seed)
    {
        int n = points.Count;
        if (n < 20)
        {
            return (0.5, 0);
        }

        var random = new Random(seed);
        double[] a = (double[])points[random.Next(n)].Clone();
        // k-means++: the second centre far from the first, drawn in proportion to squared distance.
        double[] weights = [.. points.Select(p => Distance2(p, a))];
        double pick = random.NextDouble() * weights.Sum();
        int second = 0;
        while (second < n - 1 && (pick -= weights[second]) > 0)
        {
            second++;
        }

        double[] b = (double[])points[second].Clone();
        var assignment = new bool[n];
        for (int iteration = 0; iteration < 50; iteration++)
        {
            bool changed = false;
            for (int i = 0; i < n; i++)
            {
                bool toB = Distance2(points[i], b) < Distance2(points[i], a);
                changed |= toB != assignment[i];
                assignment[i] = toB;
            }

            Recentre(points, assignment, false, a);
            Recentre(points, assignment, true, b);
            if (!changed && iteration > 0)
            {
                break;
            }
        }

        int inB = assignment.Count(x => x);
        double minority = Math.Min(inB, n - inB) / (double)n;
        if (inB == 0 || inB == n)
        {
            return (0, 0);
        }

        // Mean silhouette over at most 1,000 points (exact pairwise distances).
        int step = Math.Max(1, n / 1000);
        double sum = 0;
        int counted = 0;
        for (int i = 0; i < n; i += step)
        {
            double own = 0;
            double other = 0;
            int ownCount = 0;
            int otherCount = 0;
            for (int j = 0; j < n; j += step)
            {
                if (i == j)
                {
                    continue;
                }

                double d = Math.Sqrt(Distance2(points[i], points[j]));
                if (assignment[j] == assignment[i])
                {
                    own += d;
                    ownCount++;
                }
                else
                {
                    other += d;
                    otherCount++;
                }
            }

            if (ownCount > 0 && otherCount > 0)
            {
                double ai = own / ownCount;
                double bi = other / otherCount;
                sum += (bi - ai) / Math.Max(ai, bi);
                counted++;
            }
        }

        return (minority, counted > 0 ? sum / counted : 0);
    }

    private static void Recentre(IReadOnlyList<double[]> points, bool[] assignment, bool side, double[] centre)
    {
        Array.Clear(centre);
        int count = 0;
        for (int i = 0; i < points.Count; i++)
        {
            if (assignment[i] == side)
            {
                for (int j = 0; j < centre.Length; j++)
                {
                    centre[j] += points[i][j];
                }

                count++;
            }
        }

        for (int j = 0; count > 0 && j < centre.Length; j++)
        {
            centre[j] /= count;
        }
    }

    private static double Distance2(double[] x, double[] y)
    {
        double sum = 0;
        for (int j = 0; j < x.Length; j++)
        {
            double d = x[j] - y[j];
            sum += d * d;
        }

        return sum;
    }
}
