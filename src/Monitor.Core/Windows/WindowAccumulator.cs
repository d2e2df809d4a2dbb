using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>
/// The sufficient statistics of one window against one baseline: per numeric channel the bin counts
/// on the baseline's edges, moments, missing count and the sums of the values beyond the outer edges;
/// per categorical channel the bucket counts and missing count. Memory depends on channels × bins only.
/// </summary>
public sealed class WindowAccumulator
{
    private readonly NumericKernel _kernel;
    private readonly NumericTotals _numeric;

    /// <summary>Leading numeric channels that are input features: row-major in the batch, binned a block of channels at a time.</summary>
    private readonly int _inputChannels;

    public WindowAccumulator(CompiledBaseline baseline)
    {
        Baseline = baseline;
        BaselineProfile profile = baseline.Profile;
        _kernel = new NumericKernel([.. profile.Numeric.Select(p => p.Edges)], [.. profile.Numeric.Select(p => p.Mean)]);
        _numeric = _kernel.CreateTotals();
        while (_inputChannels < profile.Numeric.Length && profile.Numeric[_inputChannels].Channel.Source == NumericSource.Input
            && profile.Numeric[_inputChannels].Channel.SourceIndex == _inputChannels)
        {
            _inputChannels++;
        }

        CategoricalCounts = new long[profile.Categorical.Length][];
        CategoricalMissing = new long[profile.Categorical.Length];
        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            CategoricalCounts[c] = new long[profile.Categorical[c].Probabilities.Length];
        }
    }

    public CompiledBaseline Baseline { get; }

    /// <summary>The kernel path to use; null takes the widest the CPU accelerates (tests and benchmarks pin one).</summary>
    public KernelPath? Path { get; init; }

    /// <summary>Records added since the last <see cref="Clear"/>.</summary>
    public long Records { get; private set; }

    /// <summary>Per numeric channel, the count of values in each bin of the baseline's edges.</summary>
    public long[][] NumericCounts => _numeric.Counts;

    public long[] NumericMissing => _numeric.Missing;

    /// <summary>Sum of the values in the open bin below the first edge (their mean places that bin for Wasserstein).</summary>
    public double[] BelowSum => _numeric.Below;

    public double[] AboveSum => _numeric.Above;
    public long[][] CategoricalCounts { get; }
    public long[] CategoricalMissing { get; }

    /// <summary>Count, mean and sum of squared deviations of a numeric channel's finite values.</summary>
    public RunningMoments MomentsOf(int channel) => _numeric.Moments[channel];

    /// <summary>Adds records [start, start + count) of a prepared batch.</summary>
    public void Add(PreparedBatch batch, int start, int count)
    {
        if (count <= 0)
        {
            return;
        }

        int rows = InputRows(batch);
        if (rows > 0)
        {
            NumericView first = batch.Numeric[0];
            _kernel.AddRows(first.Data.Span, first.Offset + (start * first.Stride), first.Stride, count, rows, _numeric, Path);
        }

        for (int c = rows; c < batch.Numeric.Length; c++)
        {
            NumericView view = batch.Numeric[c];
            _kernel.AddColumn(c, view.Data.Span, view.Offset + (start * view.Stride), view.Stride, count, _numeric, Path);
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

    /// <summary>How many leading input channels the batch holds as consecutive columns of one row-major buffer.</summary>
    private int InputRows(PreparedBatch batch)
    {
        if (_inputChannels == 0)
        {
            return 0;
        }

        NumericView first = batch.Numeric[0];
        for (int c = 1; c < _inputChannels; c++)
        {
            NumericView view = batch.Numeric[c];
            if (view.Stride != first.Stride || view.Offset != first.Offset + c || !view.Data.Equals(first.Data))
            {
                return 0;
            }
        }

        return first.Stride >= _inputChannels ? _inputChannels : 0;
    }

    /// <summary>Adds another window's statistics on the same baseline (windows merge in any order).</summary>
    public void Merge(WindowAccumulator other)
    {
        if (!ReferenceEquals(other.Baseline, Baseline))
        {
            throw new ArgumentException("windows on different baselines cannot be merged", nameof(other));
        }

        _numeric.Add(other._numeric);
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
        _numeric.Clear();
        foreach (long[] counts in CategoricalCounts)
        {
            Array.Clear(counts);
        }

        Array.Clear(CategoricalMissing);
        Records = 0;
    }
}
