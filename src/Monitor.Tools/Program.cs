using Monitor.Server.Hosting;
using Monitor.Tools.Calibration;
using Monitor.Tools.Demo;
using Monitor.Tools.Scenarios;
using Monitor.Tools.Throughput;

return await ToolsCli.RunAsync(args);

/// <summary>The tools' command line: demo, evaluate, calibration, throughput, help.</summary>
internal static class ToolsCli
{
    private const string Usage = """
        Drift monitor tools: the demo and the measurements, each on a private in-process sidecar

        Usage:
          Monitor.Tools demo [--records N] [--db PATH] [--Monitor:Section:Key=value ...]
                                                                     run the fraud-model drift demo on a private sidecar
          Monitor.Tools evaluate [--reduced] [--in-process] [--only TEXT] [--benign-records N] [--reference-records N] [--seed S] [--findings]
                                                                     replay the attack scenarios through a private sidecar
                                                                     (--in-process: into its Core analysis, without gRPC)
          Monitor.Tools evaluate --real [--reduced] [--in-process] [--parallel N] [--only TEXT] [--seeds 1-3] [--clean-records N]
                                [--max-records N] [--findings]
                                                                     the same on real models trained in process, clean and poisoned
          Monitor.Tools evaluate --real --clean-runs N [--clean-records N] [--in-process] [--parallel N] [--only TEXT]
                                                                     N clean runs per model (seeds 1001…): the share with a critical key finding
          Monitor.Tools evaluate [--real] --paired [--compare] [...]  paired evidence (shadow traffic); --compare adds the unpaired attacks
          Monitor.Tools evaluate --embedding [--seeds 1-3] [--in-process] [--benign-records N] [--only TEXT] [--findings]
                                                                     the synthetic embedding-space trigger and clean runs over several seeds
                                                                     (evaluate takes --Monitor:Section:Key=value settings for its sidecar too)
          Monitor.Tools calibration [--reduced] [--references N] [--windows N] [--reference-records N] [--alpha A] [--seed S]
                                [--bootstrap-windows N] [--reference-resamples N]
                                                                     whole-window false-alarm rate of clean windows on heavy-tailed features
          Monitor.Tools throughput [--records N] [--real]            in-process analysis throughput, detectors off and on
                                                                     (--real: also on the real models' held-out traffic)
          Monitor.Tools help                                         show this text

        From a clone: dotnet run -c Release --project src/Monitor.Tools -- <command> [options]
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        string verb = args.Length > 0 ? args[0] : "help";
        string[] rest = args.Length > 0 ? args[1..] : [];
        try
        {
            switch (verb)
            {
                case "demo":
                    return await DemoCommand.RunAsync(rest, Console.Out);
                case "evaluate" when EvaluateCommand.Problem(rest) is { } problem:
                    Console.Error.WriteLine($"evaluate: {problem}\n\n{Usage}");
                    return 2;
                case "evaluate":
                    return await EvaluateCommand.RunAsync(rest, Console.Out);
                case "calibration":
                    return CalibrationCommand.Run(rest, Console.Out);
                case "throughput":
                    return ThroughputCommand.Run(rest, Console.Out);
                case "help" or "--help" or "-h":
                    Console.Out.WriteLine(Usage);
                    return 0;
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
