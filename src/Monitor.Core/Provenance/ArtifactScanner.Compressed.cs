using System.Buffers.Binary;
using System.IO.Compression;

namespace Monitor.Core.Provenance;

// Compressed pickles: joblib.dump(..., compress=...) wraps its pickle in zlib (the default), gzip, bz2, lzma, xz or lz4.
// zlib and gzip are read with System.IO.Compression, within ScanLimits.MaxBytes, and the pickle inside scanned; the others
// are not read, and since what is inside is almost certainly a pickle that runs when loaded, they block trust.
public static partial class ArtifactScanner
{
    // joblib before 0.10 wrote "ZF", the data's length in hex left-justified in 19 characters, then a zlib stream.
    private const string OldJoblibZlib = "zlib (joblib before 0.10)";

    private static string? Codec(ReadOnlySpan<byte> head) =>
        head.StartsWith((ReadOnlySpan<byte>)[0x1f, 0x8b]) ? "gzip"
        : head.Length > 1 && head[0] == 0x78 && (head[0] * 256 + head[1]) % 31 == 0 ? "zlib"
        : head.StartsWith("ZF0x"u8) ? OldJoblibZlib
        : head.StartsWith("BZh"u8) ? "bz2"
        : head.StartsWith((ReadOnlySpan<byte>)[0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0]) ? "xz"
        : head.StartsWith((ReadOnlySpan<byte>)[0x5d, 0, 0]) ? "lzma"
        : head.StartsWith((ReadOnlySpan<byte>)[0x04, 0x22, 0x4d, 0x18]) ? "lz4"
        : null;

    private static ScanReport ScanCompressed(Stream source, string codec, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        if (codec is not ("zlib" or "gzip" or OldJoblibZlib))
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"compressed with {codec}, not read: what is inside (a joblib or pickle file runs code when loaded) cannot be scanned; "
                + "store it uncompressed or compressed with zlib or gzip", null, null, 0, null));
            return Finish(ArtifactFormat.Compressed, null, imports, findings) with { Compression = codec };
        }

        long start = source.Position;
        long length = source.Length - start;
        using var inflated = new MemoryStream();
        string? broken = null;
        try
        {
            // The header is read here and the deflate data inflated raw: ZLibStream and GZipStream fail on a bad checksum
            // without handing over what they inflated, and that is what Python's unpickler would have run.
            source.Position = start + DeflateStart(source, codec);
            using var inflate = new DeflateStream(source, CompressionMode.Decompress, leaveOpen: true);
            byte[] chunk = new byte[81920];
            int n;
            while ((n = inflate.Read(chunk, 0, chunk.Length)) > 0)
            {
                if (inflated.Length + n > limits.MaxBytes)
                {
                    findings.Add(new ScanFinding(FindingSeverity.Blocking,
                        $"{codec}-compressed data larger than ScanLimits.MaxBytes ({limits.MaxBytes} bytes) when decompressed; not scanned",
                        null, "LIMIT", null, null));
                    return Finish(ArtifactFormat.Unknown, null, imports, findings) with { Compression = codec };
                }

                inflated.Write(chunk, 0, n);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            broken = $"malformed {codec} stream: {e.Message}";
        }

        byte[] data = inflated.ToArray();
        if (broken is null)
        {
            // A stream cut short decompresses without complaint up to the cut: the checksum at the end of the file must match.
            byte[] trailer = new byte[Math.Min(length, 8)];
            source.Position = start + length - trailer.Length;
            source.ReadExactly(trailer);
            bool intact = codec != "gzip"
                ? trailer.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(trailer.AsSpan(trailer.Length - 4)) == Adler32(data)
                : trailer.Length == 8 && BinaryPrimitives.ReadUInt32LittleEndian(trailer) == Crc32(data)
                  && BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4)) == (uint)data.Length;
            broken = intact ? null : $"malformed {codec} stream: truncated, corrupted or followed by other data (the checksum at its end does not match)";
        }

        if (!LooksLikePickle(data))
        {
            return Malformed(broken ?? $"{codec}-compressed data that is not a pickle; nothing can be said about what loading it runs");
        }

        // Python's unpickler runs what it reads before the decompressor reaches a bad checksum: a broken stream is scanned too.
        if (broken is not null)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, broken, null, null, null, null));
        }

        return ScanPickle(data, limits, imports, findings, codec);

        ScanReport Malformed(string message)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, message, null, null, null, null));
            return Finish(ArtifactFormat.Unknown, null, imports, findings) with { Compression = codec };
        }
    }

    // Where the deflate data starts after a zlib (RFC 1950) or gzip (RFC 1952) header.
    private static long DeflateStart(Stream source, string codec)
    {
        Span<byte> head = stackalloc byte[10];
        if (codec != "gzip")
        {
            int skip = codec == OldJoblibZlib ? 2 + 19 : 0;
            source.Seek(skip, SeekOrigin.Current);
            source.ReadExactly(head[..2]);
            return (head[1] & 0x20) != 0 ? throw new InvalidDataException("a preset dictionary is not supported") : skip + 2;
        }

        source.ReadExactly(head);
        if (head[2] != 8)
        {
            throw new InvalidDataException($"compression method {head[2]} is not deflate");
        }

        byte flags = head[3];
        long pos = 10;
        if ((flags & 0x04) != 0) // FEXTRA
        {
            source.ReadExactly(head[..2]);
            pos += 2 + BinaryPrimitives.ReadUInt16LittleEndian(head);
            source.Seek(BinaryPrimitives.ReadUInt16LittleEndian(head), SeekOrigin.Current);
        }

        foreach (int flag in (ReadOnlySpan<int>)[0x08, 0x10]) // FNAME, FCOMMENT: zero-terminated
        {
            if ((flags & flag) != 0)
            {
                int b;
                do
                {
                    b = source.ReadByte();
                    pos++;
                }
                while (b > 0);

                if (b < 0)
                {
                    throw new EndOfStreamException("the gzip header runs past the end");
                }
            }
        }

        return (flags & 0x02) != 0 ? pos + 2 : pos; // FHCRC
    }

    private static uint Adler32(ReadOnlySpan<byte> data)
    {
        uint a = 1, b = 0;
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, 5552); // the most bytes before b can overflow 32 bits
            foreach (byte x in data[..n])
            {
                a += x;
                b += a;
            }

            a %= 65521;
            b %= 65521;
            data = data[n..];
        }

        return (b << 16) | a;
    }

    private static readonly uint[] Crc32Table = MakeCrc32Table();

    private static uint[] MakeCrc32Table()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte x in data)
        {
            crc = Crc32Table[(crc ^ x) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }
}
