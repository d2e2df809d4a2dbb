namespace Monitor.Core.Detectors;

/// <summary>
/// Count-min sketch with conservative update (Estan and Varghese): an increment raises only the
/// counters that hold the current minimum, which keeps overestimates small. Memory is fixed by
/// width × depth; estimates never undercount.
/// </summary>
public sealed class CountMinSketch
{
    private readonly uint[] _counters;
    private readonly int _mask;

    public CountMinSketch(int width, int depth)
    {
        if (width < 16 || (width & (width - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, "width must be a power of two of at least 16");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        Width = width;
        Depth = depth;
        _mask = width - 1;
        _counters = new uint[width * depth];
    }

    public int Width { get; }
    public int Depth { get; }

    /// <summary>Counters held: memory is this times four bytes, whatever the traffic.</summary>
    public int Size => _counters.Length;

    /// <summary>Adds one occurrence and returns the new estimate.</summary>
    public uint Increment(ulong hash)
    {
        uint h1 = (uint)hash;
        uint h2 = (uint)(hash >> 32) | 1;
        uint min = uint.MaxValue;
        for (int row = 0; row < Depth; row++)
        {
            min = Math.Min(min, _counters[row * Width + (int)((h1 + (uint)row * h2) & (uint)_mask)]);
        }

        uint target = min == uint.MaxValue ? min : min + 1;
        for (int row = 0; row < Depth; row++)
        {
            ref uint counter = ref _counters[row * Width + (int)((h1 + (uint)row * h2) & (uint)_mask)];
            if (counter < target)
            {
                counter = target;
            }
        }

        return target;
    }

    public uint Estimate(ulong hash)
    {
        uint h1 = (uint)hash;
        uint h2 = (uint)(hash >> 32) | 1;
        uint min = uint.MaxValue;
        for (int row = 0; row < Depth; row++)
        {
            min = Math.Min(min, _counters[row * Width + (int)((h1 + (uint)row * h2) & (uint)_mask)]);
        }

        return min;
    }

    public void Clear() => Array.Clear(_counters);
}

/// <summary>
/// Space-Saving heavy hitters (Metwally, Agrawal and El Abbadi) over key hashes, with a count-min
/// admission filter in the manner of TinyLFU: a key not in the table replaces the smallest entry
/// only if the sketch has seen it more often than that entry's count. A flood of unique keys, each
/// seen once, therefore cannot push out keys that recur. The table never grows past its capacity.
/// </summary>
public sealed class SpaceSaving
{
    private readonly ulong[] _keys;
    private readonly long[] _counts;
    private readonly long[] _errors;
    private readonly int[] _heap;
    private readonly int[] _position;
    private readonly Dictionary<ulong, int> _slots;
    private int _size;

    public SpaceSaving(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _keys = new ulong[capacity];
        _counts = new long[capacity];
        _errors = new long[capacity];
        _heap = new int[capacity];
        _position = new int[capacity];
        _slots = new Dictionary<ulong, int>(capacity);
    }

    public int Capacity { get; }
    public int Count => _size;

    /// <summary>Smallest count in a full table (0 while it has room).</summary>
    public long Minimum => _size < Capacity ? 0 : _counts[_heap[0]];

    /// <summary>
    /// Counts one occurrence of a key; <paramref name="sketchEstimate"/> is the admission sketch's
    /// count of it (this occurrence included). Returns the key's guaranteed count (count − error),
    /// or 0 when the key was not admitted.
    /// </summary>
    public long Offer(ulong key, long sketchEstimate)
    {
        if (_slots.TryGetValue(key, out int slot))
        {
            _counts[slot]++;
            SiftDown(_position[slot]);
            return _counts[slot] - _errors[slot];
        }

        if (_size < Capacity)
        {
            slot = _size;
            _keys[slot] = key;
            _counts[slot] = 1;
            _errors[slot] = 0;
            _heap[_size] = slot;
            _position[slot] = _size;
            _size++;
            _slots[key] = slot;
            SiftUp(_size - 1);
            return 1;
        }

        int weakest = _heap[0];
        long minimum = _counts[weakest];
        if (sketchEstimate <= minimum)
        {
            return 0;
        }

        _slots.Remove(_keys[weakest]);
        _keys[weakest] = key;
        _errors[weakest] = minimum;
        _counts[weakest] = minimum + 1;
        _slots[key] = weakest;
        SiftDown(0);
        return 1;
    }

    /// <summary>The key's count and error, or (0, 0) when it is not in the table.</summary>
    public (long Count, long Error) Get(ulong key) =>
        _slots.TryGetValue(key, out int slot) ? (_counts[slot], _errors[slot]) : (0, 0);

    public bool Contains(ulong key) => _slots.ContainsKey(key);

    public void Clear()
    {
        _slots.Clear();
        _size = 0;
    }

    /// <summary>The entries counted at least <paramref name="minCount"/> times, at most <paramref name="limit"/> of the largest, for a checkpoint.</summary>
    public HeavyHitter[] Entries(long minCount, int limit) =>
        [.. Enumerable.Range(0, _size).Where(slot => _counts[slot] >= minCount).OrderByDescending(slot => _counts[slot]).Take(limit)
            .Select(slot => new HeavyHitter(_keys[slot], _counts[slot], _errors[slot]))];

    /// <summary>Puts a checkpoint's entries back (into an empty table, as many as fit).</summary>
    public void Restore(IEnumerable<HeavyHitter> entries)
    {
        Clear();
        foreach (HeavyHitter entry in entries)
        {
            if (_size == Capacity || _slots.ContainsKey(entry.Key))
            {
                continue;
            }

            int slot = _size;
            _keys[slot] = entry.Key;
            _counts[slot] = entry.Count;
            _errors[slot] = entry.Error;
            _heap[_size] = slot;
            _position[slot] = _size;
            _size++;
            _slots[entry.Key] = slot;
            SiftUp(_size - 1);
        }
    }

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (_counts[_heap[parent]] <= _counts[_heap[i]])
            {
                return;
            }

            Swap(i, parent);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= _size)
            {
                return;
            }

            int smallest = left + 1 < _size && _counts[_heap[left + 1]] < _counts[_heap[left]] ? left + 1 : left;
            if (_counts[_heap[i]] <= _counts[_heap[smallest]])
            {
                return;
            }

            Swap(i, smallest);
            i = smallest;
        }
    }

    private void Swap(int a, int b)
    {
        (_heap[a], _heap[b]) = (_heap[b], _heap[a]);
        _position[_heap[a]] = a;
        _position[_heap[b]] = b;
    }
}

/// <summary>A heavy-hitter table's entry: a key, its count and the count's possible overestimate.</summary>
public readonly record struct HeavyHitter(ulong Key, long Count, long Error);
