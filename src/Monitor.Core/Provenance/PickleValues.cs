namespace Monitor.Core.Provenance;

/// <summary>An import seen in a stream, its class on the lists, and whether something called or stored it.</summary>
internal sealed class Tracked(PickleImport import, ImportClass cls)
{
    public PickleImport Import { get; } = import;
    public ImportClass Class { get; } = cls;
    public bool Called { get; set; }
}

/// <summary>
/// What the symbolic pickle machine keeps on its stack and in its memo: only as much of each value as the
/// scanner needs to resolve imports, see what is called, and size joblib's arrays.
/// </summary>
internal abstract class Sym
{
    /// <summary>Any value whose content does not matter (floats, None, booleans, persistent ids, results of unknown calls).</summary>
    public sealed class Other : Sym
    {
        public static readonly Other Value = new();
    }

    public sealed class Int(long value) : Sym
    {
        public long Value { get; } = value;
    }

    public sealed class Str(string value) : Sym
    {
        public string Value { get; } = value;
    }

    /// <summary>A bytes literal, kept as a slice of the stream so a pickle inside it can be scanned.</summary>
    public sealed class Bytes(ReadOnlyMemory<byte> data, long offset) : Sym
    {
        public ReadOnlyMemory<byte> Data { get; } = data;
        public long Offset { get; } = offset;
    }

    public sealed class TupleSym(List<Sym> items) : Sym
    {
        public List<Sym> Items { get; } = items;
    }

    /// <summary>A list, set or frozenset.</summary>
    public sealed class ListSym : Sym
    {
        public List<Sym> Items { get; init; } = [];
    }

    public sealed class Dict : Sym
    {
        public List<(Sym Key, Sym Value)> Items { get; } = [];

        public Sym? Get(string key)
        {
            foreach ((Sym k, Sym v) in Items)
            {
                if (k is Str s && s.Value == key)
                {
                    return v;
                }
            }

            return null;
        }
    }

    /// <summary>An imported name (GLOBAL, STACK_GLOBAL, INST).</summary>
    public sealed class Global(Tracked tracked) : Sym
    {
        public Tracked Tracked { get; } = tracked;
    }

    /// <summary>What calling or instantiating an imported name made, with the state BUILD gave it.</summary>
    public sealed class Instance(Global cls, Sym args) : Sym
    {
        public Global Class { get; } = cls;
        public Sym Args { get; } = args;
        public Sym? State { get; set; }
    }
}
