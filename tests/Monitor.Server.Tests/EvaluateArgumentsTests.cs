using Monitor.Tools.Scenarios;

namespace Monitor.Server.Tests;

/// <summary>`Monitor.Tools evaluate` checks its options before it runs anything: a mistyped one used to start the whole evaluation.</summary>
public sealed class EvaluateArgumentsTests
{
    [Theory]
    [InlineData(new[] { "--help" }, "unknown option '--help'")]
    [InlineData(new[] { "--real", "--seed", "3", "--clean-run", "5" }, "unknown option '--clean-run'")]
    [InlineData(new[] { "--real", "--seeds" }, "--seeds needs a value")]
    [InlineData(new[] { "--only", "--real" }, "--only needs a value")]
    [InlineData(new[] { "--Monitor:Detectors:ResidualTest" }, "unknown option '--Monitor:Detectors:ResidualTest'")]
    public void A_wrong_option_is_named(string[] args, string problem) => Assert.Equal(problem, EvaluateCommand.Problem(args));

    [Fact]
    public void The_documented_options_pass()
    {
        Assert.Null(EvaluateCommand.Problem(["--real", "--in-process", "--seeds", "14-20", "--only", "rare malignant", "--findings",
            "--clean-runs", "20", "--clean-records", "1000000", "--parallel", "2", "--Monitor:Detectors:ResidualTest=false"]));
        Assert.Null(EvaluateCommand.Problem(["--reduced", "--benign-records", "1000", "--reference-records", "20000", "--seed", "2", "--paired", "--compare"]));
    }
}
