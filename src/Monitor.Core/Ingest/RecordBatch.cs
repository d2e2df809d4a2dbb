using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Monitor.Core.Ingest;

/// <summary>
/// UTF-8 strings of every record of a batch packed end to end: record i is
/// <c>Data[Ends[i-1]..Ends[i])</c> with <c>Ends[-1] = 0</c>. An empty value is missing.
/// </summary>
public readonly record struct Utf8Column(ReadOnlyMemory<byte> Data, ReadOnlyMemory<uint> Ends)
{
    /// <summary>A column with no values (for an absent optional column).</summary>
    public static Utf8Column Empty => new(ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<uint>.Empty);

    public int Count => Ends.Length;

    public ReadOnlySpan<byte> Get(int index)
    {
        ReadOnlySpan<uint> ends = Ends.Span;
        int start = index == 0 ? 0 : (int)ends[index - 1];
        return Data.Span[start..(int)ends[index]];
    }

    public string GetString(int index) => Encoding.UTF8.GetString(Get(index));

    /// <summary>Packs strings into a column; null or empty strings are missing values.</summary>
    public static Utf8Column FromStrings(IReadOnlyList<string?> values)
    {
        var ends = new uint[values.Count];
        int total = 0;
        for (int i = 0; i < values.Count; i++)
        {
            total += values[i] is { } s ? Encoding.UTF8.GetByteCount(s) : 0;
            ends[i] = (uint)total;
        }

        var data = new byte[total];
        int offset = 0;
        for (int i = 0; i < values.Count; i++)
        {
            if (values[i] is { } s)
            {
                offset += Encoding.UTF8.GetBytes(s, data.AsSpan(offset));
            }
        }

        return new Utf8Column(data, ends);
    }
}

/// <summary>
/// A columnar batch of mirrored records, as it arrives from the wire: flat row-major arrays,
/// never one object per record.
/// </summary>
public sealed class RecordBatch
{
    public required int Count { get; init; }

    /// <summary>Count × numeric-feature floats, row-major. NaN and ±Inf are missing values.</summary>
    public required ReadOnlyMemory<float> Numeric { get; init; }

    /// <summary>Count × output-width floats, row-major.</summary>
    public required ReadOnlyMemory<float> Scores { get; init; }

    /// <summary>One column per categorical feature, in schema order.</summary>
    public required Utf8Column[] Categorical { get; init; }

    /// <summary>One column per text field, in schema order.</summary>
    public required Utf8Column[] Text { get; init; }

    /// <summary>Count × embedding-width floats, or empty.</summary>
    public ReadOnlyMemory<float> Embeddings { get; init; }

    /// <summary>One request id per record, or an empty column.</summary>
    public Utf8Column RequestIds { get; init; } = Utf8Column.Empty;

    /// <summary>
    /// The version whose outputs on the same requests <see cref="PairedScores"/> holds (the trusted version of a shadow or
    /// canary rollout); null or empty when the batch is unpaired.
    /// </summary>
    public string? PairedVersion { get; init; }

    /// <summary>Count × output-width floats in the layout of <see cref="Scores"/>: the paired version's output for each record's request; empty when unpaired.</summary>
    public ReadOnlyMemory<float> PairedScores { get; init; }

    /// <summary>Whether the batch carries the paired version's outputs.</summary>
    public bool Paired => PairedScores.Length > 0;

    /// <summary>
    /// Bytes the batch keeps alive while it is queued: the whole arrays its float columns and UTF-8 columns lie in (a
    /// column may share a larger array with the message it came from), and the end offsets.
    /// </summary>
    public long RetainedBytes()
    {
        long bytes = Retained(Numeric) + Retained(Scores) + Retained(PairedScores) + Retained(Embeddings) + Retained(RequestIds);
        foreach (Utf8Column column in Categorical)
        {
            bytes += Retained(column);
        }

        foreach (Utf8Column column in Text)
        {
            bytes += Retained(column);
        }

        return bytes;
    }

    private static long Retained(Utf8Column column) => Retained(column.Data) + Retained(column.Ends);

    private static long Retained<T>(ReadOnlyMemory<T> memory) where T : unmanaged =>
        (MemoryMarshal.TryGetArray(memory, out ArraySegment<T> segment) && segment.Array is { } array ? array.LongLength : memory.Length)
        * Unsafe.SizeOf<T>();
}
