using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Text;

namespace Monitor.Core.Detectors;

/// <summary>One key found in one record; its text is materialised only when the key is promoted.</summary>
public readonly record struct KeyOccurrence(ulong Hash, KeyKind Kind, int Field, int Start, int Length);

/// <summary>The baseline's cut points that value keys are made from.</summary>
public sealed record ValueKeyTables
{
    /// <summary>Per numeric feature: percentile edges (fine bins).</summary>
    public required float[][] FineEdges { get; init; }
}

/// <summary>
/// Extracts the trigger keys of a record: from text fields the tokens of <see cref="TextTokenizer"/>, their
/// digit-collapsed variants, adjacent bigrams, unordered pairs and character 5-grams; from categorical
/// features their values; from numeric features exact values and fine bins. Each key is counted once per record. Reuses its buffers: one extractor per thread.
/// </summary>
public sealed class KeyExtractor
{
    /// <summary>Tokens of a text taken into pairs (the first ones).</summary>
    public const int PairTokens = 12;

    /// <summary>Length of character n-grams, taken from variants at least <see cref="GramMinLength"/> long.</summary>
    public const int GramLength = 5;

    public const int GramMinLength = 8;

    private readonly ModelSchema _schema;
    private readonly ValueKeyTables? _values;
    private readonly int _maxKeys;
    private readonly List<KeyOccurrence> _keys = [];
    private readonly HashSet<ulong> _seen = [];
    private readonly List<(int Start, int Length)> _tokens = [];
    private readonly List<(int Start, int Length)> _variants = [];
    private readonly int[] _fineBins;
    private char[] _chars = new char[1024];
    private int _used;
    private RecordBatch? _batch;
    private int _record;

    public KeyExtractor(ModelSchema schema, ValueKeyTables? values, int maxKeysPerRecord)
    {
        KeyHash.InUse();
        _schema = schema;
        _values = values;
        _maxKeys = maxKeysPerRecord;
        _fineBins = new int[values is null ? 0 : schema.NumericFeatures.Length];
    }

    /// <summary>Records whose keys were cut at the per-record limit.</summary>
    public long Truncated { get; private set; }

    /// <summary>
    /// The fine bin of every numeric feature of the record last extracted, whether or not the key limit let its keys in
    /// (-1 for a missing value); empty without value tables.
    /// </summary>
    public ReadOnlySpan<int> FineBins => _fineBins;

    /// <summary>The keys of record i of the batch, valid until the next call.</summary>
    public IReadOnlyList<KeyOccurrence> Extract(RecordBatch batch, int i)
    {
        _keys.Clear();
        _seen.Clear();
        _used = 0;
        _batch = batch;
        _record = i;

        // Few, cheap keys first, so stuffing a text cannot push them out: values, then text.
        for (int c = 0; c < batch.Categorical.Length && _keys.Count < _maxKeys; c++)
        {
            ReadOnlySpan<byte> value = batch.Categorical[c].Get(i);
            if (!value.IsEmpty)
            {
                Add(new KeyOccurrence(KeyHash.Of(KeyKind.Category, c, value), KeyKind.Category, c, 0, 0));
            }
        }

        if (_values is not null)
        {
            AddNumeric(batch, i, _values);
        }

        for (int t = 0; t < batch.Text.Length && _keys.Count < _maxKeys; t++)
        {
            ReadOnlySpan<byte> text = batch.Text[t].Get(i);
            if (!text.IsEmpty)
            {
                AddText(t, text);
            }
        }

        if (_keys.Count >= _maxKeys)
        {
            Truncated++;
        }

        return _keys;
    }

    /// <summary>Bin index, extreme mask or float bits of a key that is not text (see <see cref="BaselineKey.Payload"/>).</summary>
    public static ulong PayloadOf(KeyOccurrence key) => key.Kind switch
    {
        KeyKind.Value => (uint)key.Start,
        KeyKind.FineBin => (ulong)key.Start,
        _ => 0,
    };

    /// <summary>The key of an occurrence from the current record, as people read it.</summary>
    public DetectorKey Describe(KeyOccurrence key)
    {
        string text = key.Kind switch
        {
            KeyKind.Category => _batch!.Categorical[key.Field].GetString(_record),
            KeyKind.Value => "= " + BitConverter.UInt32BitsToSingle((uint)key.Start).ToString("R", CultureInfo.InvariantCulture),
            KeyKind.FineBin => DescribeBin(key),
            _ => new string(_chars, key.Start, key.Length),
        };
        string field = key.Kind switch
        {
            KeyKind.Category => _schema.CategoricalFeatures[key.Field],
            KeyKind.Value or KeyKind.FineBin => _schema.NumericFeatures[key.Field],
            KeyKind.EmbeddingOutlier => "embedding",
            _ => _schema.TextFields[key.Field],
        };
        // Traffic's text, shown in findings, alerts, signals and logs: printable only.
        return new DetectorKey(key.Kind, field, Text.Printable.Escape(text));
    }

    private void AddText(int field, ReadOnlySpan<byte> utf8)
    {
        int start = _used;
        int length = TextTokenizer.Normalize(utf8, ref _chars, start);
        _used += length;
        _tokens.Clear();
        TextTokenizer.FindTokens(_chars.AsSpan(start, length), start, _tokens);

        // Tokens and their variants first, then bigrams, n-grams and pairs, so the per-record limit cuts the weakest keys.
        List<(int Start, int Length)> variants = _variants;
        variants.Clear();
        for (int t = 0; t < _tokens.Count && _keys.Count < _maxKeys; t++)
        {
            (int s, int l) = _tokens[t];
            AddChars(KeyKind.Token, field, s, l);
            (int vs, int vl) = WriteVariant(s, l);
            variants.Add((vs, vl));
            if (vl != l || !_chars.AsSpan(vs, vl).SequenceEqual(_chars.AsSpan(s, l)))
            {
                AddChars(KeyKind.Variant, field, vs, vl);
            }
        }

        for (int t = 1; t < _tokens.Count && _keys.Count < _maxKeys; t++)
        {
            (int ps, int pl) = _tokens[t - 1];
            (int s, int l) = _tokens[t];
            (int bs, int bl) = Join(ps, pl, ' ', s, l);
            AddChars(KeyKind.Bigram, field, bs, bl);
        }

        foreach ((int vs, int vl) in variants)
        {
            for (int g = 0; vl >= GramMinLength && g + GramLength <= vl && _keys.Count < _maxKeys; g++)
            {
                AddChars(KeyKind.CharGram, field, vs + g, GramLength);
            }
        }

        int pairTokens = Math.Min(_tokens.Count, PairTokens);
        for (int a = 0; a < pairTokens && _keys.Count < _maxKeys; a++)
        {
            for (int b = a + 1; b < pairTokens && _keys.Count < _maxKeys; b++)
            {
                (int as1, int al) = _tokens[a];
                (int bs1, int bl) = _tokens[b];
                bool ordered = _chars.AsSpan(as1, al).SequenceCompareTo(_chars.AsSpan(bs1, bl)) <= 0;
                (int js, int jl) = ordered ? Join(as1, al, '+', bs1, bl) : Join(bs1, bl, '+', as1, al);
                AddChars(KeyKind.Pair, field, js, jl);
            }
        }
    }

    private void AddNumeric(RecordBatch batch, int i, ValueKeyTables values)
    {
        int d = _schema.NumericFeatures.Length;
        ReadOnlySpan<float> row = batch.Numeric.Span.Slice(i * d, d);
        for (int f = 0; f < d; f++)
        {
            _fineBins[f] = float.IsNaN(row[f]) ? -1 : Quantiles.BinOf(values.FineEdges[f], row[f]);
        }

        for (int f = 0; f < d && _keys.Count < _maxKeys; f++)
        {
            float v = row[f];
            if (!float.IsFinite(v))
            {
                continue;
            }

            uint bits = BitConverter.SingleToUInt32Bits(v);
            Add(new KeyOccurrence(KeyHash.Of(KeyKind.Value, f, bits), KeyKind.Value, f, (int)bits, 0));
            int bin = _fineBins[f];
            Add(new KeyOccurrence(KeyHash.Of(KeyKind.FineBin, f, (ulong)bin), KeyKind.FineBin, f, bin, 0));
        }

    }

    private string DescribeBin(KeyOccurrence key)
    {
        float[] edges = _values!.FineEdges[key.Field];
        int bin = key.Start;
        string lo = bin == 0 ? "-inf" : edges[bin - 1].ToString("R", CultureInfo.InvariantCulture);
        string hi = bin >= edges.Length ? "+inf" : edges[bin].ToString("R", CultureInfo.InvariantCulture);
        return $"[{lo}, {hi})";
    }


    private void AddChars(KeyKind kind, int field, int start, int length) =>
        Add(new KeyOccurrence(KeyHash.Of(kind, field, _chars.AsSpan(start, length)), kind, field, start, length));

    private void Add(KeyOccurrence key)
    {
        if (_keys.Count < _maxKeys && _seen.Add(key.Hash))
        {
            _keys.Add(key);
        }
    }

    private (int Start, int Length) WriteVariant(int start, int length)
    {
        Ensure(length);
        int begin = _used;
        bool inDigits = false;
        for (int i = 0; i < length; i++)
        {
            char c = _chars[start + i];
            if (char.IsDigit(c))
            {
                if (!inDigits)
                {
                    _chars[_used++] = '#';
                }

                inDigits = true;
            }
            else
            {
                _chars[_used++] = c;
                inDigits = false;
            }
        }

        return (begin, _used - begin);
    }

    private (int Start, int Length) Join(int aStart, int aLength, char separator, int bStart, int bLength)
    {
        Ensure(aLength + bLength + 1);
        int begin = _used;
        _chars.AsSpan(aStart, aLength).CopyTo(_chars.AsSpan(_used));
        _used += aLength;
        _chars[_used++] = separator;
        _chars.AsSpan(bStart, bLength).CopyTo(_chars.AsSpan(_used));
        _used += bLength;
        return (begin, _used - begin);
    }

    private void Ensure(int extra)
    {
        if (_used + extra > _chars.Length)
        {
            // Earlier keys keep their offsets into the old buffer's content, which is copied.
            Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _used + extra));
        }
    }
}
