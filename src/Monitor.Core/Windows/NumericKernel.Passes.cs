using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>The vectorised passes of the numeric kernel: rows in chunks, first pass (moments and bins), counting passes, columns.</summary>
public sealed partial class NumericKernel
{
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
