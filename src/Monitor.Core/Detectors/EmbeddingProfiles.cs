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

    /// <summary>Most tail directions kept for the direction test's null.</summary>
    public const int MaxTailDirections = 1000;

    /// <summary>The distance quantile beyond which a baseline record's direction is kept for the direction test's null.</summary>
    public const double TailQuantile = 0.95;

    /// <param name="tailOutput">Per record index: the class it was served beyond its stratum's tail threshold, or −1 (null: none known).</param>
    public static EmbeddingProfile? Build(ModelSchema schema, RecordBatch batch, int[] labels, int classes, int seed, Func<int, int>? tailOutput = null)
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

        profile = profile with
        {
            OutlierThreshold = threshold,
            ReconstructionThreshold = reconstruction,
            OutlierRate = Math.Max(above, 1) / (double)(batch.Count + 1),
            MinorityShare = minority,
            Silhouette = silhouette,
            SpectralShare = spectral,
        };
        (float[] directions, int[] outputs) = TailDirections(profile, batch, distances, errors, sorted, sortedErrors, tailOutput);
        return profile with { TailDirections = directions, TailOutputs = outputs };
    }

    /// <summary>The directions of the records beyond the 95th percentile of either distance (at most <see cref="MaxTailDirections"/>, in batch order).</summary>
    private static (float[] Directions, int[] Outputs) TailDirections(EmbeddingProfile profile, RecordBatch batch, double[] distances, double[] errors,
        double[] sorted, double[] sortedErrors, Func<int, int>? tailOutput)
    {
        double distance = Quantiles.OfSorted(sorted, TailQuantile);
        double error = Quantiles.OfSorted(sortedErrors, TailQuantile);
        int width = profile.DirectionWidth;
        var directions = new List<float>();
        var outputs = new List<int>();
        var projection = new double[profile.ComponentCount];
        var direction = new double[width];
        ReadOnlySpan<float> embeddings = batch.Embeddings.Span;
        for (int i = 0; i < batch.Count && outputs.Count < MaxTailDirections; i++)
        {
            if (distances[i] <= distance && errors[i] <= error)
            {
                continue;
            }

            profile.Distance(embeddings.Slice(i * profile.Width, profile.Width), projection, out double reconstruction);
            profile.Direction(projection, reconstruction, direction);
            foreach (double x in direction)
            {
                directions.Add((float)x);
            }

            outputs.Add(tailOutput?.Invoke(i) ?? -1);
        }

        return ([.. directions], [.. outputs]);
    }
}
