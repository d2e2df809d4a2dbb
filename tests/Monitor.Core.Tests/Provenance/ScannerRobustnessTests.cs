using CsCheck;
using Monitor.Core.Provenance;

namespace Monitor.Core.Tests.Provenance;

/// <summary>The scanner reads hostile bytes: whatever they are, it answers with a report and never trusts a broken stream.</summary>
public sealed class ScannerRobustnessTests
{
    private static readonly string[] Fixtures = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Provenance", "Fixtures"))
        .Order(StringComparer.Ordinal).ToArray();

    private static ScanReport ScanBytes(byte[] bytes)
    {
        using var s = new MemoryStream(bytes);
        return ArtifactScanner.Scan(s, new ScanLimits(MaxOpcodes: 100_000));
    }

    [Fact]
    public void Mutated_fixtures_never_make_the_scanner_throw()
    {
        Gen.Select(Gen.Int[0, Fixtures.Length - 1], Gen.Int[0, int.MaxValue], Gen.Byte, Gen.Int[1, 4])
            .Sample((file, where, value, count) =>
            {
                byte[] bytes = File.ReadAllBytes(Fixtures[file]);
                for (int i = 0; i < count && bytes.Length > 0; i++)
                {
                    bytes[(int)((where + i * 7919L) % bytes.Length)] = value;
                }

                ScanReport report = ScanBytes(bytes);
                Assert.NotNull(report.Summary);
            }, iter: 3000);
    }

    [Fact]
    public void Random_bytes_after_a_protocol_header_never_make_the_scanner_throw()
    {
        Gen.Select(Gen.Int[2, 5], Gen.Byte.Array[0, 200]).Sample((protocol, tail) =>
        {
            ScanReport report = ScanBytes([0x80, (byte)protocol, .. tail]);
            Assert.NotNull(report.Summary);
        }, iter: 5000);
    }

    public static TheoryData<string, byte[]> Magics => new()
    {
        { "gzip", [0x1f, 0x8b, 8, 0] },
        { "gzip with every header field", [0x1f, 0x8b, 8, 0x1e] },
        { "zlib", [0x78, 0x9c] },
        { "joblib ZF", [.. "ZF0x10               "u8, 0x78, 0x9c] },
        { "safetensors", [16, 0, 0, 0, 0, 0, 0, 0, (byte)'{'] },
        { "protobuf", [0x08, 0x08, 0x3a] },
        { "legacy torch", [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, (byte)'.'] },
        { "HDF5", [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n', 0] },
        { "zip", [(byte)'P', (byte)'K', 3, 4] },
    };

    [Theory]
    [MemberData(nameof(Magics))]
    public void Random_bytes_after_a_format_s_magic_never_make_the_scanner_throw(string format, byte[] magic)
    {
        Gen.Byte.Array[0, 300].Sample(tail =>
        {
            ScanReport report = ScanBytes([.. magic, .. tail]);
            Assert.True(report.Summary.Length > 0, format);
        }, iter: 2000);
    }

    [Fact]
    public void No_prefix_of_a_pickle_safetensors_or_torch_fixture_is_safe()
    {
        // A legacy torch file cut in its storage bytes is the exception: they follow the pickles and are not read.
        string[] kinds = [".pkl", ".joblib", ".safetensors", ".pt"];
        foreach (string file in Fixtures.Where(f => kinds.Contains(Path.GetExtension(f)) && !f.EndsWith("ok_torch_legacy.pt", StringComparison.Ordinal)))
        {
            byte[] whole = File.ReadAllBytes(file);
            for (int cut = 1; cut < whole.Length; cut++)
            {
                Assert.True(ScanBytes(whole[..cut]).Verdict != ScanVerdict.Safe, $"{Path.GetFileName(file)} cut at {cut} was Safe");
            }
        }
    }

    // PureHDF allocates what the file declares before reading it. Bounded per scan, whatever one byte of a fixture is changed to.
    private const long AllocationBound = 64L << 20;

    private static (ScanReport Report, long Allocated) ScanCounted(byte[] bytes)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        ScanReport report = ArtifactScanner.Scan(new MemoryStream(bytes));
        return (report, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Every_one_byte_change_to_an_hdf5_fixture_is_scanned_with_bounded_allocation()
    {
        foreach (string file in Fixtures.Where(f => f.EndsWith(".h5", StringComparison.Ordinal)))
        {
            byte[] original = File.ReadAllBytes(file);
            long most = 0;
            for (int at = 0; at < original.Length; at++)
            {
                foreach (byte value in new byte[] { 0x00, 0x7f, 0x80, 0xff, (byte)(original[at] ^ 0x01) })
                {
                    if (value == original[at])
                    {
                        continue;
                    }

                    byte[] bytes = (byte[])original.Clone();
                    bytes[at] = value;
                    (ScanReport report, long allocated) = ScanCounted(bytes);
                    Assert.True(allocated < AllocationBound, $"{Path.GetFileName(file)} with byte {at} = 0x{value:x2}: {allocated} bytes allocated; {report.Summary}");
                    most = Math.Max(most, allocated);
                }
            }

            Assert.InRange(most, 1, AllocationBound);
        }
    }

    [Theory]
    // The size of model_config's global heap object made 2 GiB: PureHDF allocated it, then found the file too short.
    [InlineData("ok_keras_dense.h5", 2135, 0x7f, "global heap object of 9151314442816848149 bytes at byte 2120 runs past its collection")]
    [InlineData("mal_keras_lambda.h5", 2128, 0x80, "global heap object of")]
    // The size of a variable-length string type (16) made 2 GiB as the attribute's data.
    [InlineData("ok_keras_dense.h5", 863, 0x7f, "with elements of 2130706448 bytes (16 expected)")]
    public void A_length_in_an_hdf5_file_beyond_the_file_is_malformed_and_not_allocated(string name, int at, byte value, string message)
    {
        byte[] bytes = File.ReadAllBytes(Fixtures.Single(f => Path.GetFileName(f) == name));
        bytes[at] = value;

        (ScanReport report, long allocated) = ScanCounted(bytes);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Contains(message, Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void An_hdf5_header_that_continues_into_itself_is_malformed()
    {
        // The root object header (version 1) of the fixture holds one message, a continuation to the rest; pointed back at the
        // header's own messages, PureHDF would follow it until the stack overflows, which no catch survives.
        byte[] bytes = File.ReadAllBytes(Fixtures.Single(f => Path.GetFileName(f) == "ok_keras_dense.h5"));
        int messages = (int)BitConverter.ToInt64(bytes, 64) + 16;
        Assert.Equal(0x10, BitConverter.ToUInt16(bytes, messages));
        BitConverter.GetBytes((long)messages).CopyTo(bytes, messages + 8);
        BitConverter.GetBytes(24L).CopyTo(bytes, messages + 16);

        ScanReport report = ScanBytes(bytes);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        Assert.Contains("loops back", Assert.Single(report.Blocking).Message, StringComparison.Ordinal);
    }
}
