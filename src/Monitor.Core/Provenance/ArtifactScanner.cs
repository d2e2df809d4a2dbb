namespace Monitor.Core.Provenance;

/// <summary>
/// Scans a model artifact for unsafe deserialisation before it is trusted: pickle streams (<c>.pkl</c>,
/// <c>.joblib</c> also when zlib- or gzip-compressed, the <c>*.pkl</c> entries of a PyTorch zip, the pickles of a
/// legacy PyTorch file) are parsed opcode by opcode without unpickling anything, Keras configs (<c>.keras</c> zips,
/// HDF5 <c>model_config</c>) are searched for Lambda layers and custom objects, and safetensors headers are checked.
/// ONNX and TensorFlow SavedModel files are recognised but not inspected. Fails closed: a malformed, truncated or
/// too large artifact is never <see cref="ScanVerdict.Safe"/>. See docs/security.md, "Unsafe-deserialisation scan".
/// </summary>
public static partial class ArtifactScanner
{
    private static readonly byte[] ZipMagic = [(byte)'P', (byte)'K', 3, 4];
    private static readonly byte[] Hdf5Magic = [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n'];

    // torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c as pickle's LONG1 writes it: the first pickle of a legacy file.
    private static readonly byte[] LegacyTorchMagic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    /// <summary>
    /// Scans the file at <paramref name="path"/>; a directory is scanned as a TensorFlow SavedModel when it holds
    /// <c>saved_model.pb</c>.
    /// </summary>
    public static ScanReport Scan(string path, ScanLimits? limits = null)
    {
        if (Directory.Exists(path))
        {
            string pb = Path.Combine(path, "saved_model.pb");
            if (File.Exists(pb))
            {
                return Scan(pb, limits);
            }

            var findings = new List<ScanFinding>
            {
                new(FindingSeverity.Blocking, "a directory without saved_model.pb; not scanned", null, null, null, null),
            };
            return Finish(ArtifactFormat.Unknown, null, [], findings);
        }

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

        // Zips, HDF5 and protobuf files are read where they lie (a PyTorch zip is mostly tensor bytes that are never
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
        byte[] header = new byte[32];
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

        if (SafetensorsScanner.LooksLikeSafetensors(head))
        {
            int? tensors = SafetensorsScanner.Scan(source, limits, findings);
            return Finish(ArtifactFormat.Safetensors, null, imports, findings) with { TensorCount = tensors };
        }

        if (Codec(head) is string codec)
        {
            return ScanCompressed(source, codec, limits, imports, findings);
        }

        if (LooksLikePickle(head))
        {
            return head.IndexOf(LegacyTorchMagic) >= 0
                ? ScanLegacyTorch(source, limits, imports, findings)
                : ScanPickle(source, limits, imports, findings, compression: null);
        }

        if (head.Length > 0 && head[0] == 0x08 && ProtobufFormats.Identify(source) is ArtifactFormat protobuf)
        {
            findings.Add(protobuf == ArtifactFormat.Onnx
                ? new ScanFinding(FindingSeverity.Warning,
                    "ONNX model: loading it deserialises no Python objects, but its graph (operators, custom-operator domains, "
                    + "external data paths) is not inspected", null, null, null, null)
                : new ScanFinding(FindingSeverity.Blocking,
                    "TensorFlow SavedModel: its graph is a program (operations can read and write files, Keras metadata can carry "
                    + "a Lambda layer's bytecode) and the scanner does not inspect it", null, null, null, null));
            return Finish(protobuf, null, imports, findings);
        }

        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            "not a pickle, joblib, PyTorch, Keras, safetensors, ONNX or TensorFlow file; nothing can be said about what loading it runs",
            null, null, 0, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
    }

    private static ScanReport ScanPickle(Stream source, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings, string? compression)
    {
        byte[]? data = ReadBounded(source, limits.MaxBytes);
        if (data is null)
        {
            return TooLarge(limits, imports, findings);
        }

        return ScanPickle(data, limits, imports, findings, compression);
    }

    private static ScanReport ScanPickle(byte[] data, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings, string? compression)
    {
        var scanner = new PickleScanner(limits, imports, findings);
        scanner.ScanAll(data, null);
        ArtifactFormat format = scanner.SawJoblib ? ArtifactFormat.Joblib : ArtifactFormat.Pickle;
        return Finish(format, scanner.Protocol, imports, findings) with { Compression = compression };
    }

    // torch.save(..., _use_new_zipfile_serialization=False) writes five pickles (magic number, protocol version, system
    // information, the object, the storage keys) and then each storage's raw bytes, which torch.load reads as bytes. The
    // pickles come first and are small: a prefix is read, and read again four times longer while they run past it.
    private static ScanReport ScanLegacyTorch(Stream source, ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        const int Pickles = 5;
        long start = source.Position;
        long most = Math.Min(source.Length - start, limits.MaxBytes);
        long size = Math.Min(most, 1 << 20);
        while (true)
        {
            byte[] data = new byte[size];
            source.Position = start;
            source.ReadExactly(data);
            var tryImports = new List<PickleImport>();
            var tryFindings = new List<ScanFinding>();
            var scanner = new PickleScanner(limits, tryImports, tryFindings);
            (long end, int pickles) = scanner.ScanAll(data, null, count: Pickles);
            if (end < 0 && size < most && !scanner.Stopped)
            {
                size = Math.Min(most, size * 4);
                continue;
            }

            imports.AddRange(tryImports);
            findings.AddRange(tryFindings);
            if (end < 0 && most < source.Length - start && !scanner.Stopped)
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"the pickles of a legacy PyTorch file run past ScanLimits.MaxBytes ({limits.MaxBytes} bytes); not scanned", null, "LIMIT", size, null));
            }
            else if (end >= 0 && pickles < Pickles)
            {
                findings.Add(new ScanFinding(FindingSeverity.Blocking,
                    $"malformed legacy PyTorch file: {pickles} of its {Pickles} pickles, then the end", null, "EOF", end, null));
            }

            return Finish(ArtifactFormat.PyTorchLegacy, scanner.Protocol, imports, findings);
        }
    }

    private static ScanReport TooLarge(ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
    {
        findings.Add(new ScanFinding(FindingSeverity.Blocking,
            $"pickle stream larger than ScanLimits.MaxBytes ({limits.MaxBytes} bytes); not scanned", null, "LIMIT", limits.MaxBytes, null));
        return Finish(ArtifactFormat.Unknown, null, imports, findings);
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

    private static ScanReport Finish(ArtifactFormat format, int? protocol, List<PickleImport> imports, List<ScanFinding> findings)
    {
        ScanVerdict verdict = findings.Any(f => f.Severity == FindingSeverity.Blocking)
            ? format == ArtifactFormat.Unknown && findings.All(f => f.Opcode != "LIMIT") ? ScanVerdict.UnknownFormat : ScanVerdict.Unsafe
            : format switch
            {
                ArtifactFormat.Unknown => ScanVerdict.UnknownFormat,
                ArtifactFormat.Onnx => ScanVerdict.NotInspected,
                _ => ScanVerdict.Safe,
            };
        return new ScanReport(format, protocol, imports, findings, verdict);
    }
}
