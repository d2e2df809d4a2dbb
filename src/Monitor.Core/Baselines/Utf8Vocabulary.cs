namespace Monitor.Core.Baselines;

/// <summary>
/// Maps UTF-8 category values to table indices without decoding or allocating on lookup.
/// Hashing is randomised per process, so attacker-chosen values cannot be made to collide.
/// </summary>
public sealed class Utf8Vocabulary
{
    private readonly Dictionary<byte[], int> _indices;
    private readonly Dictionary<byte[], int>.AlternateLookup<ReadOnlySpan<byte>> _lookup;

    public Utf8Vocabulary(IReadOnlyList<string> values)
    {
        _indices = new Dictionary<byte[], int>(values.Count, ByteComparer.Instance);
        for (int i = 0; i < values.Count; i++)
        {
            _indices.TryAdd(System.Text.Encoding.UTF8.GetBytes(values[i]), i);
        }

        _lookup = _indices.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    public int Count => _indices.Count;

    /// <summary>Index of the value in the table, or −1.</summary>
    public int IndexOf(ReadOnlySpan<byte> value) => _lookup.TryGetValue(value, out int index) ? index : -1;

    private sealed class ByteComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode(obj.AsSpan());

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
