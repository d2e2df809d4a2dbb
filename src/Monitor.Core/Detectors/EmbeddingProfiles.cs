using MathNet.Numerics.LinearAlgebra;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>
/// D5's baseline: a PCA subspace of the mirrored embeddings (MathNet.Numerics eigen-decomposition of
/// the covariance), the null distribution of the squared Mahalanobis distance in it, and each class's
/// activation clustering (2-means) as the baseline saw it.
/// </summary>
public static class EmbeddingProfiles
{
    /// <summary>Most records used for the PCA and the clustering.</summary>
    public const int MaxRecords = 4000;

    /// <summary>Components kept: enough for this share of the variance, at most <see cref="MaxComponents"/>.</summary>
    public const double VarianceKept = 0.9;

    public const int MaxComponents = 16;

    public static EmbeddingProfile? Build(ModelSchema schema, RecordBatch batch, int[] labels, int classes, int seed)
    {
        int e = schema.EmbeddingWidth;
        if (e == 0 || batch.Embeddings.Length != batch.Count * e || batch.Count < 50)
        {
            return null;
        }

        var random = new Random(seed);
        int[] rows = [.. Enumerable.Range(0, batch.Count).OrderBy(_ => random.Next()).Take(MaxRecords)];
        ReadOnlySpan<float> embeddings = batch.Embeddings.Span;
        var mean = new double[e];
        foreach (int i in rows)
        {
            for (int j = 0; j < e; j++)
            {
                mean[j] += embeddings[i * e + j] / (double)rows.Length;
            }
        }

        Matrix<double> centered = Matrix<double>.Build.Dense(rows.Length, e);
        for (int r = 0; r < rows.Length; r++)
        {
            for (int j = 0; j < e; j++)
            {
                centered[r, j] = embeddings[rows[r] * e + j] - mean[j];
            }
        }

        Matrix<double> covariance = centered.TransposeThisAndMultiply(centered) / Math.Max(rows.Length - 1, 1);
        var evd = covariance.Evd(Symmetricity.Symmetric);
        double[] eigenvalues = [.. evd.EigenValues.Select(v => v.Real)];
        int[] order = [.. Enumerable.Range(0, e).OrderByDescending(j => eigenvalues[j])];
        double total = Math.Max(eigenvalues.Where(v => v > 0).Sum(), 1e-300);
        var kept = new List<int>();
        double explained = 0;
        foreach (int j in order)
        {
            if (eigenvalues[j] <= total * 1e-9 || kept.Count >= MaxComponents)
            {
                break;
            }

            kept.Add(j);
            explained += eigenvalues[j];
            if (explained >= VarianceKept * total)
            {
                break;
            }
        }

        var components = new double[kept.Count * e];
        for (int k = 0; k < kept.Count; k++)
        {
            for (int j = 0; j < e; j++)
            {
                components[k * e + j] = evd.EigenVectors[j, kept[k]];
            }
        }

        var profile = new EmbeddingProfile
        {
            Width = e,
            Mean = mean,
            Components = components,
            Variances = [.. kept.Select(j => eigenvalues[j])],
            OutlierThreshold = 0,
            OutlierRate = 0,
            MinorityShare = [],
            Silhouette = [],
        };

        var distances = new double[batch.Count];
        var projection = new double[kept.Count];
        var errors = new double[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            distances[i] = profile.Distance(embeddings.Slice(i * e, e), projection, out errors[i]);
        }

        double[] sorted = [.. distances.Order()];
        double threshold = Quantiles.OfSorted(sorted, 0.999);
        double[] sortedErrors = [.. errors.Order()];
        double reconstruction = Quantiles.OfSorted(sortedErrors, 0.999);
        int above = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            above += distances[i] > threshold || errors[i] > reconstruction ? 1 : 0;
        }
        var minority = new double[classes];
        var silhouette = new double[classes];
        var spectral = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            // Every record of the class (up to MaxRecords), so rare classes are clustered on all they have.
            var points = new List<double[]>();
            for (int i = 0; i < batch.Count && points.Count < MaxRecords; i++)
            {
                if (labels[i] == c)
                {
                    var point = new double[kept.Count];
                    profile.Distance(embeddings.Slice(i * e, e), point);
                    points.Add(point);
                }
            }

            (minority[c], silhouette[c]) = TwoMeans.Split(points, seed);
            spectral[c] = SpectralSignature.TopShare(points);
        }

        return profile with
        {
            OutlierThreshold = threshold,
            ReconstructionThreshold = reconstruction,
            OutlierRate = Math.Max(above, 1) / (double)(batch.Count + 1),
            MinorityShare = minority,
            Silhouette = silhouette,
            SpectralShare = spectral,
        };
    }
}

/// <summary>
/// The spectral signature (Tran, Li and Madry, 2018): poisoned examples leave a trace along the top
/// singular vector of a class's centred representations. Measured here as the share of the class's
/// variance that the top direction holds; a new subpopulation raises it.
/// </summary>
public static class SpectralSignature
{
    /// <summary>λ₁ / Σλ of the points' covariance; 0 for fewer than 20 points.</summary>
    public static double TopShare(IReadOnlyList<double[]> points)
    {
        if (points.Count < 20)
        {
            return 0;
        }

        int dims = points[0].Length;
        var mean = new double[dims];
        foreach (double[] point in points)
        {
            for (int j = 0; j < dims; j++)
            {
                mean[j] += point[j] / points.Count;
            }
        }

        Matrix<double> covariance = Matrix<double>.Build.Dense(dims, dims);
        foreach (double[] point in points)
        {
            for (int a = 0; a < dims; a++)
            {
                for (int b = 0; b < dims; b++)
                {
                    covariance[a, b] += (point[a] - mean[a]) * (point[b] - mean[b]);
                }
            }
        }

        double[] eigenvalues = [.. covariance.Evd(Symmetricity.Symmetric).EigenValues.Select(v => Math.Max(v.Real, 0))];
        double total = eigenvalues.Sum();
        return total > 0 ? eigenvalues.Max() / total : 0;
    }
}

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
