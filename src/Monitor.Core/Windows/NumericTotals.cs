using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>Which implementation of the numeric kernel runs.</summary>
public enum KernelPath
{
    Scalar,
    Vector128,
    Vector256,
    Vector512,
}

/// <summary>
/// What the numeric kernel accumulates per channel: bin counts on the channel's edges (bin k holds the
/// values with exactly k edges at or below them), finite and missing (NaN or infinite) counts, the moments
/// (count, mean, sum of squared deviations), and the sums of the values in the two open outer bins.
/// </summary>
public sealed class NumericTotals
{
    public NumericTotals(IReadOnlyList<float[]> edges)
    {
        int channels = edges.Count;
        Counts = new long[channels][];
        for (int c = 0; c < channels; c++)
        {
            Counts[c] = new long[edges[c].Length + 1];
        }

        Finite = new long[channels];
        Missing = new long[channels];
        Moments = new RunningMoments[channels];
        Below = new double[channels];
        Above = new double[channels];
    }

    public long[][] Counts { get; }
    public long[] Finite { get; }
    public long[] Missing { get; }
    /// <summary>Count, mean and sum of squared deviations of the finite values (chunks merged with Chan's formula).</summary>
    public RunningMoments[] Moments { get; }
    public double[] Below { get; }
    public double[] Above { get; }

    public void Add(NumericTotals other)
    {
        for (int c = 0; c < Counts.Length; c++)
        {
            for (int b = 0; b < Counts[c].Length; b++)
            {
                Counts[c][b] += other.Counts[c][b];
            }

            Finite[c] += other.Finite[c];
            Missing[c] += other.Missing[c];
            Moments[c].Merge(other.Moments[c]);
            Below[c] += other.Below[c];
            Above[c] += other.Above[c];
        }
    }

    public void Clear()
    {
        foreach (long[] counts in Counts)
        {
            Array.Clear(counts);
        }

        Array.Clear(Finite);
        Array.Clear(Missing);
        Array.Clear(Moments);
        Array.Clear(Below);
        Array.Clear(Above);
    }
}
