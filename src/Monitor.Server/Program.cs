using Microsoft.Extensions.Options;
using Monitor.Server.Demo;
using Monitor.Server.Hosting;

return await Cli.RunAsync(args);

/// <summary>The sidecar's command line: serve (the default), demo, help.</summary>
internal static class Cli
{
    private const string Usage = """
        Drift monitor sidecar

        Usage:
          Monitor.Server [serve] [--Monitor:Section:Key=value ...]   start the sidecar (the default)
          Monitor.Server demo [--records N]                          run the fraud-model drift demo on a private sidecar
          Monitor.Server evaluate [--reduced] [--only TEXT] [--benign-records N] [--seed S]
                                                                     replay the attack scenarios through a private sidecar
          Monitor.Server throughput [--records N]                    in-process analysis throughput, detectors off and on
          Monitor.Server help                                        show this text

        Configuration comes from appsettings.json, then MONITOR__SECTION__KEY environment variables,
        then --Monitor:Section:Key=value arguments. See README.md ("Configuration").
        """;

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
                case "demo":
                    return await DemoCommand.RunAsync(rest, Console.Out);
                case "evaluate":
                    return await Monitor.Server.Scenarios.EvaluateCommand.RunAsync(rest, Console.Out);
                case "throughput":
                    return Monitor.Server.Scenarios.ThroughputCommand.Run(rest, Console.Out);
                case "help":
                    Console.Out.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown command '{verb}'\n\n{Usage}");
                    return 2;
            }
        }
        catch (OptionsValidationException ex)
        {
            Console.Error.WriteLine("The configuration is invalid:");
            foreach (string failure in ex.Failures)
            {
                Console.Error.WriteLine($"  - {failure}");
            }

            return 2;
        }
        catch (Exception ex) when (Find<Monitor.Server.Persistence.StoreUnavailableException>(ex) is { } store)
        {
            Console.Error.WriteLine(store.Message);
            return 1;
        }
        catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"Cannot listen: {ex.Message}. Another process may hold the port; " +
                "choose others with --Monitor:Grpc:Port=N --Monitor:Http:Port=M.");
            return 1;
        }
    }

    /// <summary>The exception of type T in <paramref name="exception"/> or among its inner exceptions.</summary>
    private static T? Find<T>(Exception? exception)
        where T : Exception
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is T found)
            {
                return found;
            }

            if (exception is AggregateException { InnerExceptions: [var only] })
            {
                return Find<T>(only);
            }
        }

        return null;
    }
}
