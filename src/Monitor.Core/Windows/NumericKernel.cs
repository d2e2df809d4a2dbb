using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Monitor.Core.Statistics;

namespace Monitor.Core.Windows;

/// <summary>
/// The per-window hot path for numeric channels: bins against irregular (sorted) edges, moments, missing
/// counts. Vectorised without scatter: for each edge, the count of values at or above it is accumulated per
/// lane with one compare and one subtract; every bin count is then the difference of two neighbouring
/// edge counts. Row-major records put a block of channels in the lanes (the edge table is transposed so a
/// block's edges load as one vector); a single column puts records in the lanes against broadcast edges.
/// Dispatches Vector512, Vector256, Vector128, then scalar on what the CPU accelerates. Allocation-free
/// after construction.
/// </summary>
public sealed partial class NumericKernel
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
}
