using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Baselines;

/// <summary>
/// A bounded uniform sample of reference records (Vitter's Algorithm R), stored columnar.
/// Memory depends on the capacity and the schema, never on how many records arrive.
/// </summary>
public sealed class ReferenceSample
{
    private readonly ModelSchema _schema;
    private readonly Random _random;
    private readonly int _d;
    private readonly int _k;
    private readonly int _e;
    private float[] _numeric = [];
    private float[] _scores = [];
    private float[] _embeddings = [];
    private readonly byte[]?[][] _categorical;
    private readonly byte[]?[][] _text;
    private int _allocated;
    private bool _allEmbedded = true;

    public ReferenceSample(ModelSchema schema, int capacity, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _schema = schema;
        Capacity = capacity;
        _random = new Random(seed);
        _d = schema.NumericFeatures.Length;
        _k = schema.OutputWidth;
        _e = schema.EmbeddingWidth;
        _categorical = new byte[]?[schema.CategoricalFeatures.Length][];
        _text = new byte[]?[schema.TextFields.Length][];
        for (int c = 0; c < _categorical.Length; c++)
        {
            _categorical[c] = [];
        }

        for (int t = 0; t < _text.Length; t++)
        {
            _text[t] = [];
        }
    }

    public ModelSchema Schema => _schema;
    public int Capacity { get; }

    /// <summary>Records kept.</summary>
    public int Count { get; private set; }

    /// <summary>Records offered so far.</summary>
    public long Received { get; private set; }

    /// <summary>Whether embeddings were kept (every record offered so far carried them).</summary>
    public bool HasEmbeddings => _e > 0 && _allEmbedded && Count > 0;

    /// <summary>Offers every record of a validated batch to the sample.</summary>
    public void Add(RecordBatch batch)
    {
        bool withEmbeddings = _e > 0 && batch.Embeddings.Length > 0;
        if (!withEmbeddings && batch.Count > 0)
        {
            _allEmbedded = false;
        }
        for (int i = 0; i < batch.Count; i++)
        {
            Received++;
            int slot;
            if (Count < Capacity)
            {
                slot = Count++;
                EnsureCapacity(Count);
            }
            else
            {
                long j = _random.NextInt64(Received);
                if (j >= Capacity)
                {
                    continue;
                }

                slot = (int)j;
            }

            Store(batch, i, slot, withEmbeddings);
        }
    }

    /// <summary>The kept records, in slot order, as a batch.</summary>
    public RecordBatch ToBatch()
    {
        var all = new int[Count];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = i;
        }

        return ToBatch(all);
    }

    /// <summary>The given kept records as a batch.</summary>
    public RecordBatch ToBatch(ReadOnlySpan<int> slots)
    {
        int n = slots.Length;
        var numeric = new float[n * _d];
        var scores = new float[n * _k];
        float[] embeddings = HasEmbeddings ? new float[n * _e] : [];
        for (int i = 0; i < n; i++)
        {
            int s = slots[i];
            Array.Copy(_numeric, s * _d, numeric, i * _d, _d);
            Array.Copy(_scores, s * _k, scores, i * _k, _k);
            if (embeddings.Length > 0)
            {
                Array.Copy(_embeddings, (long)s * _e, embeddings, (long)i * _e, _e);
            }
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Embeddings = embeddings,
            Categorical = Columns(_categorical, slots),
            Text = Columns(_text, slots),
        };
    }

    /// <summary>Restores a stored sample: the batch holds the kept records in slot order.</summary>
    public static ReferenceSample Restore(ModelSchema schema, int capacity, int seed, RecordBatch kept, long received)
    {
        var sample = new ReferenceSample(schema, Math.Max(capacity, kept.Count), seed);
        sample.Add(kept);
        sample.Received = received;
        return sample;
    }

    private void Store(RecordBatch batch, int i, int slot, bool withEmbeddings)
    {
        batch.Numeric.Span.Slice(i * _d, _d).CopyTo(_numeric.AsSpan(slot * _d));
        batch.Scores.Span.Slice(i * _k, _k).CopyTo(_scores.AsSpan(slot * _k));
        if (withEmbeddings)
        {
            batch.Embeddings.Span.Slice(i * _e, _e).CopyTo(_embeddings.AsSpan(slot * _e));
        }

        for (int c = 0; c < _categorical.Length; c++)
        {
            _categorical[c][slot] = Copy(batch.Categorical[c].Get(i));
        }

        for (int t = 0; t < _text.Length; t++)
        {
            _text[t][slot] = Copy(batch.Text[t].Get(i));
        }
    }

    private void EnsureCapacity(int needed)
    {
        if (needed <= _allocated)
        {
            return;
        }

        int grown = (int)Math.Min(Capacity, Math.Max(needed, Math.Max(64L, _allocated * 2L)));
        _allocated = grown;
        Array.Resize(ref _numeric, grown * _d);
        Array.Resize(ref _scores, grown * _k);
        if (_e > 0)
        {
            Array.Resize(ref _embeddings, grown * _e);
        }

        for (int c = 0; c < _categorical.Length; c++)
        {
            Array.Resize(ref _categorical[c], grown);
        }

        for (int t = 0; t < _text.Length; t++)
        {
            Array.Resize(ref _text[t], grown);
        }
    }

    private static byte[]? Copy(ReadOnlySpan<byte> value) => value.IsEmpty ? null : value.ToArray();

    private static Utf8Column[] Columns(byte[]?[][] stored, ReadOnlySpan<int> slots)
    {
        var columns = new Utf8Column[stored.Length];
        for (int c = 0; c < stored.Length; c++)
        {
            long total = 0;
            foreach (int s in slots)
            {
                total += stored[c][s]?.Length ?? 0;
            }

            var data = new byte[total];
            var ends = new uint[slots.Length];
            int offset = 0;
            for (int i = 0; i < slots.Length; i++)
            {
                if (stored[c][slots[i]] is { } value)
                {
                    value.CopyTo(data, offset);
                    offset += value.Length;
                }

                ends[i] = (uint)offset;
            }

            columns[c] = new Utf8Column(data, ends);
        }

        return columns;
    }
}
