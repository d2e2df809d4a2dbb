using System.IO.Compression;

namespace Monitor.Core.Provenance;

/// <summary>
/// Scans a model artifact for unsafe deserialisation before it is trusted: pickle streams (<c>.pkl</c>,
/// <c>.joblib</c>, the <c>*.pkl</c> entries of a PyTorch zip) are parsed opcode by opcode without
/// unpickling anything, and Keras configs (<c>.keras</c> zips, HDF5 <c>model_config</c>) are searched for
/// Lambda layers and custom objects. Fails closed: a malformed, truncated or too large artifact is never
/// <see cref="ScanVerdict.Safe"/>. See docs/security.md, "Unsafe-deserialisation scan".
/// </summary>
public static class ArtifactScanner
{
    private static readonly byte[] ZipMagic = [(byte)'P', (byte)'K', 3, 4];
    private static readonly byte[] Hdf5Magic = [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n'];

    /// <summary>Scans the file at <paramref name="path"/>.</summary>
    public static ScanReport Scan(string path, ScanLimits? limits = null)
    {
        using FileStream stream = File.OpenRead(path);
        return Scan(stream, limits);
    }

    /// <summary>Scans an artifact read from <paramref name="stream"/> (read to its end; not closed).</summary>
    public static ScanReport Scan(Stream stream, ScanLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= ScanLimits.Default;
        var imports = new List<PickleImport>();
        var findings = new List<ScanFinding>();

        // Zips and HDF5 files are read where they lie (a PyTorch zip is mostly tensor bytes that are never
        // read); a stream that cannot seek is first copied, within MaxBytes.
        Stream source = stream;
        if (!stream.CanSeek)
        {
            byte[]? all = ReadBounded(stream, limits.MaxBytes);
            if (all is null)
            {
                return TooLarge(limits, imports, findings);
            }

            source = new MemoryStream(all, writable: false);
        }

        long start = source.Position;
        byte[] header = new byte[8];
        int got = source.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        source.Position = start;
        ReadOnlySpan<byte> head = header.AsSpan(0, got);
        if (head.StartsWith(ZipMagic))
        {
            return ScanZip(source, limits, imports, findings);
        }

        if (head.StartsWith(Hdf5Magic))
        {
            KerasScanner.ScanHdf5(source, limits, findings);
            return Finish(ArtifactFormat.KerasHdf5, null, imports, findings);
        }

        if (LooksLikePickle(head))
        {
            byte[]? data = ReadBounded(source, limits.MaxBytes);
            if (data is null)
            {
                return TooLarge(limits, imports, findings);
            }

            var scanner = new PickleScanner(limits, imports, findings);
            scanner.ScanAll(data, null);
            return Finish(scanner.SawJoblib ? ArtifactFormat.Joblib : ArtifactFormat.Pickle, scanner.Protocol, imports, findings);
        }

        string? compression = Compression(head);
        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            compression is null
                ? "not a pickle, joblib, PyTorch zip or Keras file; nothing can be said about what loading it runs"
                : $"{compression}-compressed data (a compressed joblib file?) is not scanned; store it uncompressed",
            null, null, 0, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
    }

    private static ScanReport TooLarge(ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            $"pickle stream larger than ScanLimits.MaxBytes ({limits.MaxBytes} bytes); not scanned", null, "LIMIT", limits.MaxBytes, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
    }

    private static ScanReport ScanZip(Stream source, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(source, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed zip: " + e.Message, null, null, 0, null));
            return Finish(ArtifactFormat.Unknown, null, imports, findings);
        }

        using (zip)
        {
            try
            {
                return ScanZipEntries(zip, limits, imports, findings);
            }
            catch (InvalidDataException e)
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking, "malformed zip: " + e.Message, null, null, null, null));
                return Finish(ArtifactFormat.Unknown, null, imports, findings);
            }
        }
    }

    // A zip is a PyTorch archive when it holds pickles, a Keras 3 archive when it holds config.json beside
    // metadata.json or model.weights.h5; anything else is not known.
    private static ScanReport ScanZipEntries(ZipArchive zip, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        if (zip.Entries.Count > limits.MaxZipEntries)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip of {zip.Entries.Count} entries exceeds ScanLimits.MaxZipEntries ({limits.MaxZipEntries}); not scanned", null, "LIMIT", null, null));
            return Finish(ArtifactFormat.Unknown, null, imports, findings);
        }

        var pickles = zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase)).ToList();
        if (pickles.Count > 0)
        {
            var scanner = new PickleScanner(limits, imports, findings);
            foreach (ZipArchiveEntry e in pickles)
            {
                byte[]? bytes = ReadEntry(e, limits, findings);
                if (bytes is null || scanner.Stopped)
                {
                    continue;
                }

                scanner.ScanAll(bytes, e.FullName);
            }

            return Finish(ArtifactFormat.PyTorchZip, scanner.Protocol, imports, findings);
        }

        ZipArchiveEntry? config = zip.GetEntry("config.json");
        if (config is not null && (zip.GetEntry("metadata.json") is not null || zip.GetEntry("model.weights.h5") is not null))
        {
            byte[]? bytes = ReadEntry(config, limits, findings);
            if (bytes is not null)
            {
                KerasScanner.ScanConfig(bytes, "config.json", findings);
            }

            return Finish(ArtifactFormat.KerasZip, null, imports, findings);
        }

        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            "a zip with neither pickle entries (PyTorch) nor config.json and metadata.json (Keras); not scanned", null, null, 0, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
    }

    private static byte[]? ReadEntry(ZipArchiveEntry e, ScanLimits limits, List<ScanFinding> findings)
    {
        if (e.Length > limits.MaxBytes)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip entry of {e.Length} bytes exceeds ScanLimits.MaxBytes ({limits.MaxBytes}); not scanned", null, "LIMIT", null, e.FullName));
            return null;
        }

        using Stream s = e.Open();
        byte[]? bytes = ReadBounded(s, limits.MaxBytes);
        if (bytes is null)
        {
            findings.Add(new ScanFinding(FindingSeverity.Blocking,
                $"zip entry exceeds ScanLimits.MaxBytes ({limits.MaxBytes}) when inflated; not scanned", null, "LIMIT", null, e.FullName));
        }

        return bytes;
    }

    // Reads to the end, or returns null once more than max bytes arrive.
    private static byte[]? ReadBounded(Stream stream, long max)
    {
        if (stream.CanSeek && stream.Length - stream.Position > max)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + n > max)
            {
                return null;
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }

    // Protocol 2+ starts with PROTO; protocols 0 and 1 start with an opcode that pushes something.
    private static bool LooksLikePickle(ReadOnlySpan<byte> head) =>
        head.Length > 0 && (head[0] == 0x80 ? head.Length == 1 || head[1] <= 5 : "(cNIJKLMSTUVX]})lgh".Contains((char)head[0], StringComparison.Ordinal));

    private static string? Compression(ReadOnlySpan<byte> head) =>
        head.StartsWith("\x1f\x8b"u8) ? "gzip"
        : head.StartsWith("ZF"u8) || (head.Length > 1 && head[0] == 0x78 && (head[0] * 256 + head[1]) % 31 == 0) ? "zlib"
        : head.StartsWith("BZh"u8) ? "bz2"
        : head.StartsWith((ReadOnlySpan<byte>)[0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z']) ? "xz"
        : head.StartsWith((ReadOnlySpan<byte>)[0x04, 0x22, 0x4d, 0x18]) ? "lz4"
        : null;

    private static ScanReport Finish(ArtifactFormat format, int? protocol, List<PickleImport> imports, List<ScanFinding> findings)
    {
        ScanVerdict verdict = findings.Any(f => f.Severity == FindingSeverity.Blocking)
            ? format == ArtifactFormat.Unknown && findings.All(f => f.Opcode != "LIMIT") ? ScanVerdict.UnknownFormat : ScanVerdict.Unsafe
            : format == ArtifactFormat.Unknown ? ScanVerdict.UnknownFormat : ScanVerdict.Safe;
        return new ScanReport(format, protocol, imports, findings, verdict);
    }
}
