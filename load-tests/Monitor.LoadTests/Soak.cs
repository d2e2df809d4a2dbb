using System.Globalization;

namespace Monitor.LoadTests;

/// <summary>
/// A bounded soak: a sidecar started here, fed at a steady open rate (with report reads alongside) for a fixed
/// time, while its resident memory, ingest queue and outbox are sampled. Reports the memory slope over the run
/// after warm-up (least squares, MiB per minute), the errors, and the deepest the queues got; fails (exit 3) on
/// errors, a dropped batch, a queue not drained, a slope above --max-slope, or a soak in which no call succeeded.
/// </summary>
internal static class Soak
{
    public static async Task<(Report Report, List<string> Breaches)> RunAsync(Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        double seconds = options.Value("minutes", null) is not null ? options.Number("minutes", 10) * 60 : options.Number("seconds", 600);
        if (seconds is < 10 or > 24 * 3600)
        {
            throw new ArgumentException("--minutes / --seconds: a soak lasts from 10 seconds to 24 hours");
        }

        Workload workload = Suite.WorkloadFor(options.Value("schema", "fraud"), options);
        double recordsPerSecond = options.Number("rate", workload.Schema.TextFields.Count > 0 ? 10_000 : 200_000);
        double maxSlope = options.Number("max-slope", 2);
        double batchesPerSecond = recordsPerSecond / workload.BatchRecords;
        if (batchesPerSecond is <= 0 or > 100_000)
        {
            throw new ArgumentException("--rate: expected records per second giving 0 to 100000 batches per second");
        }

        TimeSpan duration = TimeSpan.FromSeconds(seconds);
        TimeSpan warmup = TimeSpan.FromSeconds(Math.Clamp(seconds / 10, 5, 60));
        var report = new Report(string.Create(CultureInfo.InvariantCulture,
            $"Soak: {workload.Name}, {recordsPerSecond:N0} records/s ({batchesPerSecond:N1} batches of {workload.BatchRecords}/s) for {duration}"));
        string[] settings = [.. Suite.Settings(workload), .. options.All("set").Select(setting => $"--Monitor:{setting}")];
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(analysis: true, settings, cancellationToken);
        await using var runner = new Runner(sidecar.GrpcAddress, 2, workload);
        await workload.SetUpAsync(runner.Channel, Suite.ReferenceRecords(workload), cancellationToken);
        Shape steady = Shape.OpenRate(batchesPerSecond, 2);

        output.WriteLine($"warm-up for {warmup.TotalSeconds:F0} s");
        await runner.RunAsync(new Stage("warm-up", Scenario.Stream, steady, warmup, Warmup: true), cancellationToken);
        TimeSpan measuredFrom = sidecar.Elapsed;

        output.WriteLine($"soak at {recordsPerSecond:N0} records/s for {duration.TotalSeconds:F0} s, reading reports alongside");
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<QueueSamples> queues = SampleQueuesAsync(sidecar, sampling.Token);
        Task<StepStats> reads = runner.ReportsAsync("reports during the soak", duration, cancellationToken);
        StepStats soak = await runner.RunAsync(new Stage("steady rate", Scenario.Stream, steady, duration), cancellationToken);
        bool drained = await sidecar.DrainedAsync(cancellationToken);
        await sampling.CancelAsync();
        QueueSamples depth = await queues;
        report.Add("analysis", soak);
        report.Add("analysis", await reads);
        report.Memory("analysis", sidecar);

        var samples = sidecar.Samples.Where(s => s.At >= measuredFrom).ToList();
        double slope = Slope(samples);
        double first = samples.Count > 0 ? samples[0].Bytes / 1048576.0 : 0;
        double last = samples.Count > 0 ? samples[^1].Bytes / 1048576.0 : 0;
        report.Note(string.Create(CultureInfo.InvariantCulture,
            $"resident memory over the soak (after warm-up): {first:F0} MiB at the start, {last:F0} MiB at the end, slope {slope:+0.00;-0.00} MiB/min " +
            $"(least squares over {samples.Count} samples)"));
        report.Note(string.Create(CultureInfo.InvariantCulture,
            $"deepest ingest queue {depth.MaxQueue:N0} of {depth.Capacity:N0} batches; batches dropped for a full queue: {depth.Dropped:N0}; " +
            $"largest outbox backlog {depth.MaxOutbox:N0}; queue drained at the end: {(drained ? "yes" : "no")}"));

        var breaches = new List<string>();
        if (soak.Ok == 0)
        {
            breaches.Add("no call of the soak succeeded");
        }

        foreach (StepStats step in report.Steps.Select(s => s.Stats).Where(s => s.Failed > 0))
        {
            breaches.Add($"{step.Failed} calls of step '{step.Step}' failed ({string.Join(", ", step.Outcomes.Where(o => o.Key != Grpc.Core.StatusCode.OK).Select(o => $"{o.Key} {o.Value}"))})");
        }

        if (depth.MetricsErrors > 0)
        {
            breaches.Add($"{depth.MetricsErrors} reads of /metrics failed during the soak");
        }

        if (depth.Dropped > 0)
        {
            breaches.Add($"{depth.Dropped} batches were dropped for a full queue: the rate is above what the sidecar sustains");
        }

        if (slope > maxSlope)
        {
            breaches.Add(string.Create(CultureInfo.InvariantCulture, $"resident memory grew {slope:F2} MiB/min, above --max-slope {maxSlope}"));
        }

        if (!drained)
        {
            breaches.Add("the ingest queue had not drained 120 s after the soak");
        }

        return (report, breaches);
    }

    /// <summary>Least-squares slope of resident memory against time, in MiB per minute.</summary>
    public static double Slope(IReadOnlyList<(TimeSpan At, long Bytes)> samples)
    {
        if (samples.Count < 2)
        {
            return 0;
        }

        double meanT = samples.Average(s => s.At.TotalMinutes);
        double meanB = samples.Average(s => s.Bytes / 1048576.0);
        double covariance = samples.Sum(s => (s.At.TotalMinutes - meanT) * ((s.Bytes / 1048576.0) - meanB));
        double variance = samples.Sum(s => (s.At.TotalMinutes - meanT) * (s.At.TotalMinutes - meanT));
        return variance == 0 ? 0 : covariance / variance;
    }

    private sealed record QueueSamples(long MaxQueue, long Capacity, long Dropped, long MaxOutbox, int MetricsErrors);

    /// <summary>Reads the sidecar's queue gauges every second until cancelled.</summary>
    private static async Task<QueueSamples> SampleQueuesAsync(SidecarProcess sidecar, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{sidecar.HttpPort}") };
        long maxQueue = 0, capacity = 0, dropped = 0, maxOutbox = 0;
        int errors = 0;
        while (true)
        {
            try
            {
                string metrics;
                try
                {
                    metrics = await http.GetStringAsync("/metrics", cancellationToken);
                }
                catch (HttpRequestException)
                {
                    errors++;
                    await Task.Delay(1000, cancellationToken);
                    continue;
                }

                foreach (string line in metrics.Split('\n'))
                {
                    if (line.StartsWith("drift_monitor_ingest_queue_depth{", StringComparison.Ordinal))
                    {
                        maxQueue = Math.Max(maxQueue, Value(line));
                    }
                    else if (line.StartsWith("drift_monitor_ingest_queue_capacity ", StringComparison.Ordinal))
                    {
                        capacity = Value(line);
                    }
                    else if (line.StartsWith("drift_monitor_ingest_batches_total{outcome=\"dropped\"}", StringComparison.Ordinal))
                    {
                        dropped = Value(line);
                    }
                    else if (line.StartsWith("drift_monitor_outbox_pending{", StringComparison.Ordinal))
                    {
                        maxOutbox = Math.Max(maxOutbox, Value(line));
                    }
                }

                await Task.Delay(1000, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return new QueueSamples(maxQueue, capacity, dropped, maxOutbox, errors);
            }
        }

        static long Value(string line) => (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
