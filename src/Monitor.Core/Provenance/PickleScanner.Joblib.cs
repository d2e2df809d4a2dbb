using System.Globalization;
using static Monitor.Core.Provenance.Sym;

namespace Monitor.Core.Provenance;

// joblib's arrays: the bytes after each NumpyArrayWrapper are data (or an object array's own pickle), not opcodes.
internal sealed partial class PickleScanner
{
    // joblib's NumpyPickler writes each array's bytes right after the BUILD of its wrapper: a pickle of its
    // own (protocol 2) for object arrays, otherwise an alignment padding byte and padding (when the state has
    // numpy_array_alignment_bytes) and then shape-product times itemsize raw bytes.
    private long JoblibArrayBytes(Instance wrapper, ReadOnlyMemory<byte> memory, long pos, long at, string? entry, int depth, List<Tracked> tracked)
    {
        SawJoblib = true;
        var state = wrapper.State as Dict;
        Sym? shape = state?.Get("shape");
        Sym? dtype = state?.Get("dtype");
        long? itemSize = ItemSize(dtype, out bool hasObject);
        if (hasObject)
        {
            if (depth + 1 > limits.MaxNesting)
            {
                Add(FindingSeverity.Blocking, $"joblib object array at byte {pos} not scanned: deeper than ScanLimits.MaxNesting ({limits.MaxNesting})",
                    null, "LIMIT", pos, entry);
                return -1;
            }

            long end = ScanOne(memory, pos, entry, depth + 1, tracked);
            return end < 0 ? -1 : end - pos;
        }

        long count = 1;
        bool known = shape is TupleSym dims;
        if (shape is TupleSym st)
        {
            foreach (Sym d in st.Items)
            {
                if (d is Int n && n.Value >= 0 && (n.Value == 0 || count <= long.MaxValue / n.Value))
                {
                    count *= n.Value;
                }
                else
                {
                    known = false;
                }
            }
        }

        if (!known || itemSize is null || (count > 0 && itemSize > long.MaxValue / count))
        {
            Malformed("joblib NumpyArrayWrapper whose shape or dtype cannot be read; its array bytes cannot be skipped", "BUILD", at, entry);
            return -1;
        }

        long skip = 0;
        if (state!.Get("numpy_array_alignment_bytes") is Int)
        {
            if (pos >= memory.Length)
            {
                Malformed("truncated: joblib array padding runs past the end", "BUILD", at, entry);
                return -1;
            }

            skip = 1 + memory.Span[(int)pos];
        }

        skip += count * itemSize.Value;
        if (skip > memory.Length - pos)
        {
            Malformed($"truncated: joblib array of {count} items of {itemSize} bytes runs past the end", "BUILD", at, entry);
            return -1;
        }

        return skip;
    }

    // numpy.dtype is pickled as dtype(code, False, True) then BUILD (3, byteorder, subarray, names, fields, elsize, alignment, flags).
    private static long? ItemSize(Sym? dtype, out bool hasObject)
    {
        hasObject = false;
        if (dtype is not Instance { Class.Tracked.Import.FullName: "numpy.dtype" } d
            || d.Args is not TupleSym { Items.Count: > 0 } args || args.Items[0] is not Str code || code.Value.Length == 0)
        {
            return null;
        }

        if (d.State is TupleSym state && state.Items.Count >= 6)
        {
            if (state.Items[2] is not Other || state.Items[3] is not Other)
            {
                return null; // sub-arrays and structured types: not sized here, fail closed
            }

            if (state.Items[5] is Int { Value: > 0 } elsize)
            {
                hasObject = code.Value[0] == 'O';
                return elsize.Value;
            }
        }

        hasObject = code.Value[0] == 'O';
        return long.TryParse(code.Value.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out long size) && size > 0 ? size : null;
    }
}
