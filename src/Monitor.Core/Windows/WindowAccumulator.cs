using Monitor.Core.Baselines;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>
/// The sufficient statistics of one window against one baseline: per numeric channel the bin counts
/// on the baseline's edges, moments, missing count and the sums of the values beyond the outer edges;
/// per categorical channel the bucket counts and missing count. Memory depends on channels × bins only.
/// </summary>
public sealed class WindowAccumulator
{
    public WindowAccumulator(CompiledBaseline baseline)
    {
        Baseline = baseline;
        BaselineProfile profile = baseline.Profile;
        NumericCounts = new long[profile.Numeric.Length][];
        Moments = new RunningMoments[profile.Numeric.Length];
        NumericMissing = new long[profile.Numeric.Length];
        BelowSum = new double[profile.Numeric.Length];
        AboveSum = new double[profile.Numeric.Length];
        for (int c = 0; c < profile.Numeric.Length; c++)
        {
            NumericCounts[c] = new long[profile.Numeric[c].Probabilities.Length];
        }

        CategoricalCounts = new long[profile.Categorical.Length][];
        CategoricalMissing = new long[profile.Categorical.Length];
        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            CategoricalCounts[c] = new long[profile.Categorical[c].Probabilities.Length];
        }
    }

    public CompiledBaseline Baseline { get; }

    /// <summary>Records added since the last <see cref="Clear"/>.</summary>
    public long Records { get; private set; }

    public long[][] NumericCounts { get; }
    public RunningMoments[] Moments { get; }
    public long[] NumericMissing { get; }

    /// <summary>Sum of the values in the open bin below the first edge (their mean places that bin for Wasserstein).</summary>
    public double[] BelowSum { get; }

    public double[] AboveSum { get; }
    public long[][] CategoricalCounts { get; }
    public long[] CategoricalMissing { get; }

    /// <summary>Adds records [start, start + count) of a prepared batch.</summary>
    public void Add(PreparedBatch batch, int start, int count)
    {
        if (count <= 0)
        {
            return;
        }

        for (int c = 0; c < NumericCounts.Length; c++)
        {
            AddNumeric(c, batch.Numeric[c], start, count);
        }

        for (int c = 0; c < CategoricalCounts.Length; c++)
        {
            long[] counts = CategoricalCounts[c];
            ReadOnlySpan<int> codes = batch.Codes[c].AsSpan(start, count);
            long missing = 0;
            foreach (int code in codes)
            {
                if (code < 0)
                {
                    missing++;
                }
                else
                {
                    counts[code]++;
                }
            }

            CategoricalMissing[c] += missing;
        }

        Records += count;
    }

    private void AddNumeric(int c, NumericView view, int start, int count)
    {
        ReadOnlySpan<float> data = view.Data.Span;
        ReadOnlySpan<float> edges = Baseline.Profile.Numeric[c].Edges;
        long[] counts = NumericCounts[c];
        int last = counts.Length - 1;
        long finite = 0;
        long missing = 0;
        double sum = 0;
        double below = 0;
        double above = 0;
        int index = view.Offset + start * view.Stride;
        for (int i = 0; i < count; i++, index += view.Stride)
        {
            float v = data[index];
            if (!float.IsFinite(v))
            {
                missing++;
                continue;
            }

            int bin = Quantiles.BinOf(edges, v);
            counts[bin]++;
            finite++;
            sum += v;
            if (bin == 0)
            {
                below += v;
            }
            else if (bin == last)
            {
                above += v;
            }
        }

        NumericMissing[c] += missing;
        BelowSum[c] += below;
        AboveSum[c] += above;
        if (finite == 0)
        {
            return;
        }

        // Second pass for the batch's squared deviations, then Chan's merge into the window.
        double mean = sum / finite;
        double m2 = 0;
        index = view.Offset + start * view.Stride;
        for (int i = 0; i < count; i++, index += view.Stride)
        {
            float v = data[index];
            if (float.IsFinite(v))
            {
                double d = v - mean;
                m2 += d * d;
            }
        }

        Moments[c].Merge(new RunningMoments(finite, mean, m2));
    }

    /// <summary>Adds another window's statistics on the same baseline (windows merge in any order).</summary>
    public void Merge(WindowAccumulator other)
    {
        if (!ReferenceEquals(other.Baseline, Baseline))
        {
            throw new ArgumentException("windows on different baselines cannot be merged", nameof(other));
        }

        for (int c = 0; c < NumericCounts.Length; c++)
        {
            for (int b = 0; b < NumericCounts[c].Length; b++)
            {
                NumericCounts[c][b] += other.NumericCounts[c][b];
            }

            Moments[c].Merge(other.Moments[c]);
            NumericMissing[c] += other.NumericMissing[c];
            BelowSum[c] += other.BelowSum[c];
            AboveSum[c] += other.AboveSum[c];
        }

        for (int c = 0; c < CategoricalCounts.Length; c++)
        {
            for (int b = 0; b < CategoricalCounts[c].Length; b++)
            {
                CategoricalCounts[c][b] += other.CategoricalCounts[c][b];
            }

            CategoricalMissing[c] += other.CategoricalMissing[c];
        }

        Records += other.Records;
    }

    public void Clear()
    {
        foreach (long[] counts in NumericCounts)
        {
            Array.Clear(counts);
        }

        foreach (long[] counts in CategoricalCounts)
        {
            Array.Clear(counts);
        }

        Array.Clear(Moments);
        Array.Clear(NumericMissing);
        Array.Clear(BelowSum);
        Array.Clear(AboveSum);
        Array.Clear(CategoricalMissing);
        Records = 0;
    }
}
