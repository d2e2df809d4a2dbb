using System.CommandLine;
using Monitor.Cli.Alerts;
using Monitor.Cli.Baselines;
using Monitor.Cli.Reports;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Versions;

namespace Monitor.Cli;

/// <summary>Exit codes of the command line, for scripts.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The sidecar refused the request, or the input (a file, a column, a value) is wrong.</summary>
    public const int Failed = 1;

    /// <summary>The command line itself is wrong: an unknown command or option, a missing argument.</summary>
    public const int Usage = 2;

    /// <summary>The sidecar could not be reached, or did not answer in time.</summary>
    public const int Unreachable = 3;

    /// <summary><c>verdict</c>: the version's verdict is Inconclusive (too little data, or no traffic yet).</summary>
    public const int VerdictInconclusive = 4;

    /// <summary><c>verdict</c>: the version's verdict is Failed.</summary>
    public const int VerdictFailed = 5;
}

/// <summary>
/// The <c>drift</c> command line: talks to a running sidecar over gRPC with a credential. Output goes to
/// <paramref name="output"/>, errors and progress to <paramref name="error"/>; the result is an exit code.
/// </summary>
public static class DriftCli
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, bool interactive = false,
        CancellationToken cancellationToken = default)
    {
        var terminal = new Terminal.Console(output, error, interactive);
        RootCommand root = Build(terminal);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError problem in parsed.Errors)
            {
                await error.WriteLineAsync($"drift: {problem.Message}");
            }

            await error.WriteLineAsync($"Run '{HelpHint(parsed)}' for usage.");
            return ExitCodes.Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            EnableDefaultExceptionHandler = false,
            // Ctrl-C cancels the command's token; an import then has this long to abort its upload before the process ends.
            ProcessTerminationTimeout = TimeSpan.FromSeconds(10),
        };
        return await parsed.InvokeAsync(configuration, cancellationToken);
    }

    private static string HelpHint(ParseResult parsed)
    {
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? result = parsed.CommandResult; result is not null; result = result.Parent)
        {
            if (result is System.CommandLine.Parsing.CommandResult command && command.Command is not RootCommand)
            {
                names.Insert(0, command.Command.Name);
            }
        }

        return string.Join(' ', ["drift", .. names, "--help"]);
    }

    private static RootCommand Build(Terminal.Console terminal)
    {
        var connection = new ConnectionOptions();
        var root = new RootCommand(
            "Command line of the drift monitor sidecar: import baselines from CSV and Parquet files, read drift reports, " +
            "list and follow alerts, promote and roll back model versions, read verdicts, and replay recorded (paired) traffic.");
        connection.AddTo(root);
        var context = new CommandContext(terminal, connection);
        root.Subcommands.Add(ModelCommands.Build(context));
        root.Subcommands.Add(BaselineCommands.Build(context));
        root.Subcommands.Add(ReportCommand.Build(context));
        root.Subcommands.Add(AlertCommands.Build(context));
        root.Subcommands.Add(VersionCommands.Build(context));
        root.Subcommands.Add(VerdictCommand.Build(context));
        root.Subcommands.Add(Replay.MirrorCommand.Build(context));
        return root;
    }
}
