using System.Globalization;

namespace Monitor.LoadTests;

/// <summary>
/// The measurements the project reports, in one run: for each schema, a parse-only sidecar and an analysing
/// one, each started here, given the same streaming load; then unary ingest, report reads during ingest, and
/// an open load at half the maximum rate for its latency.
/// </summary>
internal static class Suite
{
    public static Workload WorkloadFor(string? schema, Arguments options) => schema switch
    {
        "numeric" => Workload.Numeric((int)options.Number("features", 64), (int)options.Number("classes", 10), (int)options.Number("batch", 512)),
        "fraud" => Workload.Fraud((int)options.Number("batch", 512)),
        _ => throw new ArgumentException($"--schema: '{schema}' is not numeric or fraud"),
    };

    /// <summary>
    /// The numeric schema is measured on the drift statistics alone (the trigger detectors' value keys are the
    /// cost there, measured separately); the fraud schema with every detector on.
    /// </summary>
    public static string[] Settings(Workload workload) =>
        workload.Schema.TextFields.Count > 0 ? [] : ["--Monitor:Detectors:Enabled=false"];

    /// <summary>Enough reference records for a baseline, and for the fraud schema's trigger detectors.</summary>
    public static int ReferenceRecords(Workload workload) => workload.Schema.TextFields.Count > 0 ? 20_000 : 5_000;

    /// <summary>Waits for the sidecar's queues to empty, then (for a measured step) stops its clock there.</summary>
    private static async Task Drain(SidecarProcess sidecar, StepStats? step, Report report, CancellationToken cancellationToken)
    {
        if (!await sidecar.DrainedAsync(cancellationToken))
        {
            report.Note($"the sidecar's queue had not drained 120 s after step '{step?.Step ?? "warm-up"}'; its rate counts only what was analysed by then");
        }

        step?.Stop();
    }

    public static async Task<Report> RunAsync(Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        bool smoke = options.Flag("smoke");
        double seconds = options.Number("seconds", smoke ? 2 : 20);
        string schemas = options.Value("schema", smoke ? "numeric" : "both")!;
        var report = new Report(smoke ? "Load suite (smoke)" : "Load suite");
        foreach (string schema in schemas == "both" ? ["numeric", "fraud"] : new[] { schemas })
        {
            Workload workload = WorkloadFor(schema, options);
            await MeasureAsync(workload, seconds, smoke, report, output, cancellationToken);
        }

        return report;
    }

    private static async Task MeasureAsync(Workload workload, double seconds, bool smoke, Report report, TextWriter output, CancellationToken cancellationToken)
    {
        TimeSpan step = TimeSpan.FromSeconds(seconds);
        TimeSpan warmup = TimeSpan.FromSeconds(Math.Min(5, Math.Max(1, seconds / 4)));
        Shape saturate = Shape.Closed(callers: 4, window: 8);
        double parseOnly = 0;
        foreach (bool analysis in new[] { false, true })
        {
            string server = $"{(analysis ? "analysis" : "parse-only")}, {workload.Name}";
            output.WriteLine($"== {server}");
            await using SidecarProcess sidecar = await SidecarProcess.StartAsync(analysis, Settings(workload), cancellationToken);
            await using var runner = new Runner(sidecar.GrpcAddress, 2, workload);
            await workload.SetUpAsync(runner.Channel, smoke ? 3_000 : ReferenceRecords(workload), cancellationToken);
            await runner.RunAsync(new Stage("warm-up", Scenario.Stream, saturate, warmup, Warmup: true), cancellationToken);
            await Drain(sidecar, null, report, cancellationToken);

            output.WriteLine($"   streaming at the maximum rate for {seconds:F0} s");
            Task<StepStats>? reads = analysis ? runner.ReportsAsync("reports during maximum-rate streaming", step, cancellationToken) : null;
            StepStats maximum = await runner.RunAsync(new Stage("maximum rate", Scenario.Stream, saturate, step), cancellationToken);
            // The sidecar answers once a batch is queued: the step's clock runs until the queue is drained, so the rate is what was analysed.
            await Drain(sidecar, maximum, report, cancellationToken);
            report.Add(server, maximum);
            double rate = maximum.Records / maximum.Seconds;
            if (!analysis)
            {
                parseOnly = rate;
                report.Memory(server, sidecar);
                continue;
            }

            report.Add(server, await reads!);
            report.Note(string.Create(CultureInfo.InvariantCulture,
                $"{workload.Name}: streaming {rate:N0} records/s with analysis, {parseOnly:N0} parse-only: analysis costs {(1 - (rate / parseOnly)) * 100:F1}% of the parse-only rate"));

            output.WriteLine($"   unary ingest, 4 callers, for {seconds / 2:F0} s");
            StepStats unary = await runner.RunAsync(new Stage("unary, closed", Scenario.Unary, Shape.Closed(4, 1), step / 2), cancellationToken);
            await Drain(sidecar, unary, report, cancellationToken);
            report.Add(server, unary);

            double half = maximum.Batches / maximum.Seconds / 2;
            output.WriteLine($"   open load at half the maximum rate ({half:N0} batches/s) for {seconds:F0} s");
            StepStats open = await runner.RunAsync(new Stage("half the maximum rate", Scenario.Stream, Shape.OpenRate(half, 2), step), cancellationToken);
            await Drain(sidecar, open, report, cancellationToken);
            report.Add(server, open);
            report.Note(string.Create(CultureInfo.InvariantCulture,
                $"{workload.Name}: at half the maximum rate ({half * workload.BatchRecords:N0} records/s, open load) p99 batch latency {open.LatencyMs(99):F2} ms, p99.9 {open.LatencyMs(99.9):F2} ms"));
            report.Memory(server, sidecar);
        }
    }
}
