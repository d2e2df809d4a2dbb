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

/// <summary>
/// The per-window hot path for numeric channels: bins against irregular (sorted) edges, moments, missing
/// counts. Vectorised without scatter: for each edge, the count of values at or above it is accumulated per
/// lane with one compare and one subtract; every bin count is then the difference of two neighbouring
/// edge counts. Row-major records put a block of channels in the lanes (the edge table is transposed so a
/// block's edges load as one vector); a single column puts records in the lanes against broadcast edges.
/// Dispatches Vector512, Vector256, Vector128, then scalar on what the CPU accelerates. Allocation-free
/// after construction.
/// </summary>
public sealed class NumericKernel
{
    /// <summary>Records per chunk: the chunk's values stay in the first-level cache between passes, and float sums stay exact enough.</summary>
    private const int ChunkRecords = 64;

    /// <summary>Edges compared per pass over a chunk: their counters and the edges themselves stay in registers.</summary>
    private const int EdgesPerPass = 7;

    private const int MaxLanes = 16;

    private readonly float[][] _edges;
    private readonly float[] _shifts;
    private readonly float[] _topEdges;
    private readonly int _channels;
    private readonly int _passEdges;

    /// <summary>Edge j of channel c at [j * channels + c], padded with +∞ (which no finite value reaches) to whole passes.</summary>
    private readonly float[] _transposed;

    /// <summary>Per lane of the current block: values at or above each edge ([edge * lanes + lane]) and finite values.</summary>
    private readonly int[] _atOrAbove;
    private readonly int[] _finite;
    private readonly int[] _positiveInfinite;
    private readonly float[] _spill;

    /// <summary>Always 1; read at run time so the JIT keeps the masked add rather than folding it into a subtraction.</summary>
    private int _one = 1;

    /// <param name="edges">Sorted bin edges per channel.</param>
    /// <param name="shifts">Per channel, a value near its mean (the baseline's): the centre of a chunk's moment sums when its first value is missing.</param>
    public NumericKernel(IReadOnlyList<float[]> edges, IReadOnlyList<double> shifts)
    {
        if (edges.Count != shifts.Count)
        {
            throw new ArgumentException($"{edges.Count} channels of edges but {shifts.Count} shifts");
        }

        _channels = edges.Count;
        _edges = [.. edges];
        _shifts = new float[_channels + MaxLanes];
        _topEdges = new float[_channels + MaxLanes];
        for (int c = 0; c < _channels; c++)
        {
            _shifts[c] = double.IsFinite(shifts[c]) ? (float)shifts[c] : 0f;
            _topEdges[c] = _edges[c].Length > 0 ? _edges[c][^1] : float.PositiveInfinity;
        }

        int maxEdges = _edges.Length == 0 ? 0 : _edges.Max(e => e.Length);
        _passEdges = Math.Max(EdgesPerPass, (maxEdges + EdgesPerPass - 1) / EdgesPerPass * EdgesPerPass);
        _transposed = new float[(_passEdges * _channels) + MaxLanes];
        Array.Fill(_transposed, float.PositiveInfinity);
        for (int c = 0; c < _channels; c++)
        {
            for (int j = 0; j < _edges[c].Length; j++)
            {
                _transposed[(j * _channels) + c] = _edges[c][j];
            }
        }

        _atOrAbove = new int[_passEdges * MaxLanes];
        _finite = new int[MaxLanes];
        _positiveInfinite = new int[MaxLanes];
        _spill = new float[5 * MaxLanes];
    }

    /// <summary>The widest path the CPU accelerates.</summary>
    public static KernelPath BestPath =>
        Lanes512.IsAccelerated ? KernelPath.Vector512
        : Lanes256.IsAccelerated ? KernelPath.Vector256
        : Lanes128.IsAccelerated ? KernelPath.Vector128
        : KernelPath.Scalar;

    /// <summary>Whether a path can run here (the CPU accelerates its width).</summary>
    public static bool Supports(KernelPath path) => path switch
    {
        KernelPath.Vector512 => Lanes512.IsAccelerated,
        KernelPath.Vector256 => Lanes256.IsAccelerated,
        KernelPath.Vector128 => Lanes128.IsAccelerated,
        _ => true,
    };

    public NumericTotals CreateTotals() => new(_edges);

    /// <summary>
    /// Adds <paramref name="count"/> records whose first <paramref name="channels"/> channels sit at
    /// <c>data[offset + r * stride + c]</c> (row-major records).
    /// </summary>
    public void AddRows(ReadOnlySpan<float> data, int offset, int stride, int count, int channels, NumericTotals totals, KernelPath? path = null)
    {
        if (count <= 0 || channels == 0)
        {
            return;
        }

        if (channels < 0 || channels > _channels)
        {
            throw new ArgumentOutOfRangeException(nameof(channels), channels, $"the kernel has {_channels} channels");
        }

        if (stride < channels || offset < 0 || (long)offset + ((long)(count - 1) * stride) + channels > data.Length)
        {
            throw new ArgumentException($"{count} records of {channels} channels at offset {offset}, stride {stride} do not fit in {data.Length} values");
        }

        // A block of lanes must fit inside a record: take the widest path no wider than the channels.
        switch (Narrowest(path ?? BestPath, channels))
        {
            case KernelPath.Vector512:
                Rows<Lanes512, Vector512<float>, Vector512<int>>(data, offset, stride, count, channels, totals);
                break;
            case KernelPath.Vector256:
                Rows<Lanes256, Vector256<float>, Vector256<int>>(data, offset, stride, count, channels, totals);
                break;
            case KernelPath.Vector128:
                Rows<Lanes128, Vector128<float>, Vector128<int>>(data, offset, stride, count, channels, totals);
                break;
            default:
                for (int c = 0; c < channels; c++)
                {
                    ScalarColumn(c, data, offset + c, stride, count, totals);
                }

                break;
        }
    }



    /// <summary>Adds the values of one channel laid out at <c>data[offset + r * stride]</c>.</summary>
    public void AddColumn(int channel, ReadOnlySpan<float> data, int offset, int stride, int count, NumericTotals totals, KernelPath? path = null)
    {
        if (count <= 0)
        {
            return;
        }

        if ((uint)channel >= (uint)_channels)
        {
            throw new ArgumentOutOfRangeException(nameof(channel), channel, $"the kernel has {_channels} channels");
        }

        if (stride < 1 || offset < 0 || (long)offset + ((long)(count - 1) * stride) + 1 > data.Length)
        {
            throw new ArgumentException($"{count} values at offset {offset}, stride {stride} do not fit in {data.Length} values");
        }

        KernelPath chosen = stride == 1 ? Narrowest(path ?? BestPath, count) : KernelPath.Scalar;
        switch (chosen)
        {
            case KernelPath.Vector512:
                Column<Lanes512, Vector512<float>, Vector512<int>>(channel, data.Slice(offset, count), totals);
                break;
            case KernelPath.Vector256:
                Column<Lanes256, Vector256<float>, Vector256<int>>(channel, data.Slice(offset, count), totals);
                break;
            case KernelPath.Vector128:
                Column<Lanes128, Vector128<float>, Vector128<int>>(channel, data.Slice(offset, count), totals);
                break;
            default:
                ScalarColumn(channel, data, offset, stride, count, totals);
                break;
        }
    }

    /// <summary>The widest supported path at or below the requested one whose lanes fit in <paramref name="lanes"/> values.</summary>
    private static KernelPath Narrowest(KernelPath requested, int lanes)
    {
        if (!Supports(requested))
        {
            throw new PlatformNotSupportedException($"the CPU does not accelerate the {requested} path");
        }

        KernelPath path = requested;
        while (path != KernelPath.Scalar && LaneCount(path) > lanes)
        {
            path--;
        }

        return path;
    }

    private static int LaneCount(KernelPath path) => path switch
    {
        KernelPath.Vector512 => 16,
        KernelPath.Vector256 => 8,
        KernelPath.Vector128 => 4,
        _ => 1,
    };

    /// <summary>The reference: one value at a time, a binary search for its bin; moments in two passes in double.</summary>
    private void ScalarColumn(int c, ReadOnlySpan<float> data, int offset, int stride, int count, NumericTotals totals)
    {
        float[] edges = _edges[c];
        long[] counts = totals.Counts[c];
        int last = counts.Length - 1;
        long finite = 0;
        double sum = 0;
        double below = 0;
        double above = 0;
        int index = offset;
        for (int i = 0; i < count; i++, index += stride)
        {
            float v = data[index];
            if (!float.IsFinite(v))
            {
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

        totals.Finite[c] += finite;
        totals.Missing[c] += count - finite;
        totals.Below[c] += below;
        totals.Above[c] += above;
        if (finite == 0)
        {
            return;
        }

        double mean = sum / finite;
        double m2 = 0;
        index = offset;
        for (int i = 0; i < count; i++, index += stride)
        {
            float v = data[index];
            if (float.IsFinite(v))
            {
                m2 += (v - mean) * (v - mean);
            }
        }

        totals.Moments[c].Merge(new RunningMoments(finite, mean, m2));
    }

    private void Rows<TL, TF, TI>(ReadOnlySpan<float> data, int offset, int stride, int count, int channels, NumericTotals totals)
        where TL : ILanes<TF, TI>
        where TF : struct
        where TI : struct
    {
        int width = TL.Count;
        ref float source = ref MemoryMarshal.GetReference(data);
        ref float transposed = ref MemoryMarshal.GetArrayDataReference(_transposed);
        ref int counters = ref MemoryMarshal.GetArrayDataReference(_atOrAbove);
        for (int block = 0; block < channels; block += width)
        {
            // The last block overlaps the one before it when the channels are not a multiple of the width;
            // its lanes below `fresh` belong to that block: their counts are computed and ignored.
            int start = Math.Min(block, channels - width);
            int fresh = block - start;
            TF valid = TL.LanesFrom(fresh);
            Array.Clear(_atOrAbove);
            Array.Clear(_finite);
            Array.Clear(_positiveInfinite);
            for (int first = 0; first < count; first += ChunkRecords)
            {
                int records = Math.Min(ChunkRecords, count - first);
                ref float rows = ref Unsafe.Add(ref source, offset + (first * stride) + start);
                FirstPass<TL, TF, TI>(ref rows, stride, records, start, fresh, valid, ref Unsafe.Add(ref transposed, start), totals);
                for (int edge = EdgesPerPass; edge < _passEdges; edge += EdgesPerPass)
                {
                    CountPass<TL, TF, TI>(ref rows, stride, records, ref Unsafe.Add(ref transposed, (edge * _channels) + start), _channels,
                        ref Unsafe.Add(ref counters, edge * width));
                }
            }

            for (int lane = fresh; lane < width; lane++)
            {
                AddBins(start + lane, lane, width, totals);
            }
        }
    }

    /// <summary>
    /// Bin k of a lane's channel gains (at or above edge k−1) − (at or above edge k). NaN and −∞ never
    /// compare at or above an edge; +∞ does for every edge (the padding too), so its count is taken off each.
    /// </summary>
    private void AddBins(int c, int lane, int width, NumericTotals totals)
    {
        long[] counts = totals.Counts[c];
        int infinite = _positiveInfinite[lane];
        int previous = _finite[lane];
        for (int k = 0; k < counts.Length; k++)
        {
            int atOrAbove = k < _passEdges ? _atOrAbove[(k * width) + lane] - infinite : 0;
            counts[k] += previous - atOrAbove;
            previous = atOrAbove;
        }

        totals.Finite[c] += _finite[lane];
    }

    /// <summary>
    /// First pass over a chunk of records for one block of channels: the moments (as deviations from the
    /// shift), the sums of the outer bins, the finite and +∞ counts, and the counts at or above the first seven edges.
    /// </summary>
    private void FirstPass<TL, TF, TI>(ref float rows, int stride, int records, int start, int fresh, TF valid, ref float edges, NumericTotals totals)
        where TL : ILanes<TF, TI>
        where TF : struct
        where TI : struct
    {
        int width = TL.Count;
        int edgeStride = _channels;
        ref int counters = ref MemoryMarshal.GetArrayDataReference(_atOrAbove);
        // Deviations are taken from the chunk's first record (its baseline mean where that is not finite), so the
        // float sums stay small however far the live values have moved: no cancellation in the variance.
        TF head = TL.Load(ref rows, 0);
        TF shift = TL.Select(TL.IsFinite(head), head, TL.Load(ref MemoryMarshal.GetArrayDataReference(_shifts), start));
        TF top = TL.Load(ref MemoryMarshal.GetArrayDataReference(_topEdges), start);
        TF infinity = TL.Broadcast(float.PositiveInfinity);
        TF zero = TL.Broadcast(0f);
        TI one = Volatile.Read(ref _one) == 1 ? TL.IntOne : default;
        TF e0 = TL.Load(ref edges, 0);
        TF e1 = TL.Load(ref edges, edgeStride);
        TF e2 = TL.Load(ref edges, 2 * edgeStride);
        TF e3 = TL.Load(ref edges, 3 * edgeStride);
        TF e4 = TL.Load(ref edges, 4 * edgeStride);
        TF e5 = TL.Load(ref edges, 5 * edgeStride);
        TF e6 = TL.Load(ref edges, 6 * edgeStride);
        TI c0 = TL.LoadInt(ref counters, 0);
        TI c1 = TL.LoadInt(ref counters, width);
        TI c2 = TL.LoadInt(ref counters, 2 * width);
        TI c3 = TL.LoadInt(ref counters, 3 * width);
        TI c4 = TL.LoadInt(ref counters, 4 * width);
        TI c5 = TL.LoadInt(ref counters, 5 * width);
        TI c6 = TL.LoadInt(ref counters, 6 * width);
        TF shifted = zero;
        TF squares = zero;
        TF below = zero;
        TF above = zero;
        TI finite = default;
        TI positiveInfinite = default;
        for (int r = 0; r < records; r++)
        {
            TF v = TL.Load(ref rows, (nint)r * stride);
            TF isFinite = TL.And(TL.IsFinite(v), valid);
            finite = TL.AddWhere(finite, isFinite, one);
            positiveInfinite = TL.AddWhere(positiveInfinite, TL.GreaterThanOrEqual(v, infinity), one);
            TF deviation = TL.Subtract(v, shift);
            shifted = TL.AddWhere(shifted, isFinite, deviation);
            squares = TL.AddSquareWhere(squares, isFinite, deviation);
            TF atOrAboveFirst = TL.GreaterThanOrEqual(v, e0);
            below = TL.AddWhere(below, TL.AndNot(isFinite, atOrAboveFirst), v);
            above = TL.AddWhere(above, TL.And(isFinite, TL.GreaterThanOrEqual(v, top)), v);
            c0 = TL.AddWhere(c0, atOrAboveFirst, one);
            c1 = TL.AddWhere(c1, TL.GreaterThanOrEqual(v, e1), one);
            c2 = TL.AddWhere(c2, TL.GreaterThanOrEqual(v, e2), one);
            c3 = TL.AddWhere(c3, TL.GreaterThanOrEqual(v, e3), one);
            c4 = TL.AddWhere(c4, TL.GreaterThanOrEqual(v, e4), one);
            c5 = TL.AddWhere(c5, TL.GreaterThanOrEqual(v, e5), one);
            c6 = TL.AddWhere(c6, TL.GreaterThanOrEqual(v, e6), one);
        }

        TL.StoreInt(c0, ref counters, 0);
        TL.StoreInt(c1, ref counters, width);
        TL.StoreInt(c2, ref counters, 2 * width);
        TL.StoreInt(c3, ref counters, 3 * width);
        TL.StoreInt(c4, ref counters, 4 * width);
        TL.StoreInt(c5, ref counters, 5 * width);
        TL.StoreInt(c6, ref counters, 6 * width);
        ref float spill = ref MemoryMarshal.GetArrayDataReference(_spill);
        TL.Store(shifted, ref spill, 0);
        TL.Store(squares, ref spill, width);
        TL.Store(below, ref spill, 2 * width);
        TL.Store(above, ref spill, 3 * width);
        TL.Store(shift, ref spill, 4 * width);
        Span<int> counts = stackalloc int[2 * MaxLanes];
        TL.StoreInt(finite, ref counts[0], 0);
        TL.StoreInt(positiveInfinite, ref counts[0], width);
        for (int lane = fresh; lane < width; lane++)
        {
            int c = start + lane;
            totals.Below[c] += _spill[(2 * width) + lane];
            totals.Above[c] += _spill[(3 * width) + lane];
            totals.Missing[c] += records - counts[lane];
            _finite[lane] += counts[lane];
            _positiveInfinite[lane] += counts[width + lane];
            MergeChunk(totals, c, counts[lane], _spill[(4 * width) + lane], _spill[lane], _spill[width + lane]);
        }
    }

    /// <summary>Merges a chunk's moments, summed as float deviations from <paramref name="shift"/>, into a channel's totals.</summary>
    private static void MergeChunk(NumericTotals totals, int c, long n, double shift, double shifted, double squares)
    {
        if (n > 0)
        {
            totals.Moments[c].Merge(new RunningMoments(n, shift + (shifted / n), Math.Max(0, squares - (shifted * shifted / n))));
        }
    }

    /// <summary>One more pass over a chunk of records for seven further edges: per lane, the values at or above each.</summary>
    private void CountPass<TL, TF, TI>(ref float rows, int stride, int records, ref float edges, int edgeStride, ref int counters)
        where TL : ILanes<TF, TI>
        where TF : struct
        where TI : struct
    {
        int width = TL.Count;
        TF e0 = TL.Load(ref edges, 0);
        TF e1 = TL.Load(ref edges, edgeStride);
        TF e2 = TL.Load(ref edges, 2 * edgeStride);
        TF e3 = TL.Load(ref edges, 3 * edgeStride);
        TF e4 = TL.Load(ref edges, 4 * edgeStride);
        TF e5 = TL.Load(ref edges, 5 * edgeStride);
        TF e6 = TL.Load(ref edges, 6 * edgeStride);
        TI c0 = TL.LoadInt(ref counters, 0);
        TI c1 = TL.LoadInt(ref counters, width);
        TI c2 = TL.LoadInt(ref counters, 2 * width);
        TI c3 = TL.LoadInt(ref counters, 3 * width);
        TI c4 = TL.LoadInt(ref counters, 4 * width);
        TI c5 = TL.LoadInt(ref counters, 5 * width);
        TI c6 = TL.LoadInt(ref counters, 6 * width);
        TI one = Volatile.Read(ref _one) == 1 ? TL.IntOne : default;
        for (int r = 0; r < records; r++)
        {
            TF v = TL.Load(ref rows, (nint)r * stride);
            c0 = TL.AddWhere(c0, TL.GreaterThanOrEqual(v, e0), one);
            c1 = TL.AddWhere(c1, TL.GreaterThanOrEqual(v, e1), one);
            c2 = TL.AddWhere(c2, TL.GreaterThanOrEqual(v, e2), one);
            c3 = TL.AddWhere(c3, TL.GreaterThanOrEqual(v, e3), one);
            c4 = TL.AddWhere(c4, TL.GreaterThanOrEqual(v, e4), one);
            c5 = TL.AddWhere(c5, TL.GreaterThanOrEqual(v, e5), one);
            c6 = TL.AddWhere(c6, TL.GreaterThanOrEqual(v, e6), one);
        }

        TL.StoreInt(c0, ref counters, 0);
        TL.StoreInt(c1, ref counters, width);
        TL.StoreInt(c2, ref counters, 2 * width);
        TL.StoreInt(c3, ref counters, 3 * width);
        TL.StoreInt(c4, ref counters, 4 * width);
        TL.StoreInt(c5, ref counters, 5 * width);
        TL.StoreInt(c6, ref counters, 6 * width);
    }

    /// <summary>
    /// One channel's values in the lanes (records side by side) against broadcast edges. The last vector
    /// overlaps the one before it; its lanes already counted are masked out.
    /// </summary>
    private void Column<TL, TF, TI>(int channel, ReadOnlySpan<float> values, NumericTotals totals)
        where TL : ILanes<TF, TI>
        where TF : struct
        where TI : struct
    {
        int width = TL.Count;
        int n = values.Length;
        ref float source = ref MemoryMarshal.GetReference(values);
        float[] edges = _edges[channel];
        TF bottom = TL.Broadcast(edges.Length > 0 ? edges[0] : float.PositiveInfinity);
        TF top = TL.Broadcast(_topEdges[channel]);
        TF zero = TL.Broadcast(0f);
        TF all = TL.LanesFrom(0);
        TI one = Volatile.Read(ref _one) == 1 ? TL.IntOne : default;
        int lastStart = n - width;
        TF lastValid = TL.LanesFrom(width - (n % width == 0 ? width : n % width));
        long finite = 0;
        double below = 0;
        double above = 0;
        for (int chunk = 0; chunk < n; chunk += ChunkRecords * width)
        {
            int end = Math.Min(n, chunk + (ChunkRecords * width));
            float head = values[chunk];
            float center = float.IsFinite(head) ? head : _shifts[channel];
            TF shift = TL.Broadcast(center);
            TF sumShifted = zero;
            TF sumSquares = zero;
            TF sumBelow = zero;
            TF sumAbove = zero;
            TI finiteLanes = default;
            for (int i = chunk; i < end; i += width)
            {
                bool tail = i > lastStart;
                TF v = TL.Load(ref source, tail ? lastStart : i);
                TF isFinite = TL.And(TL.IsFinite(v), tail ? lastValid : all);
                finiteLanes = TL.AddWhere(finiteLanes, isFinite, one);
                TF deviation = TL.Subtract(v, shift);
                sumShifted = TL.AddWhere(sumShifted, isFinite, deviation);
                sumSquares = TL.AddSquareWhere(sumSquares, isFinite, deviation);
                sumBelow = TL.AddWhere(sumBelow, TL.AndNot(isFinite, TL.GreaterThanOrEqual(v, bottom)), v);
                sumAbove = TL.AddWhere(sumAbove, TL.And(isFinite, TL.GreaterThanOrEqual(v, top)), v);
            }

            int chunkFinite = TL.Sum(finiteLanes);
            finite += chunkFinite;
            MergeChunk(totals, channel, chunkFinite, center, TL.Sum(sumShifted), TL.Sum(sumSquares));
            below += TL.Sum(sumBelow);
            above += TL.Sum(sumAbove);
        }

        long[] counts = totals.Counts[channel];
        long previous = finite;
        for (int k = 0; k < edges.Length; k++)
        {
            TF edge = TL.Broadcast(edges[k]);
            TI atOrAbove = default;
            for (int i = 0; i < n; i += width)
            {
                bool tail = i > lastStart;
                TF v = TL.Load(ref source, tail ? lastStart : i);
                TF counted = TL.And(TL.GreaterThanOrEqual(v, edge), TL.IsFinite(v));
                atOrAbove = TL.AddWhere(atOrAbove, tail ? TL.And(counted, lastValid) : counted, one);
            }

            long total = TL.Sum(atOrAbove);
            counts[k] += previous - total;
            previous = total;
        }

        counts[^1] += previous;
        totals.Finite[channel] += finite;
        totals.Missing[channel] += n - finite;
        totals.Below[channel] += below;
        totals.Above[channel] += above;
    }
}
