namespace Monitor.Core.Detectors;

/// <summary>
/// The inputs one candidate key has counted, up to a fixed number, by their <see cref="InputPrint"/>: a record whose
/// print matches a remembered one in any slot (the whole input, or all of it but one group of fields) repeats an input
/// already counted. When full, a new input takes the place of the least repeated one and inherits its count plus one
/// (Space-Saving, Metwally, Agrawal and El Abbadi 2005): an input repeated in more than 1/capacity of the key's records
/// is always remembered, however many other inputs pass. Memory: capacity × (slots × 4 + 4) bytes.
/// </summary>
internal sealed class RememberedInputs
{
    private readonly int _capacity;
    private readonly int _slots;
    private readonly uint[] _prints;
    private readonly int[] _counts;
    private int _used;

    /// <param name="capacity">Inputs remembered; 0 remembers none, and no record is a repeat.</param>
    /// <param name="slots">Hashes per print (<see cref="InputPrint.Slots"/>).</param>
    public RememberedInputs(int capacity, int slots)
    {
        _capacity = Math.Max(capacity, 0);
        _slots = Math.Max(slots, 1);
        _prints = new uint[_capacity * _slots];
        _counts = new int[_capacity];
    }

    /// <summary>Inputs remembered now.</summary>
    public int Count => _used;

    /// <summary>Whether the input was counted before (the repeat is counted on it); otherwise it is remembered.</summary>
    public bool Repeats(ReadOnlySpan<uint> print)
    {
        if (_capacity == 0)
        {
            return false;
        }

        for (int s = 0; s < _slots && s < print.Length; s++)
        {
            int found = _prints.AsSpan(s * _capacity, _used).IndexOf(print[s]);
            if (found >= 0)
            {
                _counts[found]++;
                return true;
            }
        }

        Remember(print);
        return false;
    }

    /// <summary>At the horizon the counts halve with the candidate's; the inputs stay remembered.</summary>
    public void Halve()
    {
        for (int e = 0; e < _used; e++)
        {
            _counts[e] /= 2;
        }
    }

    private void Remember(ReadOnlySpan<uint> print)
    {
        int entry = _used;
        int count = 1;
        if (_used < _capacity)
        {
            _used++;
        }
        else
        {
            entry = 0;
            for (int e = 1; e < _capacity; e++)
            {
                entry = _counts[e] < _counts[entry] ? e : entry;
            }

            count = _counts[entry] + 1;
        }

        _counts[entry] = count;
        for (int s = 0; s < _slots; s++)
        {
            _prints[s * _capacity + entry] = s < print.Length ? print[s] : 0;
        }
    }
}
