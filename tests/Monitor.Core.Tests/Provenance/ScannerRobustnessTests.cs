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

    [Fact]
    public void No_prefix_of_a_pickle_fixture_is_safe()
    {
        foreach (string file in Fixtures.Where(f => f.EndsWith(".pkl", StringComparison.Ordinal) || f.EndsWith(".joblib", StringComparison.Ordinal)))
        {
            byte[] whole = File.ReadAllBytes(file);
            for (int cut = 1; cut < whole.Length; cut++)
            {
                Assert.True(ScanBytes(whole[..cut]).Verdict != ScanVerdict.Safe, $"{Path.GetFileName(file)} cut at {cut} was Safe");
            }
        }
    }
}
