using Monitor.Server.Hosting;

return await Cli.RunAsync(args);

/// <summary>The sidecar's command line: serve (the default), help.</summary>
internal static class Cli
{
    private const string Usage = """
        Drift monitor sidecar

        Usage:
          Monitor.Server [serve] [--Monitor:Section:Key=value ...]   start the sidecar (the default)
          Monitor.Server help                                        show this text

        Configuration comes from appsettings.json, then MONITOR__SECTION__KEY environment variables,
        then --Monitor:Section:Key=value arguments. See README.md ("Configuration").

        The demo and the measurements (demo, evaluate, throughput) are in the tools:
          dotnet run --project src/Monitor.Tools -- help
        """;

    /// <summary>Commands that moved to the tools executable.</summary>
    private static readonly string[] ToolCommands = ["demo", "evaluate", "throughput"];

    public static async Task<int> RunAsync(string[] args)
    {
        string verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        string[] rest = verb == "serve" && (args.Length == 0 || args[0].StartsWith('-')) ? args : args[1..];
        try
        {
            switch (verb)
            {
                case "serve":
                    await using (WebApplication app = MonitorHost.Build(rest))
                    {
                        await app.RunAsync();
                    }

                    return 0;
                case "help":
                    Console.Out.WriteLine(Usage);
                    return 0;
                case var tool when ToolCommands.Contains(tool):
                    Console.Error.WriteLine($"'{tool}' is a command of the tools, not of the sidecar: dotnet run --project src/Monitor.Tools -- {tool}");
                    return 2;
                default:
                    Console.Error.WriteLine($"unknown command '{verb}'\n\n{Usage}");
                    return 2;
            }
        }
        catch (Exception ex) when (StartFailure.Of(ex) is { } failure)
        {
            Console.Error.WriteLine(failure.Message);
            return failure.ExitCode;
        }
    }
}
