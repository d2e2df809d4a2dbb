using Monitor.Core.Provenance;

namespace Monitor.Core.Tests.Provenance;

public sealed class ImportPolicyTests
{
    [Theory]
    [InlineData("posix", "system", ImportClass.Denied)]
    [InlineData("os.path", "join", ImportClass.Denied)]
    [InlineData("builtins", "getattr", ImportClass.Denied)]
    [InlineData("builtins", "set", ImportClass.Allowed)]
    [InlineData("osmium", "load", ImportClass.Unknown)]
    [InlineData("sklearn.linear_model._logistic", "LogisticRegression", ImportClass.Allowed)]
    [InlineData("torch", "load", ImportClass.Denied)]
    [InlineData("torch._utils", "_rebuild_tensor_v2", ImportClass.Allowed)]
    [InlineData("numpy", "load", ImportClass.Denied)]
    [InlineData("numpy.core.multiarray", "_reconstruct", ImportClass.Allowed)]
    [InlineData("sklearn", "utils.os.system", ImportClass.Denied)]
    [InlineData("numpy", "lib.npyio.pickle.loads", ImportClass.Denied)]
    [InlineData("sklearn", "base.BaseEstimator", ImportClass.Unknown)]
    [InlineData("torch._utils", "_rebuild_tensor_v2.__globals__", ImportClass.Unknown)]
    [InlineData("collections", "OrderedDict.fromkeys", ImportClass.Unknown)]
    public void Names_are_classed_by_the_lists(string module, string name, ImportClass expected) =>
        Assert.Equal(expected, ImportPolicy.Classify(module, name));

    [Fact]
    public void An_unknown_callable_given_to_an_allowed_call_blocks()
    {
        using var s = new MemoryStream([0x80, 2, .. "ccollections\ndefaultdict\ncmylib\nfactory\n"u8, 0x85, (byte)'R', (byte)'.']);

        ScanReport report = ArtifactScanner.Scan(s);

        Assert.Equal(ScanVerdict.Unsafe, report.Verdict);
        ScanFinding f = Assert.Single(report.Blocking);
        Assert.Equal(("mylib.factory", "REDUCE"), (f.Import, f.Opcode));
    }

    [Fact]
    public void The_security_document_lists_every_entry_with_its_reason()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "docs", "security.md")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        Assert.NotNull(dir);
        string doc = File.ReadAllText(Path.Combine(dir, "docs", "security.md"));
        foreach ((string entry, string reason) in ImportPolicy.Deny.Concat(ImportPolicy.Allow))
        {
            Assert.Contains($"| `{entry}` | {reason.Replace("|", "\\|", StringComparison.Ordinal)} |", doc, StringComparison.Ordinal);
        }
    }
}
