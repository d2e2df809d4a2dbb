using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;
using Monitor.Server.Hosting;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// What configuration and traffic must not be able to do to the sidecar's exposure: open an endpoint beside its two
/// listeners (outside development mode's loopback rule and the TLS settings), forge log lines, or crash it at start.
/// </summary>
public sealed class ExposureTests
{
    [Fact]
    public void An_extra_kestrel_endpoint_is_refused_at_start_in_development_mode_and_beside_mutual_tls()
    {
        var open = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(["--Kestrel:Endpoints:extra:Url=http://0.0.0.0:5999"]));
        Assert.Contains(open.Failures, f => f.StartsWith("Kestrel:Endpoints:extra (http://0.0.0.0:5999) is configured, but the sidecar listens only where " +
            "Monitor:Grpc and Monitor:Http say", StringComparison.Ordinal));

        using var directory = new TempDirectory();
        using TestCertificates ca = TestCertificates.Authority("monitor test CA");
        using X509Certificate2 server = ca.Issue("127.0.0.1", client: false);
        File.WriteAllText(directory.File("server.pem"), server.ExportCertificatePem());
        File.WriteAllText(directory.File("server.key"), server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(directory.File("ca.pem"), ca.Certificate.ExportCertificatePem());
        var plaintext = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(
        [
            "--Monitor:Security:Keys:0:Name=ops", "--Monitor:Security:Keys:0:Token=admin-key-0123456789", "--Monitor:Security:Keys:0:Roles=admin",
            $"--Monitor:Security:Tls:CertificatePath={directory.File("server.pem")}", $"--Monitor:Security:Tls:KeyPath={directory.File("server.key")}",
            $"--Monitor:Security:Tls:ClientCaPath={directory.File("ca.pem")}", "--Kestrel:Endpoints:plain:Url=http://0.0.0.0:5998",
        ]));
        Assert.Contains(plaintext.Failures, f => f.StartsWith("Kestrel:Endpoints:plain (http://0.0.0.0:5998) is configured", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_extra_endpoint_from_the_environment_stops_the_sidecar_process_naming_it()
    {
        (int exit, string error) = await RunAsync(new Dictionary<string, string> { ["Kestrel__Endpoints__extra__Url"] = "http://0.0.0.0:5997" });

        Assert.Equal(2, exit);
        Assert.Contains("Kestrel:Endpoints:extra (http://0.0.0.0:5997) is configured", error);
    }

    [Fact]
    public async Task An_address_that_cannot_be_listened_on_stops_the_sidecar_naming_the_setting()
    {
        var mapped = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(["--Monitor:Grpc:Address=::ffff:127.0.0.1"]));
        Assert.Contains("Monitor:Grpc:Address '::ffff:127.0.0.1' is an IPv4 address written as IPv6, which cannot be listened on; write 127.0.0.1",
            mapped.Failures);

        (int exit, string error) = await RunAsync([], "--Monitor:Grpc:Address=::ffff:127.0.0.1");
        Assert.Equal(2, exit);
        Assert.Contains("Monitor:Grpc:Address '::ffff:127.0.0.1' is an IPv4 address written as IPv6", error);
        Assert.DoesNotContain("Unhandled exception", error);

        // An address of no interface of this host (TEST-NET-1, RFC 5737), with credentials so that it is allowed at all.
        (exit, error) = await RunAsync([], "--Monitor:Security:Keys:0:Name=ops", "--Monitor:Security:Keys:0:Token=admin-key-0123456789",
            "--Monitor:Security:Keys:0:Roles=admin", "--Monitor:Http:Address=192.0.2.1");
        Assert.Equal(1, exit);
        Assert.Contains("Cannot listen: ", error);
        Assert.Contains("set Monitor:Grpc:Address and Monitor:Http:Address to one of its addresses", error);
        Assert.DoesNotContain("Unhandled exception", error);
    }

    [Fact]
    public async Task Control_characters_from_traffic_are_escaped_in_errors_and_logs()
    {
        using var directory = new TempDirectory();
        var lines = new ConcurrentQueue<string>();
        await using Sidecar sidecar = await Sidecar.StartWithAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), null, null,
            builder => builder.Logging.AddProvider(new CapturingLoggerProvider(lines)), "--Logging:LogLevel:Monitor.Server.Ingest=Debug");
        const string forged = "x\n\u001b[2Kwarn: Rollback signal 99 ACKNOWLEDGED\r\u2028\u202e";
        MirrorBatch batch = Sidecar.Batch(new FraudTraffic(seed: 3), 5);
        batch.Model = forged;

        MirrorAck ack = await Ack(sidecar, batch);

        Assert.Equal("model 'x\\n\\u001b[2Kwarn: Rollback signal 99 ACKNOWLEDGED\\r\\u2028\\u202e' is not registered", ack.ErrorMessage);
        string[] logged = [.. lines.Where(l => l.Contains("Rollback signal 99", StringComparison.Ordinal))];
        Assert.NotEmpty(logged);
        Assert.All(logged, l => Assert.DoesNotContain(l, c => c is '\n' or '\r' or '\u001b' or '\u2028'));
    }

    private static async Task<MirrorAck> Ack(Sidecar sidecar, MirrorBatch batch)
    {
        using var stream = sidecar.Mirror.IngestStream();
        await stream.RequestStream.WriteAsync(batch);
        await stream.RequestStream.CompleteAsync();
        Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
        return stream.ResponseStream.Current;
    }

    /// <summary>Runs the sidecar program to its end (it must stop by itself) and returns its exit code and standard error.</summary>
    private static async Task<(int Exit, string Error)> RunAsync(Dictionary<string, string> environment, params string[] settings)
    {
        using var directory = new TempDirectory();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (string[])[Path.Combine(AppContext.BaseDirectory, "Monitor.Server.dll"), "serve", "--Monitor:Grpc:Port=0",
            "--Monitor:Http:Port=0", $"--Monitor:Database:Path={directory.File("monitor.db")}", .. settings])
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"the sidecar did not stop by itself within 60 s: {await output}");
        }

        return (process.ExitCode, await error + await output);
    }

    private sealed class CapturingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Capturing(lines);

        public void Dispose()
        {
        }

        private sealed class Capturing(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }
}
