namespace Monitor.Simulation;

/// <summary>The records a traffic generator triggered, by number, in order: how many so far, and how many among the first N.</summary>
public sealed class InjectionLog
{
    private readonly List<long> _at = [];

    /// <summary>Records triggered so far.</summary>
    public long Count => _at.Count;

    /// <summary>Logs that the record numbered <paramref name="record"/> (the generator's count after it) was triggered.</summary>
    public void Add(long record) => _at.Add(record);

    /// <summary>Triggered records among the first <paramref name="records"/> generated: a detection delay in occurrences.</summary>
    public long Within(long records)
    {
        int index = _at.BinarySearch(records);
        return index >= 0 ? index + 1 : ~index;
    }
}
