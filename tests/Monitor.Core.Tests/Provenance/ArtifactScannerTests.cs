using System.Text;
using Monitor.Core.Provenance;

namespace Monitor.Core.Tests.Provenance;

public sealed class ArtifactScannerTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Provenance", "Fixtures", name);

    private static ScanReport Scan(string name, ScanLimits? limits = null) => ArtifactScanner.Scan(Fixture(name), limits);

    private static ScanReport ScanBytes(byte[] bytes, ScanLimits? limits = null)
    {
        using var s = new MemoryStream(bytes);
        return ArtifactScanner.Scan(s, limits);
    }

    /// <summary>A stream that cannot seek, as a network body is.</summary>
    private sealed class ForwardOnly(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData("ok_torch_state_dict.pt", ScanVerdict.Safe)]
    [InlineData("mal_torch_data_pkl.pt", ScanVerdict.Unsafe)]
    [InlineData("mal_keras_lambda.h5", ScanVerdict.Unsafe)]
    [InlineData("ok_sklearn_pipeline.joblib", ScanVerdict.Safe)]
    public void A_stream_that_cannot_seek_is_scanned_the_same(string file, ScanVerdict verdict)
    {
        using var s = new ForwardOnly(File.OpenRead(Fixture(file)));

        Assert.Equal(verdict, ArtifactScanner.Scan(s).Verdict);
    }

    [Theory]
    [InlineData("mal_proto0_os_system.pkl", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_proto1_os_system.pkl", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_proto2_os_system.pkl", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_proto3_os_system.pkl", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_proto4_os_system.pkl", "posix.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_proto5_os_system.pkl", "posix.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_reduce_ex_subprocess_popen.pkl", "subprocess.Popen", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_stack_global_memo.pkl", "os.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_inst_os_system.pkl", "os.system", "INST", "INST")]
    [InlineData("mal_obj_os_system.pkl", "os.system", "OBJ", "GLOBAL")]
    [InlineData("mal_newobj_subprocess_popen.pkl", "subprocess.Popen", "NEWOBJ", "GLOBAL")]
    [InlineData("mal_build_setstate.pkl", "os.system", "BUILD", "GLOBAL")]
    [InlineData("mal_copyreg_reconstructor.pkl", "subprocess.Popen", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_getattr_chain.pkl", "builtins.getattr", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_getattr_chain.pkl", "builtins.__import__", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_attrgetter.pkl", "operator.attrgetter", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_importlib.pkl", "importlib.import_module", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_nested_pickle_loads.pkl", "_pickle.loads", "REDUCE", "GLOBAL")]
    [InlineData("mal_evasion_dotted_name.pkl", "sklearn.utils.os.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_os_system.joblib", "posix.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_torch_data_pkl.pt", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_torch_legacy.pt", "posix.system", "REDUCE", "GLOBAL")]
    [InlineData("mal_os_system_zlib.joblib", "posix.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_os_system_gzip.joblib", "posix.system", "REDUCE", "STACK_GLOBAL")]
    [InlineData("mal_os_system_zfile.joblib", "posix.system", "REDUCE", "GLOBAL")]
    public void A_malicious_pickle_is_unsafe_with_the_import_and_the_opcode_that_calls_it(string file, string import, string opcode, string importOpcode)
    {
        ScanReport report = Scan(file);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        ScanFinding finding = Assert.Single(report.Findings, f => f.Import == import && f.Opcode == opcode);
        Assert.Equal(FindingSeverity.Blocking, finding.Severity);
        Assert.NotNull(finding.Offset);
        Assert.Contains(report.Imports, i => i.FullName == import && i.Opcode == importOpcode);
        Assert.StartsWith("Unsafe: ", report.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void The_pickle_protocol_is_reported(int protocol)
    {
        ScanReport report = Scan($"mal_proto{protocol}_os_system.pkl");

        Assert.Equal(ArtifactFormat.Pickle, report.Format);
        Assert.Equal(protocol, report.PickleProtocol);
    }

    [Fact]
    public void Stack_global_resolves_its_strings_through_the_memo_with_the_byte_offset()
    {
        ScanReport report = Scan("mal_stack_global_memo.pkl");

        PickleImport import = Assert.Single(report.Imports);
        Assert.Equal(("os", "system", "STACK_GLOBAL"), (import.Module, import.Name, import.Opcode));
        // PROTO(2) + 'os'(4) MEMOIZE POP + 'system'(8) MEMOIZE POP + BINGET 0(2) + BINGET 1(2)
        Assert.Equal(2 + 4 + 2 + 8 + 2 + 2 + 2, import.Offset);
    }

    [Fact]
    public void A_pickle_nested_in_bytes_given_to_pickle_loads_is_scanned_too()
    {
        ScanReport report = Scan("mal_evasion_nested_pickle_loads.pkl");

        ScanFinding inner = Assert.Single(report.Findings, f => f.Import == "posix.system");
        Assert.Equal("REDUCE", inner.Opcode);
        Assert.Contains("nested pickle", inner.Entry, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pickle_inside_a_torch_zip_and_joblib_files_are_named_in_the_findings()
    {
        ScanReport torch = Scan("mal_torch_data_pkl.pt");
        ScanReport joblib = Scan("mal_os_system.joblib");

        Assert.Equal(ArtifactFormat.PyTorchZip, torch.Format);
        Assert.Equal("archive/data.pkl", torch.Findings.Single(f => f.Import == "posix.system").Entry);
        Assert.Equal(ArtifactFormat.Joblib, joblib.Format);
        Assert.Equal("Unsafe: PyTorchZip (pickle protocol 2), 1 import, 1 blocking finding, 0 warnings: denied posix.system is called by REDUCE "
            + "(what `os` is called on Linux/macOS when pickled (`posix.system`))", torch.Summary);
    }

    [Theory]
    [InlineData("ok_numpy_array_proto0.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_numpy_array_proto2.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_numpy_array_proto4.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_numpy_array_proto5.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_sklearn_logreg.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_sklearn_pipeline.pkl", ArtifactFormat.Pickle)]
    [InlineData("ok_sklearn_pipeline.joblib", ArtifactFormat.Joblib)]
    [InlineData("ok_numpy_mixed.joblib", ArtifactFormat.Joblib)]
    [InlineData("ok_torch_state_dict.pt", ArtifactFormat.PyTorchZip)]
    [InlineData("ok_torch_parameter.pt", ArtifactFormat.PyTorchZip)]
    [InlineData("ok_keras_dense.keras", ArtifactFormat.KerasZip)]
    [InlineData("ok_keras_dense.h5", ArtifactFormat.KerasHdf5)]
    [InlineData("ok_numpy_zlib.joblib", ArtifactFormat.Joblib)]
    [InlineData("ok_sklearn_pipeline_gzip.joblib", ArtifactFormat.Joblib)]
    [InlineData("ok_torch_legacy.pt", ArtifactFormat.PyTorchLegacy)]
    [InlineData("ok_tensors.safetensors", ArtifactFormat.Safetensors)]
    public void A_benign_artifact_is_safe(string file, ArtifactFormat format)
    {
        ScanReport report = Scan(file);

        Assert.True(report.Verdict == ScanVerdict.Safe, report.Summary + "\n" + string.Join("\n", report.Findings));
        Assert.Equal(format, report.Format);
        Assert.Empty(report.Blocking);
        Assert.StartsWith("Safe: ", report.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void The_torch_state_dict_imports_only_what_rebuilds_tensors()
    {
        ScanReport report = Scan("ok_torch_state_dict.pt");

        Assert.Contains(report.Imports, i => i.FullName == "torch._utils._rebuild_tensor_v2");
        Assert.Contains(report.Imports, i => i.FullName == "collections.OrderedDict");
        Assert.Empty(report.Findings);
    }

    [Fact]
    public void A_truncated_stream_is_unsafe_with_the_offset_where_it_ends()
    {
        ScanReport report = Scan("mal_truncated.pkl");
        long length = new FileInfo(Fixture("mal_truncated.pkl")).Length;

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        ScanFinding f = Assert.Single(report.Blocking);
        Assert.Contains("truncated", f.Message, StringComparison.Ordinal);
        Assert.InRange(f.Offset!.Value, 0, length);
    }

    [Fact]
    public void A_stream_cut_short_without_frames_is_unsafe_at_its_end()
    {
        byte[] whole = File.ReadAllBytes(Fixture("ok_numpy_array_proto2.pkl"));

        for (int cut = 1; cut < whole.Length; cut += 7)
        {
            ScanReport report = ScanBytes(whole[..cut]);
            Assert.NotEqual(ScanVerdict.Safe, report.Verdict);
            Assert.Contains(report.Blocking, f => f.Message.StartsWith("malformed pickle", StringComparison.Ordinal) && f.Offset <= cut);
        }
    }

    [Theory]
    [InlineData("mal_keras_lambda.keras", ArtifactFormat.KerasZip)]
    [InlineData("mal_keras_lambda.h5", ArtifactFormat.KerasHdf5)]
    [InlineData("mal_keras_lambda_vlen.h5", ArtifactFormat.KerasHdf5)]
    public void A_keras_lambda_layer_is_reported_by_name(string file, ArtifactFormat format)
    {
        ScanReport report = Scan(file);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Equal(format, report.Format);
        ScanFinding f = Assert.Single(report.Findings);
        Assert.Equal("Lambda layer 'evil_lambda' runs arbitrary Python code when loaded", f.Message);
        Assert.Equal(FindingSeverity.Blocking, f.Severity);
    }

    [Fact]
    public void A_keras_custom_object_is_reported_with_its_module()
    {
        ScanReport report = Scan("mal_keras_custom_object.keras");

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Equal("attacker_pkg.layers.Backdoor", Assert.Single(report.Findings).Import);
    }

    [Fact]
    public void The_opcode_and_byte_limits_stop_the_scan_with_a_blocking_finding()
    {
        ScanReport opcodes = Scan("ok_sklearn_pipeline.pkl", new ScanLimits(MaxOpcodes: 50));
        ScanReport bytes = Scan("ok_sklearn_pipeline.pkl", new ScanLimits(MaxBytes: 100));
        ScanReport entry = Scan("ok_torch_state_dict.pt", new ScanLimits(MaxBytes: 2000, MaxOpcodes: 5));

        Assert.Equal(ScanVerdict.Unsafe, opcodes.Verdict);
        Assert.Contains("50 opcodes", Assert.Single(opcodes.Blocking).Message, StringComparison.Ordinal);
        Assert.Equal(ScanVerdict.Unsafe, bytes.Verdict);
        Assert.Equal("LIMIT", Assert.Single(bytes.Blocking).Opcode);
        Assert.Equal(ScanVerdict.Unsafe, entry.Verdict);
        Assert.Equal(ScanVerdict.Safe, Scan("ok_sklearn_pipeline.pkl", new ScanLimits(MaxOpcodes: 100_000)).Verdict);
        // A zip larger than MaxBytes is fine when the pickles in it are not: tensor bytes are never read.
        Assert.Equal(ScanVerdict.Safe, Scan("ok_torch_state_dict.pt", new ScanLimits(MaxBytes: 300)).Verdict);
        Assert.Equal(ScanVerdict.Unsafe, Scan("ok_torch_state_dict.pt", new ScanLimits(MaxBytes: 200)).Verdict);
    }

    [Fact]
    public void Pickles_nested_deeper_than_the_limit_are_a_blocking_finding()
    {
        ScanReport joblib = Scan("ok_numpy_mixed.joblib", new ScanLimits(MaxNesting: 0));
        ScanReport loads = Scan("mal_evasion_nested_pickle_loads.pkl", new ScanLimits(MaxNesting: 0));

        Assert.Equal(ScanVerdict.Unsafe, joblib.Verdict);
        Assert.Equal("LIMIT", Assert.Single(joblib.Blocking).Opcode);
        Assert.Contains(loads.Blocking, f => f.Opcode == "LIMIT");
        Assert.DoesNotContain(loads.Findings, f => f.Import == "posix.system");
    }

    [Fact]
    public void An_unknown_import_only_referenced_is_a_warning_a_denied_one_blocks()
    {
        ScanReport unknown = ScanBytes([0x80, 2, .. "cmylib\nthing\n."u8]);
        ScanReport denied = ScanBytes([0x80, 2, .. "cos\nsystem\n."u8]);
        ScanReport called = ScanBytes([0x80, 2, .. "cmylib\nthing\n)R."u8]);

        Assert.Equal(ScanVerdict.Safe, unknown.Verdict);
        Assert.Equal(FindingSeverity.Warning, Assert.Single(unknown.Findings).Severity);
        Assert.Equal(ScanVerdict.Unsafe, denied.Verdict);
        Assert.Equal("GLOBAL", Assert.Single(denied.Blocking).Opcode);
        Assert.Equal(ScanVerdict.Unsafe, called.Verdict);
        Assert.Equal("mylib.thing", Assert.Single(called.Blocking).Import);
    }

    [Fact]
    public void Every_pickle_of_a_stream_is_scanned()
    {
        byte[] benign = File.ReadAllBytes(Fixture("ok_numpy_array_proto2.pkl"));
        byte[] evil = File.ReadAllBytes(Fixture("mal_proto2_os_system.pkl"));

        ScanReport report = ScanBytes([.. benign, .. evil]);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        ScanFinding f = Assert.Single(report.Blocking);
        Assert.Equal("posix.system", f.Import);
        Assert.True(f.Offset >= benign.Length);
    }

    [Theory]
    [InlineData(new byte[] { 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a })]
    [InlineData(new byte[] { 0x1f, 0x8b, 0x08, 0x00 })]
    [InlineData(new byte[] { })]
    public void An_unknown_or_compressed_file_is_unknown_format(byte[] bytes)
    {
        ScanReport report = ScanBytes(bytes);

        Assert.Equal(ScanVerdict.UnknownFormat, report.Verdict);
        Assert.Equal(ArtifactFormat.Unknown, report.Format);
        Assert.NotEmpty(report.Blocking);
    }

    [Fact]
    public void Garbage_after_a_pickle_opcode_is_malformed_not_safe()
    {
        ScanReport report = ScanBytes(Encoding.ASCII.GetBytes("(\xff"));

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Contains("unknown opcode", Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ok_numpy_zlib.joblib", "zlib")]
    [InlineData("ok_sklearn_pipeline_gzip.joblib", "gzip")]
    [InlineData("mal_os_system_zlib.joblib", "zlib")]
    [InlineData("mal_os_system_gzip.joblib", "gzip")]
    public void A_zlib_or_gzip_compressed_joblib_file_is_decompressed_and_scanned(string file, string codec)
    {
        ScanReport report = Scan(file);
        ScanReport uncompressed = Scan(file.StartsWith("mal_", StringComparison.Ordinal) ? "mal_os_system.joblib" : "ok_numpy_mixed.joblib");

        Assert.True(report.Format == ArtifactFormat.Joblib, report.Summary);
        Assert.Equal(codec, report.Compression);
        Assert.StartsWith($"{uncompressed.Verdict}: Joblib ({codec}, pickle protocol ", report.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mal_os_system_bz2.joblib", "bz2")]
    [InlineData("mal_os_system_lzma.joblib", "lzma")]
    [InlineData("mal_os_system_xz.joblib", "xz")]
    [InlineData("mal_os_system_lz4.joblib", "lz4")]
    public void A_joblib_file_compressed_with_a_codec_not_read_blocks_trust(string file, string codec)
    {
        ScanReport report = Scan(file);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Equal(ArtifactFormat.Compressed, report.Format);
        Assert.Equal(codec, report.Compression);
        Assert.StartsWith($"compressed with {codec}, not read", Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
        Assert.Empty(report.Imports);
    }

    private static byte[] Flip(byte[] bytes)
    {
        bytes[^1] ^= 0xff;
        return bytes;
    }

    [Fact]
    public void A_compressed_pickle_with_a_bad_checksum_is_still_scanned()
    {
        // Python's unpickler runs os.system before the decompressor reaches the checksum.
        byte[] bytes = File.ReadAllBytes(Fixture("mal_os_system_zlib.joblib"));
        bytes[^1] ^= 0xff;

        ScanReport report = ScanBytes(bytes);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Contains(report.Blocking, f => f.Import == "posix.system" && f.Opcode == "REDUCE");
        Assert.Contains(report.Blocking, f => f.Message.Contains("checksum", StringComparison.Ordinal));
        Assert.NotEqual(ScanVerdict.Safe, ScanBytes(Flip(File.ReadAllBytes(Fixture("ok_numpy_zlib.joblib")))).Verdict);
    }

    [Fact]
    public void A_legacy_torch_file_has_its_five_pickles_scanned_and_its_storages_skipped()
    {
        ScanReport ok = Scan("ok_torch_legacy.pt");
        byte[] evil = File.ReadAllBytes(Fixture("mal_torch_legacy.pt"));

        Assert.Equal(ArtifactFormat.PyTorchLegacy, ok.Format);
        Assert.Contains(ok.Imports, i => i.FullName == "torch._utils._rebuild_tensor_v2");
        Assert.Contains(ok.Imports, i => i.FullName == "torch.FloatStorage");
        Assert.Empty(ok.Findings);
        // magic number (15 bytes) and protocol version (6 bytes), then the end
        ScanReport cut = ScanBytes(evil[..21]);
        Assert.Equal(ScanVerdict.Unsafe, cut.Verdict);
        Assert.Contains("2 of its 5 pickles", Assert.Single(cut.Blocking).Message, StringComparison.Ordinal);
        // pickles longer than the first megabyte read are read again from a longer prefix
        byte[] padding = [.. Enumerable.Repeat("N0"u8.ToArray(), 3 << 19).SelectMany(b => b)];
        byte[] padded = [.. evil[..^1], .. padding, (byte)'.'];
        ScanReport large = ScanBytes(padded);
        Assert.Contains(large.Blocking, f => f.Import == "posix.system" && f.Opcode == "REDUCE");
        Assert.DoesNotContain(large.Findings, f => f.Message.Contains("malformed", StringComparison.Ordinal));
        Assert.Equal("LIMIT", Assert.Single(ScanBytes(padded, new ScanLimits(MaxBytes: 2 << 20)).Blocking, f => f.Opcode == "LIMIT").Opcode);
        // whatever follows the fifth pickle is storage bytes, never unpickled
        Assert.Equal(ScanVerdict.Safe, ScanBytes([.. File.ReadAllBytes(Fixture("ok_torch_legacy.pt")), .. "cos\nsystem\n"u8]).Verdict);
    }

    [Fact]
    public void A_safetensors_file_is_safe_with_its_tensor_count()
    {
        ScanReport report = Scan("ok_tensors.safetensors");

        Assert.Equal(ScanVerdict.Safe, report.Verdict);
        Assert.Equal(3, report.TensorCount);
        Assert.Equal("Safe: Safetensors (3 tensors), 0 imports, 0 blocking findings, 0 warnings", report.Summary);
        Assert.Equal("LIMIT", Assert.Single(Scan("ok_tensors.safetensors", new ScanLimits(MaxBytes: 64)).Blocking).Opcode);
    }

    [Theory]
    [InlineData("mal_safetensors_header_past_end.safetensors", "header of 1048576 bytes runs past the end of the file")]
    [InlineData("mal_safetensors_offsets.safetensors", "has data_offsets [0,1073741824] outside the 40 bytes of data")]
    public void A_malformed_safetensors_header_blocks_trust(string file, string message)
    {
        ScanReport report = Scan(file);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Equal(ArtifactFormat.Safetensors, report.Format);
        Assert.Null(report.TensorCount);
        Assert.Contains(message, Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_onnx_model_is_recognised_and_not_inspected_which_is_not_safe()
    {
        ScanReport report = Scan("ok_identity.onnx");

        Assert.Equal(ArtifactFormat.Onnx, report.Format);
        Assert.Equal(ScanVerdict.NotInspected, report.Verdict);
        Assert.Equal(FindingSeverity.Warning, Assert.Single(report.Findings).Severity);
        Assert.StartsWith("NotInspected: Onnx, 0 imports, 0 blocking findings, 1 warning: ONNX model", report.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tensorflow_saved_model_blocks_trust_as_a_directory_or_a_file()
    {
        ScanReport directory = Scan("tf_savedmodel");
        ScanReport file = Scan(Path.Combine("tf_savedmodel", "saved_model.pb"));

        foreach (ScanReport report in new[] { directory, file })
        {
            Assert.Equal(ArtifactFormat.TensorFlowSavedModel, report.Format);
            Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
            Assert.StartsWith("TensorFlow SavedModel: its graph is a program", Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
        }

        Assert.Equal(ScanVerdict.UnknownFormat, Scan(".").Verdict);
    }

    [Fact]
    public void Custom_layers_of_a_keras_2_hdf5_file_are_reported_by_class()
    {
        ScanReport unregistered = Scan("mal_keras_custom_layer.h5");
        ScanReport registered = Scan("mal_keras_registered_layer.h5");

        Assert.Equal(ScanVerdict.Unsafe, unregistered.Verdict);
        Assert.Equal(["Backdoor", "MinimalCell"], unregistered.Blocking.Select(f => f.Import));
        Assert.Equal("custom layer Backdoor 'backdoor' is not one of Keras's layers: loading it runs the code registered under that name",
            unregistered.Blocking.First().Message);
        Assert.Equal(ScanVerdict.Unsafe, registered.Verdict);
        Assert.Equal(["attacker_pkg.layers.Backdoor", "Custom>Dense"], registered.Blocking.Select(f => f.Import));
    }
}
