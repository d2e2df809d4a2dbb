using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Text;

namespace Monitor.Core.Detectors;

/// <summary>
/// One key found in one record; its text is materialised only when the key is promoted. For a conjunction, Field packs the
/// two parts' kinds and fields, Start and Length index the record's parts, and Payload is the parts' combined identity.
/// </summary>
public readonly record struct KeyOccurrence(ulong Hash, KeyKind Kind, int Field, int Start, int Length, ulong Payload = 0);

/// <summary>The baseline's cut points that value keys are made from.</summary>
public sealed record ValueKeyTables
{
    /// <summary>Per numeric feature: percentile edges (fine bins).</summary>
    public required float[][] FineEdges { get; init; }
}

/// <summary>
/// Extracts the trigger keys of a record: from categorical features their values; from numeric features exact values,
/// fine bins and value patterns; conjunctions of a categorical value with a rare numeric part and of two rare numeric
/// parts; from text fields the tokens of <see cref="TextTokenizer"/>, their digit-collapsed variants, adjacent bigrams,
/// unordered pairs and character 5-grams. Each key is counted once per record. Every feature is keyed: value keys are one
/// of each kind per feature (bounded by the schema), conjunctions and text keys each have their own budget per record, and
/// a record with more than a budget allows is counted (<see cref="TextCut"/>, <see cref="ConjunctionCut"/>). Reuses its
/// buffers: one extractor per thread.
/// </summary>
public sealed class KeyExtractor
{
    /// <summary>
    /// The key vocabulary of this extractor; a baseline records the vocabulary its key table was counted with, and the
    /// detectors extract as it was (0: before patterns and conjunctions, one limit over all keys in feature order).
    /// </summary>
    public const int Vocabulary = 1;

    /// <summary>
    /// A numeric part (an extreme fine bin or a pattern) on more of the baseline's records than this is not taken into
    /// conjunctions and regions.
    /// </summary>
    public const double MaxPartShare = 0.02;

    /// <summary>Tokens of a text taken into pairs (the first ones).</summary>
    public const int PairTokens = 12;

    /// <summary>Length of character n-grams, taken from variants at least <see cref="GramMinLength"/> long.</summary>
    public const int GramLength = 5;

    public const int GramMinLength = 8;

    private readonly ModelSchema _schema;
    private readonly ValueKeyTables? _values;
    private readonly int _maxKeys;
    private int _limit;
    private readonly int _maxConjunctions;
    private readonly int _vocabulary;
    private readonly IReadOnlyDictionary<ulong, float>? _partShares;
    private readonly List<KeyOccurrence> _keys = [];
    private readonly List<KeyOccurrence> _parts = [];
    private readonly List<(float Share, int Part)> _rare = [];
    private readonly List<int> _categories = [];
    private readonly HashSet<ulong> _seen = [];
    private readonly List<(int Start, int Length)> _tokens = [];
    private readonly List<(int Start, int Length)> _variants = [];
    private readonly List<ulong> _tokenHashes = [];
    private readonly List<ulong> _parentHashes = [];
    private readonly int[] _fineBins;
    private char[] _chars = new char[1024];
    private int _used;
    private RecordBatch? _batch;
    private int _record;

    /// <param name="maxKeysPerRecord">Text keys per record (vocabulary 0: all keys per record).</param>
    /// <param name="maxConjunctionsPerRecord">Conjunction keys per record (vocabulary 1).</param>
    /// <param name="vocabulary">The baseline's key vocabulary (<see cref="Vocabulary"/> for a new one).</param>
    /// <param name="partShares">
    /// Baseline share of categorical, fine-bin and pattern keys by hash (absent: rarer than any kept), which ranks a
    /// record's numeric parts for conjunctions; without it no conjunction is made.
    /// </param>
    public KeyExtractor(ModelSchema schema, ValueKeyTables? values, int maxKeysPerRecord, int maxConjunctionsPerRecord = 0,
        int vocabulary = 0, IReadOnlyDictionary<ulong, float>? partShares = null)
    {
        KeyHash.InUse();
        _schema = schema;
        _values = values;
        _maxKeys = maxKeysPerRecord;
        _maxConjunctions = maxConjunctionsPerRecord;
        _vocabulary = vocabulary;
        _partShares = partShares;
        _fineBins = new int[values is null ? 0 : schema.NumericFeatures.Length];
    }

    /// <summary>The extractor of the detectors for a baseline's trigger profile, with the settings' budgets.</summary>
    public static KeyExtractor For(ModelSchema schema, TriggerProfile profile, DetectorSettings settings) =>
        new(schema, profile.Values, settings.MaxKeysPerRecord, settings.MaxConjunctionKeysPerRecord, profile.KeyVocabulary, PartShares(profile));

    /// <summary>The baseline shares of the profile's categorical, fine-bin and pattern keys, by hash.</summary>
    private static Dictionary<ulong, float>? PartShares(TriggerProfile profile) =>
        profile.KeyVocabulary < 1 || profile.Records <= 0
            ? null
            : PartShares(profile.Keys, profile.Records);

    /// <summary>The baseline shares of the table's categorical, fine-bin and pattern keys, by hash.</summary>
    public static Dictionary<ulong, float> PartShares(IEnumerable<BaselineKey> keys, long records)
    {
        var shares = new Dictionary<ulong, float>();
        foreach (BaselineKey key in keys)
        {
            if (key.Kind is KeyKind.Category or KeyKind.FineBin or KeyKind.Pattern)
            {
                shares[key.Hash()] = (float)(key.Support / (double)records);
            }
        }

        return shares;
    }

    /// <summary>Records whose keys were cut at a per-record limit (any kind; against a legacy baseline, the one limit).</summary>
    public long Truncated => _legacyCut + TextCut + ConjunctionCut;

    private long _legacyCut;

    /// <summary>Records with more text keys than <see cref="DetectorSettings.MaxKeysPerRecord"/> (their weakest text keys were left out).</summary>
    public long TextCut { get; private set; }

    /// <summary>Takes a checkpoint's counts of records cut at the text and conjunction budgets.</summary>
    public void RestoreCuts(long text, long conjunctions)
    {
        TextCut = text;
        ConjunctionCut = conjunctions;
    }

    /// <summary>
    /// Records with more rare numeric parts than the conjunction budget could pair (the rarest were paired, the others only
    /// keyed alone).
    /// </summary>
    public long ConjunctionCut { get; private set; }

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
        _parentHashes.Clear();
        _used = 0;
        _batch = batch;
        _record = i;
        if (_vocabulary >= 1)
        {
            _limit = int.MaxValue;
            return ExtractAll(batch, i);
        }

        _limit = _maxKeys;

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
                AddText(t, text, _maxKeys);
            }
        }

        if (_keys.Count >= _maxKeys)
        {
            _legacyCut++;
        }

        return _keys;
    }

    /// <summary>
    /// Vocabulary 1: every categorical and numeric feature keyed, then conjunctions within their budget, then text within
    /// its own, so that neither stuffing a text nor a wide schema can push a feature's keys out.
    /// </summary>
    private List<KeyOccurrence> ExtractAll(RecordBatch batch, int i)
    {
        _parts.Clear();
        _categories.Clear();
        for (int c = 0; c < batch.Categorical.Length; c++)
        {
            ReadOnlySpan<byte> value = batch.Categorical[c].Get(i);
            if (!value.IsEmpty)
            {
                var key = new KeyOccurrence(KeyHash.Of(KeyKind.Category, c, value), KeyKind.Category, c, 0, 0, Fnv(value));
                Add(key);
                _categories.Add(_parts.Count);
                _parts.Add(key);
            }
        }

        if (_values is not null)
        {
            AddNumericAll(batch, i, _values);
            if (_partShares is not null && _maxConjunctions > 0)
            {
                AddConjunctions();
            }
        }

        // One key beyond the budget is taken and dropped: then a key was left out, and the record is counted as cut.
        int limit = _keys.Count + _maxKeys + 1;
        for (int t = 0; t < batch.Text.Length; t++)
        {
            ReadOnlySpan<byte> text = batch.Text[t].Get(i);
            if (!text.IsEmpty)
            {
                AddText(t, text, limit);
            }
        }

        if (_keys.Count == limit)
        {
            _keys.RemoveAt(_keys.Count - 1);
            TextCut++;
        }

        return _keys;
    }

    private void AddNumericAll(RecordBatch batch, int i, ValueKeyTables values)
    {
        int d = _schema.NumericFeatures.Length;
        ReadOnlySpan<float> row = batch.Numeric.Span.Slice(i * d, d);
        for (int f = 0; f < d; f++)
        {
            float v = row[f];
            _fineBins[f] = float.IsNaN(v) ? -1 : Quantiles.BinOf(values.FineEdges[f], v);
            if (!float.IsFinite(v))
            {
                continue;
            }

            uint bits = BitConverter.SingleToUInt32Bits(v);
            Add(new KeyOccurrence(KeyHash.Of(KeyKind.Value, f, bits), KeyKind.Value, f, (int)bits, 0, bits));
            int bin = _fineBins[f];
            var fine = new KeyOccurrence(KeyHash.Of(KeyKind.FineBin, f, (ulong)bin), KeyKind.FineBin, f, bin, 0, (ulong)bin);
            Add(fine);

            // Only the extreme bins within the baseline's range are parts: beyond it a bin is never evidence by itself.
            if (bin == 1 || (bin > 1 && bin == values.FineEdges[f].Length - 1))
            {
                _parts.Add(fine);
            }

            if (PatternOf(v) is { } pattern)
            {
                var key = new KeyOccurrence(KeyHash.Of(KeyKind.Pattern, f, pattern), KeyKind.Pattern, f, 0, 0, pattern);
                Add(key);
                _parts.Add(key);
            }
        }
    }

    /// <summary>
    /// The record's rarest numeric parts (baseline share at most <see cref="MaxPartShare"/>, ties in feature order), as many
    /// as the budget pairs with each categorical value and with each other (different features only).
    /// </summary>
    private void AddConjunctions()
    {
        _rare.Clear();
        for (int p = 0; p < _parts.Count; p++)
        {
            KeyOccurrence part = _parts[p];
            if (part.Kind == KeyKind.Category)
            {
                continue;
            }

            float share = _partShares!.TryGetValue(part.Hash, out float s) ? s : 0f;
            if (share <= MaxPartShare)
            {
                _rare.Add((share, p));
            }
        }

        if (_rare.Count == 0)
        {
            return;
        }

        _rare.Sort();
        int categories = _categories.Count;
        int take = 0;
        while (take < _rare.Count && categories * (take + 1) + (take + 1) * take / 2 <= _maxConjunctions)
        {
            take++;
        }

        if (take < _rare.Count)
        {
            ConjunctionCut++;
        }

        for (int a = 0; a < take; a++)
        {
            int pa = _rare[a].Part;
            foreach (int pc in _categories)
            {
                AddConjunction(pc, pa);
            }

            for (int b = 0; b < a; b++)
            {
                int pb = _rare[b].Part;
                if (_parts[pb].Field != _parts[pa].Field)
                {
                    // In feature order, so a pair is the same key whichever part is rarer in this record.
                    (int first, int second) = Order(_parts[pa], _parts[pb]) <= 0 ? (pa, pb) : (pb, pa);
                    AddConjunction(first, second);
                }
            }
        }
    }

    private static int Order(KeyOccurrence a, KeyOccurrence b) =>
        a.Field != b.Field ? a.Field.CompareTo(b.Field) : a.Kind.CompareTo(b.Kind);

    private void AddConjunction(int first, int second)
    {
        KeyOccurrence a = _parts[first];
        KeyOccurrence b = _parts[second];
        int field = PackFields(a, b);
        ulong payload = Mix(Mix(((ulong)a.Kind << 56) ^ a.Payload) ^ (((ulong)b.Kind << 56) ^ b.Payload) * 0x9E3779B97F4A7C15UL);
        KeyKind kind = a.Kind == KeyKind.FineBin || b.Kind == KeyKind.FineBin ? KeyKind.Region : KeyKind.Conjunction;
        Add(new KeyOccurrence(KeyHash.Of(kind, field, payload), kind, field, first, second, payload));
    }

    /// <summary>The two parts' kinds (2 bits each) and fields (14 bits each), first part high.</summary>
    private static int PackFields(KeyOccurrence a, KeyOccurrence b) =>
        (int)((PartCode(a.Kind) << 30) | ((uint)(a.Field & 0x3FFF) << 16) | (PartCode(b.Kind) << 14) | (uint)(b.Field & 0x3FFF));

    private static uint PartCode(KeyKind kind) => kind switch
    {
        KeyKind.Category => 0,
        KeyKind.FineBin => 1,
        _ => 2,
    };

    private static KeyKind PartKind(uint code) => code switch
    {
        0 => KeyKind.Category,
        1 => KeyKind.FineBin,
        _ => KeyKind.Pattern,
    };

    /// <summary>The kinds and fields of a conjunction's two parts, from its packed field.</summary>
    public static ((KeyKind Kind, int Field) First, (KeyKind Kind, int Field) Second) PartsOf(int packed)
    {
        uint u = (uint)packed;
        return ((PartKind(u >> 30), (int)((u >> 16) & 0x3FFF)), (PartKind((u >> 14) & 3), (int)(u & 0x3FFF)));
    }

    /// <summary>The name of the field (or the two fields of a conjunction) a key of this kind belongs to.</summary>
    public static string FieldName(ModelSchema schema, KeyKind kind, int field) => kind switch
    {
        KeyKind.Category => schema.CategoricalFeatures[field],
        KeyKind.Value or KeyKind.FineBin or KeyKind.Pattern => schema.NumericFeatures[field],
        KeyKind.EmbeddingOutlier or KeyKind.EmbeddingDirection => "embedding",
        KeyKind.Conjunction or KeyKind.Region => ConjunctionField(schema, field),
        _ => schema.TextFields[field],
    };

    private static string ConjunctionField(ModelSchema schema, int packed)
    {
        ((KeyKind ka, int fa), (KeyKind kb, int fb)) = PartsOf(packed);
        return FieldName(schema, ka, fa) + " & " + FieldName(schema, kb, fb);
    }

    /// <summary>
    /// The value pattern of a numeric value, if it has one: for a value with at most two decimals and a fractional part,
    /// 1 « 32 | cents; for an integer of at least 100 in magnitude, 4 « 32 for a multiple of 1000, 3 « 32 for a multiple of
    /// 100, else 2 « 32 | its last two digits. Other values (more decimals, small integers, which their exact value keys
    /// already name) have none.
    /// </summary>
    public static ulong? PatternOf(float value)
    {
        double v = Math.Abs((double)value);
        if (!double.IsFinite(v) || v >= 1e9)
        {
            return null;
        }

        if (v == Math.Floor(v))
        {
            if (v < 100)
            {
                return null;
            }

            long n = (long)v;
            return n % 1000 == 0 ? 4UL << 32 : n % 100 == 0 ? 3UL << 32 : (2UL << 32) | (ulong)(n % 100);
        }

        double cents = Math.Round(v * 100);
        if ((float)(cents / 100) != (float)v)
        {
            return null;
        }

        return (1UL << 32) | (ulong)((long)cents % 100);
    }

    /// <summary>A pattern as people read it.</summary>
    public static string DescribePattern(ulong pattern) => (pattern >> 32) switch
    {
        1 => "." + (pattern & 0xFFFF).ToString("00", CultureInfo.InvariantCulture),
        2 => "ends in " + (pattern & 0xFFFF).ToString("00", CultureInfo.InvariantCulture),
        3 => "multiple of 100",
        _ => "multiple of 1000",
    };

    /// <summary>An unkeyed 64-bit fingerprint (FNV-1a, mixed) of a categorical value: part of a conjunction's stored identity.</summary>
    private static ulong Fnv(ReadOnlySpan<byte> bytes)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in bytes)
        {
            h = (h ^ b) * 0x100000001B3UL;
        }

        return Mix(h ^ (ulong)bytes.Length);
    }

    private static ulong Mix(ulong h) => KeyHash.Mix(h);

    /// <summary>Bin index, pattern, float bits or combined identity of a key that is not text (see <see cref="BaselineKey.Payload"/>).</summary>
    public static ulong PayloadOf(KeyOccurrence key) => key.Kind switch
    {
        KeyKind.Value => (uint)key.Start,
        KeyKind.FineBin => (ulong)key.Start,
        KeyKind.Pattern or KeyKind.Conjunction or KeyKind.Region => key.Payload,
        _ => 0,
    };

    /// <summary>The key of an occurrence from the current record, as people read it.</summary>
    public DetectorKey Describe(KeyOccurrence key)
    {
        // Traffic's text, shown in findings, alerts, signals and logs: printable only.
        return new DetectorKey(key.Kind, FieldName(_schema, key.Kind, key.Field), Text.Printable.Escape(TextOf(key)));
    }

    private string TextOf(KeyOccurrence key) => key.Kind switch
    {
        KeyKind.Category => _batch!.Categorical[key.Field].GetString(_record),
        KeyKind.Value => "= " + BitConverter.UInt32BitsToSingle((uint)key.Start).ToString("R", CultureInfo.InvariantCulture),
        KeyKind.FineBin => DescribeBin(key),
        KeyKind.Pattern => DescribePattern(key.Payload),
        KeyKind.Conjunction or KeyKind.Region => PartText(_parts[key.Start]) + " & " + PartText(_parts[key.Length]),
        _ => new string(_chars, key.Start, key.Length),
    };

    private string PartText(KeyOccurrence part) => part.Kind == KeyKind.Category ? "'" + TextOf(part) + "'" : TextOf(part);

    /// <summary>Adds the text's keys while the record has fewer than <paramref name="limit"/> keys.</summary>
    private void AddText(int field, ReadOnlySpan<byte> utf8, int limit)
    {
        _limit = limit;
        int start = _used;
        int length = TextTokenizer.Normalize(utf8, ref _chars, start);
        _used += length;
        _tokens.Clear();
        TextTokenizer.FindTokens(_chars.AsSpan(start, length), start, _tokens);

        // Tokens and their variants first, then bigrams, n-grams and pairs, so the per-record limit cuts the weakest keys.
        List<(int Start, int Length)> variants = _variants;
        variants.Clear();
        _tokenHashes.Clear();
        for (int t = 0; t < _tokens.Count && _keys.Count < _limit; t++)
        {
            (int s, int l) = _tokens[t];
            ulong tokenHash = KeyHash.Of(KeyKind.Token, field, _chars.AsSpan(s, l));
            _tokenHashes.Add(tokenHash);
            Add(new KeyOccurrence(tokenHash, KeyKind.Token, field, s, l));
            (int vs, int vl) = WriteVariant(s, l);
            variants.Add((vs, vl));
            if (vl != l || !_chars.AsSpan(vs, vl).SequenceEqual(_chars.AsSpan(s, l)))
            {
                AddChars(KeyKind.Variant, field, vs, vl);
            }
        }

        // A bigram's parents are its two tokens and their pair (when both are among the first PairTokens, a superset of its records).
        for (int t = 1; t < _tokenHashes.Count && _keys.Count < _limit; t++)
        {
            (int ps, int pl) = _tokens[t - 1];
            (int s, int l) = _tokens[t];
            (int bs, int bl) = Join(ps, pl, ' ', s, l);
            ulong hash = KeyHash.Of(KeyKind.Bigram, field, _chars.AsSpan(bs, bl));
            if (!_seen.Add(hash))
            {
                continue;
            }

            int offset = _parentHashes.Count;
            _parentHashes.Add(_tokenHashes[t - 1]);
            _parentHashes.Add(_tokenHashes[t]);
            if (t < PairTokens)
            {
                _parentHashes.Add(PairHash(field, ps, pl, s, l));
            }

            _keys.Add(new KeyOccurrence(hash, KeyKind.Bigram, field, bs, bl, ParentsPayload(offset, _parentHashes.Count - offset)));
        }

        foreach ((int vs, int vl) in variants)
        {
            for (int g = 0; vl >= GramMinLength && g + GramLength <= vl && _keys.Count < _limit; g++)
            {
                AddChars(KeyKind.CharGram, field, vs + g, GramLength);
            }
        }

        int pairTokens = Math.Min(_tokenHashes.Count, PairTokens);
        for (int a = 0; a < pairTokens && _keys.Count < _limit; a++)
        {
            for (int b = a + 1; b < pairTokens && _keys.Count < _limit; b++)
            {
                (int as1, int al) = _tokens[a];
                (int bs1, int bl) = _tokens[b];
                (int js, int jl) = JoinPair(as1, al, bs1, bl);
                ulong hash = KeyHash.Of(KeyKind.Pair, field, _chars.AsSpan(js, jl));
                if (!_seen.Add(hash))
                {
                    continue;
                }

                int offset = _parentHashes.Count;
                _parentHashes.Add(_tokenHashes[a]);
                _parentHashes.Add(_tokenHashes[b]);
                _keys.Add(new KeyOccurrence(hash, KeyKind.Pair, field, js, jl, ParentsPayload(offset, 2)));
            }
        }
    }

    /// <summary>
    /// The keys a bigram or pair of the record last extracted is made of, whose records include all of its own: its tokens and,
    /// for a bigram, their pair. Empty for other kinds.
    /// </summary>
    public ReadOnlySpan<ulong> Parents(KeyOccurrence key)
    {
        if (key.Kind is not (KeyKind.Bigram or KeyKind.Pair) || key.Payload == 0)
        {
            return [];
        }

        int offset = (int)(uint)key.Payload - 1;
        int count = (int)(key.Payload >> 32);
        return offset >= 0 && offset + count <= _parentHashes.Count ? System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_parentHashes).Slice(offset, count) : [];
    }

    private static ulong ParentsPayload(int offset, int count) => ((ulong)(uint)count << 32) | (uint)(offset + 1);

    private (int Start, int Length) JoinPair(int aStart, int aLength, int bStart, int bLength) =>
        _chars.AsSpan(aStart, aLength).SequenceCompareTo(_chars.AsSpan(bStart, bLength)) <= 0
            ? Join(aStart, aLength, '+', bStart, bLength)
            : Join(bStart, bLength, '+', aStart, aLength);

    private ulong PairHash(int field, int aStart, int aLength, int bStart, int bLength)
    {
        int used = _used;
        (int js, int jl) = JoinPair(aStart, aLength, bStart, bLength);
        ulong hash = KeyHash.Of(KeyKind.Pair, field, _chars.AsSpan(js, jl));
        _used = used;
        return hash;
    }

    private void AddNumeric(RecordBatch batch, int i, ValueKeyTables values)
    {
        int d = _schema.NumericFeatures.Length;
        ReadOnlySpan<float> row = batch.Numeric.Span.Slice(i * d, d);
        for (int f = 0; f < d; f++)
        {
            _fineBins[f] = float.IsNaN(row[f]) ? -1 : Quantiles.BinOf(values.FineEdges[f], row[f]);
        }

        for (int f = 0; f < d && _keys.Count < _limit; f++)
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
        if (_keys.Count < _limit && _seen.Add(key.Hash))
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
