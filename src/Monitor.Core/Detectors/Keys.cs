using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Monitor.Core.Detectors;

/// <summary>What kind of input a trigger key is made of.</summary>
public enum KeyKind : byte
{
    /// <summary>A token of a text field.</summary>
    Token = 1,

    /// <summary>A token with every run of digits replaced by '#' (REF:XZ-4471 and REF:XZ-9902 → ref:xz-#).</summary>
    Variant = 2,

    /// <summary>Two adjacent tokens.</summary>
    Bigram = 3,

    /// <summary>Two tokens of the same text, in any order and position (a composite trigger).</summary>
    Pair = 4,

    /// <summary>A character 5-gram of a long token's variant.</summary>
    CharGram = 5,

    /// <summary>A categorical value.</summary>
    Category = 6,

    /// <summary>An exact numeric value ("magic" value).</summary>
    Value = 7,

    /// <summary>A fine (percentile) bin of a numeric feature.</summary>
    FineBin = 8,

    /// <summary>Records whose embedding lies beyond the baseline's 99.9th percentile of Mahalanobis distance.</summary>
    EmbeddingOutlier = 10,

    /// <summary>
    /// A numeric value pattern: the fractional part of a value with at most two decimals (12.37 → ".37"), or the last two
    /// digits of an integer of at least 100 ("ends in 34"), or a round integer ("multiple of 100", "multiple of 1000").
    /// </summary>
    Pattern = 11,

    /// <summary>
    /// Two discrete parts of one record together: a categorical value with a value pattern on at most
    /// <see cref="KeyExtractor.MaxPartShare"/> of the baseline's records, or two such patterns of different features.
    /// </summary>
    Conjunction = 12,

    /// <summary>
    /// Two parts of one record of which at least one is an extreme fine bin (the lowest or highest in the baseline's range)
    /// on at most <see cref="KeyExtractor.MaxPartShare"/> of the baseline's records: a region of the inputs, such as a
    /// patch of pixels at their extremes. Reported, never critical by itself: a region that small singles out a few inputs,
    /// where a model differs from the additive surrogate by its own interactions.
    /// </summary>
    Region = 13,

    /// <summary>
    /// Embedding outliers that point one way: a cell of <see cref="EmbeddingDirections"/> (its text "direction #n"), holding
    /// far more of the outliers than the baseline's tail put in that direction. Tied to the output only through its own test.
    /// Also the table's own observation when it is saturated ("direction cells saturated").
    /// </summary>
    EmbeddingDirection = 14,
}

/// <summary>A key a trigger may hide behind: its kind, the field it belongs to, and its text.</summary>
public sealed record DetectorKey(KeyKind Kind, string Field, string Text)
{
    /// <summary>The family of detector that watches this key: D1 for text, D2 for values, D5 for embeddings.</summary>
    public DetectorId Detector => Kind switch
    {
        KeyKind.Token or KeyKind.Variant or KeyKind.Bigram or KeyKind.Pair or KeyKind.CharGram => DetectorId.D1,
        KeyKind.EmbeddingOutlier or KeyKind.EmbeddingDirection => DetectorId.D5,
        _ => DetectorId.D2,
    };

    /// <summary>
    /// A fine bin beyond the baseline's smallest or largest value: a region no baseline record was in, where the surrogate only
    /// carries its last learnt value on. Its evidence is reported, never critical by itself.
    /// </summary>
    public bool OutsideBaselineRange => Kind == KeyKind.FineBin && (Text.StartsWith("[-inf,", StringComparison.Ordinal) || Text.EndsWith(", +inf)", StringComparison.Ordinal));

    /// <summary>Whether a finding on this key is reported but never critical by itself: beyond the baseline's range, an embedding outlier, or a region.</summary>
    public bool ReportOnly => OutsideBaselineRange || Kind is KeyKind.EmbeddingOutlier or KeyKind.Region;

    public override string ToString() => $"{Field}:{Text}";

    /// <summary>Longest key text kept as it is, in UTF-8 bytes.</summary>
    public const int MaxTextBytes = 256;

    /// <summary>Characters of a longer text kept before its hash.</summary>
    public const int KeptChars = 64;

    /// <summary>
    /// The key with its text shortened when longer than <see cref="MaxTextBytes"/>: its first <see cref="KeptChars"/>
    /// characters, "…" and "sha256:" with 16 hex digits of the whole text's SHA-256, so that candidates and findings hold
    /// a bounded text per key and distinct long keys stay distinct.
    /// </summary>
    public DetectorKey Bounded()
    {
        if (Text.Length * 3 <= MaxTextBytes || Encoding.UTF8.GetByteCount(Text) <= MaxTextBytes)
        {
            return this;
        }

        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Text)))[..16];
        int kept = char.IsHighSurrogate(Text[KeptChars - 1]) ? KeptChars - 1 : KeptChars;
        return this with { Text = $"{Text[..kept]}…sha256:{digest}" };
    }
}

/// <summary>
/// 64-bit hashes of keys, keyed with a secret drawn at start-up so that nobody outside can aim
/// values at one counter. Sketches live in memory only, so the key need not survive a restart.
/// </summary>
public static class KeyHash
{
    private static readonly Lock Adopting = new();
    private static ulong s_secret = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
    private static bool s_inUse;

    /// <summary>
    /// The key of every hash: random per process unless <see cref="Adopt"/> gave it the one a database keeps, so that keys
    /// hashed before a restart (candidates, remembered inputs, heavy hitters in a checkpoint) are the same keys after it.
    /// Secret, so that nobody can craft keys that collide in the sketches.
    /// </summary>
    public static ulong Secret => s_secret;

    /// <summary>A fingerprint of <see cref="Secret"/> (not the secret): a checkpoint hashed under another secret is not restored.</summary>
    public static ulong SecretId => Mix(s_secret ^ 0x5DEECE66DUL);

    /// <summary>
    /// Takes <paramref name="secret"/> as the key of every hash from now on, if nothing in this process has hashed yet or it
    /// is the key already; false otherwise (the process keeps its key, and checkpoints taken under the other are not restored).
    /// </summary>
    public static bool Adopt(ulong secret)
    {
        lock (Adopting)
        {
            if (secret == s_secret)
            {
                return true;
            }

            if (s_inUse)
            {
                return false;
            }

            s_secret = secret;
            return true;
        }
    }

    /// <summary>Marks the secret as in use: tables keyed by it now exist, so it may no longer change.</summary>
    internal static void InUse()
    {
        lock (Adopting)
        {
            s_inUse = true;
        }
    }

    public static ulong Of(KeyKind kind, int field, ReadOnlySpan<char> text) =>
        Of(kind, field, MemoryMarshal.AsBytes(text));

    public static ulong Of(KeyKind kind, int field, ReadOnlySpan<byte> bytes)
    {
        ulong h = s_secret ^ ((ulong)kind << 56) ^ ((ulong)(uint)field << 24) ^ (ulong)bytes.Length;
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            h = Mix(h ^ MemoryMarshal.Read<ulong>(bytes[i..]));
        }

        ulong tail = 0;
        for (int j = 0; i < bytes.Length; i++, j += 8)
        {
            tail |= (ulong)bytes[i] << j;
        }

        return Mix(h ^ tail ^ 0x9E3779B97F4A7C15UL);
    }

    public static ulong Of(KeyKind kind, int field, ulong value) => Mix(s_secret ^ ((ulong)kind << 56) ^ ((ulong)(uint)field << 24) ^ Mix(value));

    /// <summary>Combines a key's hash with a small integer (label, stratum) into a cell hash.</summary>
    public static ulong Combine(ulong key, int cell) => Mix(key ^ ((ulong)(uint)cell * 0xD6E8FEB86659FD93UL));

    /// <summary>The keyed start of a hash of several values (<see cref="Fold"/>), one per <paramref name="salt"/>.</summary>
    public static ulong Seed(int salt) => Mix(s_secret ^ ((ulong)(uint)salt * 0x9E3779B97F4A7C15UL) ^ 0xA0761D6478BD642FUL);

    /// <summary>A hash of several values: <paramref name="value"/> folded into the hash of those before it.</summary>
    public static ulong Fold(ulong hash, ulong value) => Mix(hash ^ value);

    /// <summary>The finaliser of MurmurHash3 (fmix64), unkeyed.</summary>
    internal static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        h ^= h >> 33;
        return h;
    }
}
