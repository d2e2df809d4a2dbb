namespace Monitor.Cli.Terminal;

/// <summary>
/// Where a command writes: results to standard output, errors and progress to standard error (so a result can be
/// piped). <see cref="Interactive"/> is true when standard error is a terminal, and progress may redraw a line.
/// </summary>
internal sealed class Console(TextWriter output, TextWriter error, bool interactive)
{
    public TextWriter Out => output;

    public TextWriter Error => error;

    public bool Interactive => interactive;

    public void Line(string text = "") => output.WriteLine(text);

    public void Note(string text) => error.WriteLine(text);

    public int Fail(CliException problem)
    {
        error.WriteLine($"drift: {problem.Message}");
        return problem.ExitCode;
    }
}
