using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Monitor.Core.Detectors;

/// <summary>
/// The inputs one candidate key has counted, up to a fixed number, by their <see cref="InputPrint"/>: a record whose
/// print matches a remembered one repeats an input already counted. A print of leave-one-group-out hashes matches when
/// any of its 16-bit lanes does (all of the input but one group of fields is the same); a print of the whole input
/// matches whole. When full, a new input takes the place of the least repeated one and inherits its count plus one
/// (Space-Saving, Metwally, Agrawal and El Abbadi 2005): an input repeated in more than 1/capacity of the key's records
/// is always remembered, however many other inputs pass. The least repeated input is found by a cursor that goes round
/// the entries (constant time amortised), and a lookup compares four entries at once where the hardware has 256-bit
/// vectors. Memory: capacity × 12 bytes.
/// </summary>
internal sealed class RememberedInputs
{
    private const ulong LaneLows = 0x0001_0001_0001_0001UL;
    private const ulong LaneHighs = 0x8000_8000_8000_8000UL;

    private readonly int _capacity;
    private readonly ulong _lanes;
    private readonly ulong[] _prints;
    private readonly int[] _counts;
    private int _used;

    /// <summary>No remembered input's count is below this; the eviction cursor takes the next entry at it.</summary>
    private int _floor;
    private int _cursor;

    /// <param name="capacity">Inputs remembered; 0 remembers none, and no record is a repeat.</param>
    /// <param name="lanes">The print's lanes in use (<see cref="InputPrint.Lanes"/>): 16 bits set per lane; 0 when prints match only whole.</param>
    public RememberedInputs(int capacity, ulong lanes)
    {
        _capacity = Math.Max(capacity, 0);
        _lanes = lanes;
        _prints = new ulong[_capacity];
        _counts = new int[_capacity];
    }

    /// <summary>Inputs remembered now.</summary>
    public int Count => _used;

    /// <summary>Forgets every input (as if just constructed).</summary>
    public void Clear()
    {
        Array.Clear(_prints);
        Array.Clear(_counts);
        _used = 0;
        _floor = 0;
        _cursor = 0;
    }

    /// <summary>Whether the input was counted before (the repeat is counted on it); otherwise it is remembered.</summary>
    public bool Repeats(ulong print)
    {
        if (_capacity == 0)
        {
            return false;
        }

        int found = _lanes == 0 ? _prints.AsSpan(0, _used).IndexOf(print) : FindLane(print);
        if (found >= 0)
        {
            _counts[found]++;
            return true;
        }

        Remember(print);
        return false;
    }

    /// <summary>At the horizon the counts halve with the candidate's; the inputs stay remembered.</summary>
    /// <summary>The remembered inputs, their counts and the cursor, for a checkpoint.</summary>
    public (ulong[] Prints, int[] Counts, int Floor, int Cursor) Export() => (_prints[.._used], _counts[.._used], _floor, _cursor);

    /// <summary>Puts a checkpoint's inputs back (as many as fit).</summary>
    public void Restore(ulong[] prints, int[] counts, int floor, int cursor)
    {
        _used = Math.Min(Math.Min(prints.Length, counts.Length), _capacity);
        prints.AsSpan(0, _used).CopyTo(_prints);
        counts.AsSpan(0, _used).CopyTo(_counts);
        _floor = floor;
        _cursor = _used == 0 ? 0 : Math.Clamp(cursor, 0, _used - 1);
    }

    public void Halve()
    {
        for (int e = 0; e < _used; e++)
        {
            _counts[e] /= 2;
        }

        _floor = 0;
    }

    /// <summary>An entry that shares a lane in use with <paramref name="print"/>, or -1.</summary>
    private int FindLane(ulong print)
    {
        if (Vector256.IsHardwareAccelerated && _capacity % Vector256<ulong>.Count == 0)
        {
            ref ulong prints = ref MemoryMarshal.GetArrayDataReference(_prints);
            Vector256<ushort> wanted = Vector256.Create(print).AsUInt16();
            Vector256<ushort> lanes = Vector256.Create(_lanes).AsUInt16();
            for (int block = 0; block < _used; block += Vector256<ulong>.Count)
            {
                Vector256<ushort> equal = Vector256.Equals(Vector256.LoadUnsafe(ref prints, (nuint)block).AsUInt16(), wanted) & lanes;
                uint mask = equal.ExtractMostSignificantBits();
                int valid = _used - block;
                if (valid < Vector256<ulong>.Count)
                {
                    mask &= (1u << (4 * valid)) - 1;
                }

                if (mask != 0)
                {
                    return block + BitOperations.TrailingZeroCount(mask) / 4;
                }
            }

            return -1;
        }

        for (int e = 0; e < _used; e++)
        {
            // A lane of x is zero where the entry and the print agree; lanes not in use are set so they never do.
            ulong x = (_prints[e] ^ print) | ~_lanes;
            if (((x - LaneLows) & ~x & LaneHighs) != 0)
            {
                return e;
            }
        }

        return -1;
    }

    private void Remember(ulong print)
    {
        int entry = _used;
        int count = 1;
        if (_used < _capacity)
        {
            _used++;
        }
        else
        {
            entry = LeastRepeated();
            count = _counts[entry] + 1;
        }

        _counts[entry] = count;
        _prints[entry] = print;
    }

    /// <summary>
    /// An entry with the least count: the next one at the floor from the cursor on. A round without one raises the
    /// floor to the least count (counts only rise between halvings), so a round is scanned about once per capacity evictions.
    /// </summary>
    private int LeastRepeated()
    {
        while (true)
        {
            for (int step = 0; step < _capacity; step++)
            {
                int entry = _cursor;
                _cursor = entry + 1 == _capacity ? 0 : entry + 1;
                if (_counts[entry] <= _floor)
                {
                    return entry;
                }
            }

            _floor = int.MaxValue;
            for (int e = 0; e < _capacity; e++)
            {
                _floor = Math.Min(_floor, _counts[e]);
            }
        }
    }
}
