using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Grpc.Net.Client;
using HdrHistogram;
using Microsoft.AspNetCore.Builder;
using Monitor.Protos.V1;

namespace Monitor.LoadTests;

/// <summary>
/// The example serving app's own request latency, at a steady open rate, in four cases: without the mirror, and
/// mirroring to a sidecar that is up, down, or overloaded (it refuses most batches with RESOURCE_EXHAUSTED). The
/// client SDK should cost the app at most max(1 ms, 10%) of p99 in every case.
/// </summary>
internal static class AppLatency
{
    public static async Task<(Report Report, List<string> Breaches)> RunAsync(Arguments options, TextWriter output, CancellationToken cancellationToken)
    {
        double seconds = options.Number("seconds", 15);
        double rate = options.Number("rate", 400);
        if (seconds is < 1 or > 3600 || rate is <= 0 or > 20_000)
        {
            throw new ArgumentException("--seconds: 1 to 3600; --rate: requests per second, 0 to 20000");
        }

        string modelPath = Path.Combine(AppContext.BaseDirectory, "model.json");
        string digest = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(modelPath, cancellationToken)));
        Workload workload = Workload.Fraud(512);
        var report = new Report(string.Create(CultureInfo.InvariantCulture, $"Example app latency: POST /score at {rate:N0} requests/s for {seconds:N0} s per case"));
        var results = new List<(string Case, LongHistogram Latency, long Requests, long Errors, string Mirror)>();

        await using SidecarProcess up = await SidecarProcess.StartAsync(true, [], cancellationToken);
        await RegisterAsync(up, workload, digest, cancellationToken);
        await using SidecarProcess busy = await SidecarProcess.StartAsync(true, ["--Monitor:Limits:ClientRecordsPerSecond=50", "--Monitor:Limits:ClientBurstRecords=64"],
            cancellationToken);
        await RegisterAsync(busy, workload, digest, cancellationToken);

        foreach ((string name, string[] settings) in new (string, string[])[]
        {
            ("no mirror", ["--DriftMirror:Enabled=false"]),
            ("sidecar up", [$"--DriftMirror:Address={up.GrpcAddress}"]),
            ("sidecar down", [$"--DriftMirror:Address=http://127.0.0.1:{SidecarProcess.FreePort()}"]),
            ("sidecar overloaded", [$"--DriftMirror:Address={busy.GrpcAddress}"]),
        })
        {
            output.WriteLine($"== {name}");
            int port = SidecarProcess.FreePort();
            await using WebApplication app = Monitor.ExampleApp.ExampleApp.Build(
                [$"--urls=http://127.0.0.1:{port}", "--Logging:LogLevel:Default=Warning", $"--DriftMirror:Model={Workload.Model}",
                    "--DriftMirror:Version=served", .. settings]);
            await app.StartAsync(cancellationToken);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await DriveAsync(http, rate, TimeSpan.FromSeconds(Math.Min(3, seconds)), cancellationToken); // warm-up
            (LongHistogram latency, long requests, long errors) = await DriveAsync(http, rate, TimeSpan.FromSeconds(seconds), cancellationToken);
            string mirror = await MirrorStatsAsync(http, cancellationToken);
            results.Add((name, latency, requests, errors, mirror));
            await app.StopAsync(cancellationToken);
        }

        double baseline = Ms(results[0].Latency, 99);
        var breaches = new List<string>();
        foreach ((string name, LongHistogram latency, long requests, long errors, string mirror) in results)
        {
            double p99 = Ms(latency, 99);
            double allowed = Math.Max(1, baseline * 0.10);
            string verdict = name == "no mirror" ? "baseline" : p99 - baseline <= allowed ? "within" : "OVER";
            report.Note(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {requests:N0} requests, {errors} errors; latency p50 {Ms(latency, 50):F2} ms, p99 {p99:F2} ms, p99.9 {Ms(latency, 99.9):F2} ms, " +
                $"max {latency.GetMaxValue() / (double)TimeSpan.TicksPerMillisecond:F2} ms; p99 {p99 - baseline:+0.00;-0.00} ms against no mirror " +
                $"(allowed {allowed:F2}): {verdict}. Mirror: {mirror}"));
            if (errors > 0)
            {
                breaches.Add($"{name}: {errors} requests to the app failed");
            }

            if (verdict == "OVER" && !options.Flag("no-budget"))
            {
                breaches.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: p99 rose {p99 - baseline:F2} ms against no mirror, more than max(1 ms, 10%)"));
            }
        }

        return (report, breaches);
    }

    private static async Task RegisterAsync(SidecarProcess sidecar, Workload workload, string digest, CancellationToken cancellationToken)
    {
        using GrpcChannel channel = GrpcChannel.ForAddress(sidecar.GrpcAddress);
        await workload.SetUpAsync(channel, 5_000, cancellationToken);
        await new Admin.AdminClient(channel).RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Workload.Model, Version = "served", ArtifactSha256 = digest, Source = "example app",
        }, cancellationToken: cancellationToken);
    }

    /// <summary>POSTs at a steady rate; each latency is timed from the request's scheduled time (no coordinated omission).</summary>
    private static async Task<(LongHistogram Latency, long Requests, long Errors)> DriveAsync(HttpClient http, double rate, TimeSpan duration,
        CancellationToken cancellationToken)
    {
        var latency = new LongHistogram(TimeSpan.TicksPerMinute, 3);
        var random = new Random(17);
        long errors = 0;
        long start = Stopwatch.GetTimestamp();
        int total = (int)(rate * duration.TotalSeconds);
        var inFlight = new List<Task>(total);
        for (int i = 0; i < total; i++)
        {
            long due = start + (long)(i / rate * Stopwatch.Frequency);
            TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, cancellationToken);
            }

            object transaction = Transaction(random, i);
            inFlight.Add(Task.Run(async () =>
            {
                try
                {
                    using HttpResponseMessage response = await http.PostAsJsonAsync("/score", transaction, cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref errors);
                }

                long elapsed = Stopwatch.GetElapsedTime(due).Ticks;
                lock (latency)
                {
                    latency.RecordValue(Math.Max(1, elapsed));
                }
            }, cancellationToken));
        }

        await Task.WhenAll(inFlight);
        return (latency, total, errors);
    }

    private static object Transaction(Random random, int i) => new
    {
        amount = Math.Exp(3.5 + random.NextDouble()),
        accountAgeDays = random.NextDouble() * 3000,
        txPerHour = random.Next(5),
        distanceKm = Math.Exp(1.5 + random.NextDouble()),
        hourOfDay = random.Next(24),
        merchantRisk = random.NextDouble(),
        merchantCategory = random.Next(2) == 0 ? "grocery" : "travel",
        country = random.Next(2) == 0 ? "US" : "GB",
        channel = "web",
        memo = $"invoice {random.Next(100_000)}",
        requestId = $"req-{i}",
    };

    private static async Task<string> MirrorStatsAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await http.GetAsync("/mirror", cancellationToken);
        return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(cancellationToken) : "none";
    }

    private static double Ms(LongHistogram histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(percentile) / (double)TimeSpan.TicksPerMillisecond;
}
