using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// The Prometheus rules and Grafana dashboard under deploy/: promtool checks and unit-tests the rules and lints the
/// sidecar's exposition, every metric they use exists, and a real Prometheus scrapes the sidecar and fires a rule.
/// </summary>
public sealed partial class ObservabilityTests
{
    private static readonly string Deploy = Path.Combine(Repository.Root, "deploy");

    [Fact]
    public async Task The_rules_pass_promtool_check_and_their_unit_tests()
    {
        string promtool = ExternalProgram.Require("prometheus", "promtool");
        string rules = Path.Combine(Deploy, "prometheus");
        (int check, string checkOutput) = await RunAsync(promtool, rules, null, "check", "rules", "drift-monitor-rules.yml");
        Assert.True(check == 0, checkOutput);
        Assert.Contains("SUCCESS: 9 rules found", checkOutput);
        (int test, string testOutput) = await RunAsync(promtool, rules, null, "test", "rules", "drift-monitor-rules.test.yml");
        Assert.True(test == 0, testOutput);
    }

    [Fact]
    public async Task The_exposition_passes_promtool_check_metrics_and_holds_every_metric_the_rules_and_dashboard_use()
    {
        string promtool = ExternalProgram.Require("prometheus", "promtool");
        using var directory = new TempDirectory();
        await using Receiver webhook = await Receiver.StartAsync();
        await using Sidecar sidecar = await StartBusySidecarAsync(directory, webhook);
        string exposition = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);

        (int code, string output) = await RunAsync(promtool, directory.Path, exposition, "check", "metrics");
        Assert.True(code == 0, output);

        string dashboard = await File.ReadAllTextAsync(Path.Combine(Deploy, "grafana", "drift-monitor-dashboard.json"), TestContext.Current.CancellationToken);
        using JsonDocument parsed = JsonDocument.Parse(dashboard);
        Assert.NotEmpty(parsed.RootElement.GetProperty("panels").EnumerateArray());
        string rules = await File.ReadAllTextAsync(Path.Combine(Deploy, "prometheus", "drift-monitor-rules.yml"), TestContext.Current.CancellationToken);
        string[] used = [.. MetricName().Matches(dashboard + rules).Select(m => m.Value).Distinct()];
        Assert.True(used.Length >= 20, string.Join(", ", used));
        // Every metric used is declared by the sidecar (a family whose events have not happened yet has no series, only its TYPE line)...
        foreach (string metric in used)
        {
            Assert.True(exposition.Contains($"# TYPE {metric} ", StringComparison.Ordinal), $"{metric} is used by deploy/ but the sidecar does not declare it");
        }

        // ...and this busy sidecar has series of all but those of events it did not have (findings, held rollbacks, refusals).
        string[] withSeries = [.. used.Where(m => exposition.Contains($"\n{m}{{", StringComparison.Ordinal) || exposition.Contains($"\n{m} ", StringComparison.Ordinal))];
        Assert.True(withSeries.Length >= used.Length - 3, $"no series of {string.Join(", ", used.Except(withSeries))}");
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_the_sidecar_and_the_rollback_rule_fires()
    {
        string prometheus = ExternalProgram.Require("prometheus", "prometheus");
        using var directory = new TempDirectory();
        await using Receiver webhook = await Receiver.StartAsync();
        await using Sidecar sidecar = await StartBusySidecarAsync(directory, webhook);
        int port = Receiver.FreePort();
        string config = directory.File("prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {Path.Combine(Deploy, "prometheus", "drift-monitor-rules.yml")}
            scrape_configs:
              - job_name: drift-monitor
                static_configs:
                  - targets: ['127.0.0.1:{sidecar.HttpPort}']
            """, TestContext.Current.CancellationToken);
        var start = new ProcessStartInfo(prometheus) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[]
        {
            $"--config.file={config}", $"--storage.tsdb.path={directory.File("tsdb")}", $"--web.listen-address=127.0.0.1:{port}",
        })
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            Assert.True(await Eventually.HoldsAsync(() => Query(http, "up{job=\"drift-monitor\"}") == "1", TimeSpan.FromSeconds(60),
                TestContext.Current.CancellationToken), "Prometheus did not scrape the sidecar");
            Assert.Equal("1", Query(http, "drift_monitor_models"));
            Assert.Equal("1", Query(http, "drift_monitor_rollback_recommended{model=\"fraud-scorer\",version=\"v2\"}"));
            Assert.True(await Eventually.HoldsAsync(() => Firing(http).Contains("DriftMonitorRollbackRecommended", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken), Firing(http));
            Assert.Contains("\"version\":\"v2\"", Firing(http));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task With_the_json_formatter_every_log_line_is_a_json_object_with_its_structured_fields()
    {
        using var directory = new TempDirectory();
        using Process process = SidecarProcess.Launch("--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={directory.File("monitor.db")}",
            "--Logging:Console:FormatterName=json");
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            var lines = new List<JsonElement>();
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                using JsonDocument entry = JsonDocument.Parse(line);
                lines.Add(entry.RootElement.Clone());
                if (entry.RootElement.GetProperty("EventId").GetInt32() == 1 && entry.RootElement.GetProperty("Category").GetString() == "Monitor.Server.Hosting.MonitorLifetime")
                {
                    break;
                }
            }

            JsonElement listening = lines[^1];
            Assert.Equal("Information", listening.GetProperty("LogLevel").GetString());
            Assert.StartsWith("Listening for gRPC on 127.0.0.1:", listening.GetProperty("Message").GetString());
            Assert.Equal(directory.File("monitor.db"), listening.GetProperty("State").GetProperty("Database").GetString());
            Assert.Contains(lines, l => l.GetProperty("EventId").GetInt32() == 4 && l.GetProperty("LogLevel").GetString() == "Warning");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }
    }

    [Fact]
    public void The_kubernetes_example_configures_the_sidecar_with_settings_it_accepts()
    {
        string manifest = File.ReadAllText(Path.Combine(Deploy, "kubernetes", "drift-monitor.yaml"));
        var settings = new List<string>();
        foreach (Match data in ConfigMapEntry().Matches(manifest))
        {
            settings.Add($"--{data.Groups[1].Value.Replace("__", ":", StringComparison.Ordinal)}={data.Groups[2].Value}");
        }

        foreach (Match env in EnvValue().Matches(manifest))
        {
            settings.Add($"--{env.Groups[1].Value.Replace("__", ":", StringComparison.Ordinal)}={env.Groups[2].Value}");
        }

        foreach (Match secret in EnvFromSecret().Matches(manifest))
        {
            settings.Add($"--{secret.Groups[1].Value.Replace("__", ":", StringComparison.Ordinal)}=a-secret-value-of-some-length-{settings.Count}");
        }

        Assert.Contains("--Monitor:Grpc:Address=0.0.0.0", settings);
        Assert.Contains(settings, s => s.StartsWith("--Monitor:Security:Keys:2:Token=a-secret-value", StringComparison.Ordinal));
        Assert.True(settings.Count >= 20, string.Join("\n", settings));

        // Bound to every interface with three credentials, hashed tokens and JSON logs: the sidecar accepts all of it.
        using var directory = new TempDirectory();
        Microsoft.AspNetCore.Builder.WebApplication app = Server.Hosting.MonitorHost.Build(
            [.. settings.Where(s => !s.StartsWith("--Monitor:Database:Path=", StringComparison.Ordinal)), $"--Monitor:Database:Path={directory.File("monitor.db")}"]);
        var options = (Microsoft.Extensions.Options.IOptions<Server.MonitorOptions>)app.Services.GetService(typeof(Microsoft.Extensions.Options.IOptions<Server.MonitorOptions>))!;
        Assert.Equal(["model-server", "rollout-controller", "ops"], options.Value.Security.Keys.Select(k => k.Name));
        Assert.Equal(Core.Detectors.TokenDisplay.Hashed, options.Value.Privacy.Tokens);
        ((IDisposable)app).Dispose();
    }

    [GeneratedRegex(@"^  ((?:Monitor|Logging)__\S+): ""?([^""#\n]*?)""?\s*(?:#.*)?$", RegexOptions.Multiline)]
    private static partial Regex ConfigMapEntry();

    [GeneratedRegex(@"\{ name: (Monitor__\S+), value: ([^ }]+) \}")]
    private static partial Regex EnvValue();

    [GeneratedRegex(@"- name: (Monitor__\S+)\s*\n\s*valueFrom:")]
    private static partial Regex EnvFromSecret();

    /// <summary>A sidecar with a model, windows, a manual rollback of v2 (signal, alert, delivery) and a limit breach, so every metric has series.</summary>
    private static async Task<Sidecar> StartBusySidecarAsync(TempDirectory directory, Receiver webhook)
    {
        var traffic = new FraudTraffic(seed: 81);
        Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"), "--Monitor:Limits:MaxTextBytes=50",
            "--Monitor:Delivery:Webhooks:0:Name=ops", $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{webhook.Port}/hook",
            "--Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123");
        await sidecar.SetUpFraudModelAsync(traffic, 3000);
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 2);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1);
        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "ops", Reason = "drill" });
        await sidecar.RegisterCandidateAsync("v3");
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 10, version: "v3", digest: Sidecar.Digest("something else")));
        MirrorBatch tooLong = Sidecar.Batch(traffic, 10);
        tooLong.Batch.Text[0] = new StringColumn { Utf8 = Google.Protobuf.ByteString.CopyFromUtf8(new string('x', 60)) };
        tooLong.Batch.Text[0].Ends.AddRange([.. Enumerable.Repeat(60u, 10)]);
        await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await sidecar.Mirror.IngestAsync(tooLong));
        Assert.True(await Eventually.HoldsAsync(() => !webhook.Requests.IsEmpty, TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
        await Task.Delay(200, TestContext.Current.CancellationToken); // the delivery loop sets its gauges after delivering
        return sidecar;
    }

    private static string? Query(HttpClient http, string expression)
    {
        try
        {
            using JsonDocument result = JsonDocument.Parse(http.GetStringAsync($"/api/v1/query?query={Uri.EscapeDataString(expression)}").GetAwaiter().GetResult());
            JsonElement vector = result.RootElement.GetProperty("data").GetProperty("result");
            return vector.GetArrayLength() == 0 ? null : vector[0].GetProperty("value")[1].GetString();
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static string Firing(HttpClient http)
    {
        try
        {
            return http.GetStringAsync("/api/v1/alerts").GetAwaiter().GetResult();
        }
        catch (HttpRequestException ex)
        {
            return ex.Message;
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, string directory, string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }

    [GeneratedRegex(@"drift_monitor_[a-z_]+")]
    private static partial Regex MetricName();
}
