using MathNet.Numerics.LinearAlgebra;

namespace Monitor.Core.Detectors;

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
