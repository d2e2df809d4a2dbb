using System.Globalization;
using Monitor.LoadTests;

// The load driver. See README.md ("Load tests") and `dotnet run -c Release --project load-tests/Monitor.LoadTests -- help`.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await LoadCli.RunAsync(args, Console.Out, cancel.Token);

namespace Monitor.LoadTests
{
    internal static class LoadCli
    {
        private const string Usage = """
            Load driver for the drift monitor sidecar (gRPC over loopback; NBomber's vocabulary, built on Grpc.Net.Client and HdrHistogram)

              suite [--seconds S] [--smoke] [--schema numeric|fraud|both] [--report DIR] [--threshold T ...]
                  Starts the sidecar itself (parse-only, then with analysis) and measures, per schema: the maximum
                  streaming rate, the analysis overhead against parse-only, unary ingest, report reads during
                  ingest, and the p99 latency at half the maximum rate (open load); the server's peak memory.
              run --stage NAME:SCENARIO:closed:CALLERS[:WINDOW]:SECONDS | NAME:SCENARIO:open:RATE:CALLERS:SECONDS ...
                  [--warmup SECONDS] [--target http://127.0.0.1:50051 | --analysis true|false [--set Section:Key=value ...]] [--schema numeric|fraud]
                  [--features 64] [--classes 10] [--batch 512] [--channels 2] [--reports] [--report DIR] [--threshold T ...]
                  SCENARIO is unary or stream. Without --target the sidecar is started (and set up) here, with the
                  trigger detectors off for the numeric schema unless --set Detectors:Enabled=true.

              soak [--minutes M | --seconds S] [--rate RECORDS_PER_S] [--schema fraud|numeric] [--max-slope MIB_PER_MIN] [--report DIR]
                  Starts the sidecar, feeds it at a steady open rate (default 10,000 records/s of the fraud schema, every
                  detector on) for 10 minutes with report reads alongside, and reports the resident-memory slope after
                  warm-up, errors and queue depths. Fails on an error, a dropped batch or a slope above --max-slope (2).

              app-latency [--seconds 15] [--rate 400] [--no-budget] [--report DIR]
                  The example serving app's own POST /score latency (p50/p99/p99.9, timed from the schedule) without the
                  client SDK, and mirroring to a sidecar that is up, down, or overloaded; the p99 rise against no mirror.
                  A rise above max(1 ms, 10%) fails the run (exit 3) unless --no-budget (for smoke runs on a busy machine).

              Thresholds (on the measured ingest steps; a breach exits with code 3):
                errors<=N   p99_ms<=X   p999_ms<=X   records_per_s>=X
            Every step stops sending at its time and waits at most 30 s more for answers; traffic goes only to loopback.
            """;

        public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
        {
            if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
            {
                output.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }

            try
            {
                var options = Arguments.Parse(args[1..]);
                Thresholds.Check(options.All("threshold"), new Report("")); // refuses a malformed threshold before any load
                List<string> failures = [];
                Report report;
                switch (args[0])
                {
                    case "suite":
                        report = await Suite.RunAsync(options, output, cancellationToken);
                        break;
                    case "run":
                        report = await RunStagesAsync(options, output, cancellationToken);
                        break;
                    case "soak":
                        (report, failures) = await Soak.RunAsync(options, output, cancellationToken);
                        break;
                    case "app-latency":
                        (report, failures) = await AppLatency.RunAsync(options, output, cancellationToken);
                        break;
                    default:
                        throw new ArgumentException($"unknown command '{args[0]}'");
                }

                string directory = options.Value("report", null) ?? Path.Combine("load-tests", "reports", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
                await report.WriteAsync(directory, cancellationToken);
                output.WriteLine();
                output.WriteLine(report.Markdown());
                output.WriteLine($"reports: {Path.GetFullPath(directory)}/report.md, report.json, report.html");
                List<string> breaches = [.. failures, .. Thresholds.Check(options.All("threshold"), report)];
                foreach (string breach in breaches)
                {
                    output.WriteLine($"THRESHOLD BREACHED: {breach}");
                }

                return breaches.Count == 0 ? 0 : 3;
            }
            catch (ArgumentException ex)
            {
                output.WriteLine($"error: {ex.Message}");
                output.WriteLine(Usage);
                return 2;
            }
        }

        private static async Task<Report> RunStagesAsync(Arguments options, TextWriter output, CancellationToken cancellationToken)
        {
            Workload workload = Suite.WorkloadFor(options.Value("schema", "numeric"), options);
            List<Stage> stages = [.. options.All("stage").Select(ParseStage)];
            if (stages.Count == 0)
            {
                throw new ArgumentException("give at least one --stage");
            }

            double warmup = options.Number("warmup", 3);
            if (warmup > 0)
            {
                stages.Insert(0, stages[0] with { Name = "warm-up", Duration = TimeSpan.FromSeconds(warmup), Warmup = true });
            }

            var report = new Report($"Load run: {workload.Name}, batches of {workload.BatchRecords}");
            string? target = options.Value("target", null);
            SidecarProcess? sidecar = null;
            if (target is null)
            {
                if (!bool.TryParse(options.Value("analysis", "true"), out bool analysis))
                {
                    throw new ArgumentException("--analysis: expected true or false");
                }

                string[] settings = [.. Suite.Settings(workload), .. options.All("set").Select(setting => $"--Monitor:{setting}")];
                sidecar = await SidecarProcess.StartAsync(analysis, settings, cancellationToken);
                target = sidecar.GrpcAddress;
            }

            try
            {
                await using var runner = new Runner(target, (int)options.Number("channels", 2), workload);
                if (sidecar is not null)
                {
                    await workload.SetUpAsync(runner.Channel, Suite.ReferenceRecords(workload), cancellationToken);
                }

                string server = sidecar is null ? target : "self-hosted";
                foreach (Stage stage in stages)
                {
                    output.WriteLine($"step {stage.Name}: {stage.Scenario} {stage.Shape} for {stage.Duration.TotalSeconds:F0} s");
                    Task<StepStats>? reads = options.Flag("reports") && !stage.Warmup ? runner.ReportsAsync(stage.Name, stage.Duration, cancellationToken) : null;
                    report.Add(server, await runner.RunAsync(stage, cancellationToken));
                    if (reads is not null)
                    {
                        report.Add(server, await reads);
                    }
                }

                if (sidecar is not null)
                {
                    report.Memory(server, sidecar);
                }
            }
            finally
            {
                if (sidecar is not null)
                {
                    await sidecar.DisposeAsync();
                }
            }

            return report;
        }

        /// <summary>NAME:SCENARIO:closed:CALLERS[:WINDOW]:SECONDS or NAME:SCENARIO:open:RATE:CALLERS:SECONDS.</summary>
        internal static Stage ParseStage(string text)
        {
            string[] parts = text.Split(':');
            try
            {
                var scenario = Enum.Parse<Scenario>(parts[1], ignoreCase: true);
                Shape shape = parts[2] switch
                {
                    "closed" when parts.Length == 5 => Shape.Closed(int.Parse(parts[3], CultureInfo.InvariantCulture), 1),
                    "closed" when parts.Length == 6 => Shape.Closed(int.Parse(parts[3], CultureInfo.InvariantCulture), int.Parse(parts[4], CultureInfo.InvariantCulture)),
                    "open" when parts.Length == 6 => Shape.OpenRate(double.Parse(parts[3], CultureInfo.InvariantCulture), int.Parse(parts[4], CultureInfo.InvariantCulture)),
                    _ => throw new FormatException(),
                };
                double seconds = double.Parse(parts[^1], CultureInfo.InvariantCulture);
                if (seconds is <= 0 or > 3600 || shape.Callers is <= 0 or > 1000 || (shape.Open && shape.Rate is <= 0 or > 1_000_000)
                    || shape.Window is <= 0 or > 10_000)
                {
                    throw new FormatException();
                }

                return new Stage(parts[0], scenario, shape, TimeSpan.FromSeconds(seconds));
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or IndexOutOfRangeException or OverflowException)
            {
                throw new ArgumentException($"--stage '{text}': expected NAME:unary|stream:closed:CALLERS[:WINDOW]:SECONDS or " +
                    "NAME:unary|stream:open:RATE:CALLERS:SECONDS, with 0 < SECONDS <= 3600, 1 to 1000 callers and 0 < RATE <= 1000000 batches/s");
            }
        }
    }

    /// <summary>--name value pairs; a name may repeat.</summary>
    internal sealed class Arguments
    {
        private readonly List<(string Name, string Value)> _pairs = [];

        public static Arguments Parse(string[] args)
        {
            var parsed = new Arguments();
            for (int i = 0; i < args.Length; i++)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new ArgumentException($"unexpected argument '{args[i]}'");
                }

                string name = args[i][2..];
                bool hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
                parsed._pairs.Add((name, hasValue ? args[++i] : "true"));
            }

            return parsed;
        }

        public string? Value(string name, string? fallback) => _pairs.LastOrDefault(p => p.Name == name).Value ?? fallback;

        public IEnumerable<string> All(string name) => _pairs.Where(p => p.Name == name).Select(p => p.Value);

        public bool Flag(string name) => Value(name, "false") == "true";

        public double Number(string name, double fallback)
        {
            string? text = Value(name, null);
            return text is null ? fallback
                : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value >= 0 ? value
                : throw new ArgumentException($"--{name}: '{text}' is not a non-negative number");
        }
    }

    /// <summary>Pass/fail limits on the measured ingest steps.</summary>
    internal static class Thresholds
    {
        public static List<string> Check(IEnumerable<string> thresholds, Report report)
        {
            var breaches = new List<string>();
            List<StepStats> ingest = [.. report.Steps.Select(s => s.Stats).Where(s => s.Scenario != "reports")];
            foreach (string threshold in thresholds)
            {
                bool atMost = threshold.Contains("<=", StringComparison.Ordinal);
                string[] parts = threshold.Split(atMost ? "<=" : ">=");
                if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double limit)
                    || parts[0] is not ("errors" or "p99_ms" or "p999_ms" or "records_per_s") || (parts[0] == "records_per_s") == atMost)
                {
                    throw new ArgumentException($"--threshold '{threshold}': expected errors<=N, p99_ms<=X, p999_ms<=X or records_per_s>=X");
                }

                foreach (StepStats step in ingest)
                {
                    double value = parts[0] switch
                    {
                        "errors" => step.Failed,
                        "p99_ms" => step.LatencyMs(99),
                        "p999_ms" => step.LatencyMs(99.9),
                        "records_per_s" => step.Records / step.Seconds,
                        _ => throw new ArgumentException($"--threshold '{threshold}': unknown metric '{parts[0]}'"),
                    };
                    if (atMost ? value > limit : value < limit)
                    {
                        breaches.Add(string.Create(CultureInfo.InvariantCulture, $"{step.Scenario} step '{step.Step}': {parts[0]} = {value:G6}, limit {threshold}"));
                    }
                }
            }

            return breaches;
        }
    }
}
