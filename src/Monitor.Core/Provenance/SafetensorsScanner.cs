using System.Buffers.Binary;
using System.Text.Json;

namespace Monitor.Core.Provenance;

/// <summary>
/// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
/// range, then the tensor bytes. Loading one runs no code, so a well-formed file is safe; a header that is not
/// well formed (beyond the file, not JSON, ranges outside the data or not matching dtype × shape) is blocking,
/// since a loader's behaviour on it is not known.
/// </summary>
internal static class SafetensorsScanner
{
    // safetensors refuses headers above 100 MB itself.
    private const long MaxHeader = 100_000_000;

    private static readonly Dictionary<string, int> DtypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>Whether the first bytes look like a safetensors header length followed by the JSON object it measures.</summary>
    public static bool LooksLikeSafetensors(ReadOnlySpan<byte> head) =>
        head.Length >= 9 && head[8] == (byte)'{' && BinaryPrimitives.ReadUInt64LittleEndian(head) is >= 2 and < (1UL << 40);

    /// <summary>Checks the header of the file at the stream's position; returns how many tensors it lists, or null when a finding blocks.</summary>
    public static int? Scan(Stream source, ScanLimits limits, List<ScanFinding> findings)
    {
        long length = source.Length - source.Position;
        Span<byte> prefix = stackalloc byte[8];
        source.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        long limit = Math.Min(MaxHeader, limits.MaxBytes);
        if (headerLength > (ulong)limit)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"safetensors header of {headerLength} bytes exceeds {limit} bytes (ScanLimits.MaxBytes, or safetensors' own 100 MB); not read",
                null, "LIMIT", 0, null));
            return null;
        }

        if ((long)headerLength > length - 8)
        {
            return Malformed($"header of {headerLength} bytes runs past the end of the file ({length} bytes)", findings);
        }

        byte[] header = new byte[headerLength];
        source.ReadExactly(header);
        long dataLength = length - 8 - (long)headerLength;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            return doc.RootElement.ValueKind == JsonValueKind.Object
                ? Tensors(doc.RootElement, dataLength, findings)
                : Malformed("the header is not a JSON object", findings);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // the latter for strings that are not UTF-8
        {
            return Malformed("the header is not JSON: " + e.Message, findings);
        }
    }

    private static int? Tensors(JsonElement root, long dataLength, List<ScanFinding> findings)
    {
        int count = 0;
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                if (p.Value.ValueKind != JsonValueKind.Object || p.Value.EnumerateObject().Any(m => m.Value.ValueKind != JsonValueKind.String))
                {
                    return Malformed("__metadata__ is not an object of strings", findings);
                }

                continue;
            }

            if (Tensor(p.Name, p.Value, dataLength, findings) is string problem)
            {
                return Malformed(problem, findings);
            }

            count++;
        }

        return count;
    }

    // Null when the entry is a well-formed tensor whose bytes lie in the data section, else what is wrong with it.
    private static string? Tensor(string name, JsonElement t, long dataLength, List<ScanFinding> findings)
    {
        if (t.ValueKind != JsonValueKind.Object
            || !t.TryGetProperty("dtype", out JsonElement dtype) || dtype.ValueKind != JsonValueKind.String
            || !t.TryGetProperty("shape", out JsonElement shape) || shape.ValueKind != JsonValueKind.Array
            || !t.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            return $"tensor '{name}' lacks a dtype, a shape or two data_offsets";
        }

        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin || end > dataLength)
        {
            return $"tensor '{name}' has data_offsets {offsets.GetRawText()} outside the {dataLength} bytes of data";
        }

        long elements = 1;
        foreach (JsonElement d in shape.EnumerateArray())
        {
            if (!d.TryGetInt64(out long n) || n < 0)
            {
                return $"tensor '{name}' has a shape {shape.GetRawText()} that is not a list of sizes";
            }

            elements = n == 0 || elements == 0 ? 0 : elements <= long.MaxValue / n ? elements * n : long.MaxValue;
        }

        if (!DtypeSizes.TryGetValue(dtype.GetString()!, out int size))
        {
            findings.Add(new ScanFinding(FindingSeverity.Warning,
                $"safetensors tensor '{name}' has dtype {dtype.GetString()}, which the scanner does not know; its size is not checked", null, null, null, null));
            return null;
        }

        return elements > long.MaxValue / size || elements * size != end - begin
            ? $"tensor '{name}' of shape {shape.GetRawText()} and dtype {dtype.GetString()} does not fill its {end - begin} bytes"
            : null;
    }

    private static int? Malformed(string message, List<ScanFinding> findings)
    {
        findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed safetensors file: " + message, null, null, null, null));
        return null;
    }
}
