namespace Monitor.Cli;

/// <summary>A problem the user can fix, told in one message that names what was wrong; never a stack trace.</summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
