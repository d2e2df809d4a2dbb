using System.Diagnostics;

namespace Monitor.Tests.Shared;

/// <summary>The sidecar as a separate process (dotnet Monitor.Server.dll serve), so a test can kill -9 it.</summary>
internal sealed class SidecarProcess : IAsyncDisposable
{
    private readonly Process _process;

    private SidecarProcess(Process process, int grpcPort, int httpPort)
    {
        _process = process;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
    }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Resident memory now (VmRSS) and at its peak (VmHWM), from /proc.</summary>
    public (long Current, long Peak) ResidentBytes()
    {
        long current = 0, peak = 0;
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                current = Kilobytes(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line);
            }
        }

        return (current, peak);

        static long Kilobytes(string line) =>
            1024 * long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Starts `dotnet Monitor.Server.dll serve` with these arguments, output redirected; nothing waits for it.</summary>
    public static Process Launch(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (string[])[Path.Combine(AppContext.BaseDirectory, "Monitor.Server.dll"), "serve", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start the sidecar process");
    }

    public static async Task<SidecarProcess> StartAsync(string database, params string[] settings)
    {
        int grpcPort = Receiver.FreePort();
        int httpPort = Receiver.FreePort();
        Process process = Launch([$"--Monitor:Grpc:Port={grpcPort}", $"--Monitor:Http:Port={httpPort}", $"--Monitor:Database:Path={database}",
            "--Logging:LogLevel:Default=Warning", "--Monitor:Versions:MinTriggerRate=0.1", .. settings]);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var sidecar = new SidecarProcess(process, grpcPort, httpPort);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        if (!await Eventually.HoldsAsync(() => Healthy(http), TimeSpan.FromSeconds(30)))
        {
            await sidecar.DisposeAsync();
            throw new InvalidOperationException("the sidecar process did not become healthy within 30 s");
        }

        return sidecar;
    }

    private static bool Healthy(HttpClient http)
    {
        try
        {
            return http.GetAsync("/healthz").GetAwaiter().GetResult().IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL, and wait for the process to be gone.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
