using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Monitor.LoadTests;

/// <summary>
/// The sidecar under load, as its own process (dotnet Monitor.Server.dll serve) on free loopback ports with a
/// fresh database, so client and server are measured as they run in production: side by side, not in one heap.
/// Samples the server's resident memory while it runs.
/// </summary>
internal sealed class SidecarProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private readonly List<(TimeSpan At, long Bytes)> _samples = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private SidecarProcess(Process process, string directory, int grpcPort, int httpPort)
    {
        _process = process;
        _directory = directory;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
        _sampler = Task.Run(SampleAsync);
    }

    public int GrpcPort { get; }
    public int HttpPort { get; }
    public string GrpcAddress => $"http://127.0.0.1:{GrpcPort}";

    /// <summary>Time since start, on the clock of <see cref="Samples"/>.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Resident memory samples (every 250 ms) since start.</summary>
    public IReadOnlyList<(TimeSpan At, long Bytes)> Samples
    {
        get
        {
            lock (_samples)
            {
                return [.. _samples];
            }
        }
    }

    /// <summary>The kernel's high-water mark of the server's resident memory (VmHWM), in bytes.</summary>
    public long PeakResidentBytes => Status("VmHWM:");

    public long ResidentBytes => Status("VmRSS:");

    public static async Task<SidecarProcess> StartAsync(bool analysis, IEnumerable<string> settings, CancellationToken cancellationToken)
    {
        string server = Path.Combine(AppContext.BaseDirectory, "Monitor.Server.dll");
        string directory = Path.Combine(Path.GetTempPath(), "monitor-load-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        int grpcPort = FreePort();
        int httpPort = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (string[])[
            server, "serve", $"--Monitor:Grpc:Port={grpcPort}", $"--Monitor:Http:Port={httpPort}",
            $"--Monitor:Database:Path={Path.Combine(directory, "monitor.db")}", $"--Monitor:Ingest:Analysis={analysis}",
            "--Logging:LogLevel:Default=Warning", .. settings])
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start the sidecar");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sidecar = new SidecarProcess(process, directory, grpcPort, httpPort);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/healthz", cancellationToken)).IsSuccessStatusCode)
                {
                    return sidecar;
                }
            }
            catch (HttpRequestException) when (DateTimeOffset.UtcNow < deadline && !process.HasExited)
            {
            }

            if (DateTimeOffset.UtcNow >= deadline || process.HasExited)
            {
                await sidecar.DisposeAsync();
                throw new InvalidOperationException($"the sidecar did not become healthy within 30 s (exited: {process.HasExited})");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Waits until the sidecar's ingest queues are empty (drift_monitor_ingest_queue_depth is 0 for every model), at most 120 s; false if they were not.</summary>
    public async Task<bool> DrainedAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}") };
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(120);
        while (DateTimeOffset.UtcNow < deadline)
        {
            string metrics = await http.GetStringAsync("/metrics", cancellationToken);
            bool empty = metrics.Split('\n').Where(l => l.StartsWith("drift_monitor_ingest_queue_depth{", StringComparison.Ordinal))
                .All(l => l.EndsWith(" 0", StringComparison.Ordinal));
            if (empty)
            {
                return true;
            }

            await Task.Delay(20, cancellationToken);
        }

        return false;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private long Status(string field)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    private async Task SampleAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                long bytes = ResidentBytes;
                lock (_samples)
                {
                    _samples.Add((_clock.Elapsed, bytes));
                }

                await Task.Delay(250, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampler;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
