namespace Monitor.Core.Provenance;

/// <summary>The serialisation format an artifact was recognised as.</summary>
public enum ArtifactFormat
{
    /// <summary>Nothing the scanner knows; never trusted.</summary>
    Unknown,
    /// <summary>A bare pickle stream (<c>.pkl</c>); <see cref="ScanReport.PickleProtocol"/> says which protocol.</summary>
    Pickle,
    /// <summary>A pickle written by <c>joblib.dump</c> (numpy arrays inline after their wrappers).</summary>
    Joblib,
    /// <summary>A PyTorch zip archive (<c>torch.save</c>): every <c>*.pkl</c> entry is scanned.</summary>
    PyTorchZip,
    /// <summary>A Keras 3 <c>.keras</c> zip: <c>config.json</c> is scanned for Lambda layers and custom objects.</summary>
    KerasZip,
    /// <summary>A Keras HDF5 file: the <c>model_config</c> attribute is scanned like a <c>.keras</c> config.</summary>
    KerasHdf5,
    /// <summary>A PyTorch file in the format before zips (<c>_use_new_zipfile_serialization=False</c>): its five pickles are scanned, its storages are not read.</summary>
    PyTorchLegacy,
    /// <summary>A safetensors file: a bounded JSON header and tensor bytes, no code; <see cref="ScanReport.TensorCount"/> says how many tensors.</summary>
    Safetensors,
    /// <summary>An ONNX model (protobuf): no pickle; its graph is not inspected (<see cref="ScanVerdict.NotInspected"/>).</summary>
    Onnx,
    /// <summary>A TensorFlow SavedModel (<c>saved_model.pb</c> or its directory): a program the scanner does not inspect; blocks trust.</summary>
    TensorFlowSavedModel,
    /// <summary>Compressed with a codec the scanner does not decompress (<see cref="ScanReport.Compression"/>: bz2, xz, lzma, lz4); blocks trust.</summary>
    Compressed,
}

/// <summary>Whether an artifact may be trusted to load.</summary>
public enum ScanVerdict
{
    /// <summary>Recognised and fully scanned, and no finding blocks trust (warnings may remain).</summary>
    Safe,
    /// <summary>At least one blocking finding: a dangerous import, a malformed stream, a limit reached.</summary>
    Unsafe,
    /// <summary>The format is not one the scanner reads, so nothing can be said; never trusted.</summary>
    UnknownFormat,
    /// <summary>
    /// Recognised as a format that deserialises no Python objects (ONNX), but its content is not inspected: not a finding,
    /// and not a statement that it is safe.
    /// </summary>
    NotInspected,
}

/// <summary>How much a finding weighs.</summary>
public enum FindingSeverity
{
    /// <summary>Worth a look, does not block trust (an unknown import that is only referenced).</summary>
    Warning,
    /// <summary>Blocks trust in the artifact.</summary>
    Blocking,
}

/// <summary>A name a pickle imports: <c>module.name</c>, the opcode that imported it and its byte offset.</summary>
/// <param name="Entry">The zip entry (or nested pickle) holding the stream, null for a bare file.</param>
public sealed record PickleImport(string Module, string Name, string Opcode, long Offset, string? Entry)
{
    /// <summary><c>module.name</c>.</summary>
    public string FullName => Module + "." + Name;

    /// <inheritdoc/>
    public override string ToString() => $"{FullName} ({Opcode} at {Offset}{(Entry is null ? "" : " in " + Entry)})";
}

/// <summary>One thing the scanner found.</summary>
/// <param name="Import">The import concerned (<c>module.name</c>), or a Keras layer's class, or null.</param>
/// <param name="Opcode">The opcode that made it a finding (REDUCE, BUILD, ...), or null outside pickles.</param>
/// <param name="Offset">Byte offset of that opcode in its stream, or null.</param>
/// <param name="Entry">The zip entry or nested pickle, null for a bare file.</param>
public sealed record ScanFinding(FindingSeverity Severity, string Message, string? Import, string? Opcode, long? Offset, string? Entry)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Severity}: {Message}{(Offset is null ? "" : $" [{Opcode} at byte {Offset}{(Entry is null ? "" : " of " + Entry)}]")}";
}

/// <summary>Bounds on the work one scan does; reaching one is a blocking finding.</summary>
/// <param name="MaxBytes">Largest pickle stream, zip entry, decompressed joblib file or safetensors header read, most bytes read from an HDF5 file (and largest region of its headers), and largest artifact copied from a stream that cannot seek, in bytes (a zip, HDF5 or legacy PyTorch file on a seekable stream may be larger: only what is scanned is read).</param>
/// <param name="MaxOpcodes">Most pickle opcodes parsed over the whole artifact.</param>
/// <param name="MaxNesting">Deepest pickle nested inside another pickle's bytes that is scanned.</param>
/// <param name="MaxZipEntries">Most entries of a zip archive looked at.</param>
public sealed record ScanLimits(long MaxBytes = 256L << 20, long MaxOpcodes = 20_000_000, int MaxNesting = 4, int MaxZipEntries = 100_000)
{
    /// <summary>256 MiB, 20 million opcodes, 4 nested pickles, 100,000 zip entries.</summary>
    public static ScanLimits Default { get; } = new();
}

/// <summary>The outcome of <see cref="ArtifactScanner.Scan(string, ScanLimits?)"/>.</summary>
/// <param name="PickleProtocol">The highest PROTO seen in any pickle stream, 0 for protocol 0/1 streams, null when none was parsed.</param>
/// <param name="Imports">Every name the pickle streams import, in stream order.</param>
public sealed record ScanReport(
    ArtifactFormat Format, int? PickleProtocol, IReadOnlyList<PickleImport> Imports, IReadOnlyList<ScanFinding> Findings, ScanVerdict Verdict)
{
    /// <summary>The compression the artifact was read through (<c>zlib</c>, <c>gzip</c>) or found in and not read (<c>bz2</c>, <c>xz</c>, <c>lzma</c>, <c>lz4</c>); null when none.</summary>
    public string? Compression { get; init; }

    /// <summary>How many tensors a safetensors header lists; null for other formats.</summary>
    public int? TensorCount { get; init; }

    /// <summary>The blocking findings.</summary>
    public IEnumerable<ScanFinding> Blocking => Findings.Where(f => f.Severity == FindingSeverity.Blocking);

    /// <summary>One line for logs and registration responses, e.g. <c>Unsafe: PyTorchZip (pickle protocol 2), 1 import, 1 blocking finding, 0 warnings: denied posix.system is called by REDUCE (...)</c>: the verdict, the format, the counts and the first blocking finding (else the first warning).</summary>
    public string Summary
    {
        get
        {
            var details = new List<string>();
            if (Compression is not null)
            {
                details.Add(Compression);
            }

            if (PickleProtocol is int p && Format != ArtifactFormat.Unknown)
            {
                details.Add($"pickle protocol {p}");
            }

            if (TensorCount is int n)
            {
                details.Add($"{n} tensor{(n == 1 ? "" : "s")}");
            }

            string format = details.Count > 0 ? $"{Format} ({string.Join(", ", details)})" : Format.ToString();
            int blocking = Blocking.Count();
            int warnings = Findings.Count - blocking;
            string first = Blocking.FirstOrDefault()?.Message ?? (Findings.Count > 0 ? Findings[0].Message : "");
            return $"{Verdict}: {format}, {Imports.Count} import{(Imports.Count == 1 ? "" : "s")}, "
                + $"{blocking} blocking finding{(blocking == 1 ? "" : "s")}, {warnings} warning{(warnings == 1 ? "" : "s")}"
                + (first.Length > 0 ? ": " + first : "");
        }
    }
}
