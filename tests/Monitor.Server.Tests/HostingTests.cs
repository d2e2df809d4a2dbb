using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;
using Monitor.Server.Hosting;

namespace Monitor.Server.Tests;

/// <summary>Ports, health, reflection, metrics and configuration of a running sidecar.</summary>
public sealed class HostingTests(FraudSidecarFixture fixture) : IClassFixture<FraudSidecarFixture>
{
    private Sidecar Sidecar => fixture.Sidecar;

    [Fact]
    public async Task Grpc_health_reports_serving()
    {
        var health = new Health.HealthClient(Sidecar.Channel);
        HealthCheckResponse response = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task Server_reflection_lists_the_three_services()
    {
        var reflection = new ServerReflection.ServerReflectionClient(Sidecar.Channel);
        using AsyncDuplexStreamingCall<ServerReflectionRequest, ServerReflectionResponse> call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext());
        string[] services = [.. call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name)];
        Assert.Contains("monitor.v1.Admin", services);
        Assert.Contains("monitor.v1.Mirror", services);
        Assert.Contains("monitor.v1.Reports", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Fact]
    public async Task Metrics_follow_prometheus_conventions_and_never_carry_what_a_record_says()
    {
        MirrorBatch batch = Sidecar.Batch(fixture.Traffic, Sidecar.WindowRecords);
        await Sidecar.Mirror.IngestAsync(batch);
        MirrorBatch unknown = Sidecar.Batch(fixture.Traffic, 5);
        unknown.Model = "attacker_chosen_model";
        await Assert.ThrowsAsync<RpcException>(async () => await Sidecar.Mirror.IngestAsync(unknown));
        await Sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);

        string text = await Sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("# TYPE drift_monitor_ingest_records_total counter", text);
        Assert.Contains("drift_monitor_ingest_records_total{model=\"fraud-scorer\",version=\"v1\",outcome=\"accepted\"}", text);
        Assert.Contains("drift_monitor_ingest_batches_total{outcome=\"rejected\"}", text);
        Assert.Contains("drift_monitor_windows_closed_total{model=\"fraud-scorer\",version=\"v1\",drifted=", text);
        Assert.Contains("drift_monitor_feature_drift{model=\"fraud-scorer\",version=\"v1\",feature=\"amount\",statistic=\"psi\"}", text);
        Assert.Contains("drift_monitor_feature_drift_threshold{model=\"fraud-scorer\",version=\"v1\",feature=\"country\",statistic=\"chi_squared\"}", text);
        Assert.Contains("drift_monitor_ingest_queue_depth{model=\"fraud-scorer\"}", text);
        Assert.Contains("drift_monitor_baseline_id{model=\"fraud-scorer\"} 1", text);
        Assert.Matches("drift_monitor_candidates\\{model=\"fraud-scorer\",version=\"v1\",holding=\"all\"\\} [0-9]+\n", text);
        Assert.Contains("# TYPE drift_monitor_candidates_turned_away_total counter", text);
        Assert.Contains("drift_monitor_candidates_turned_away_total{model=\"fraud-scorer\",version=\"v1\",reason=\"refused\"} 0", text);
        Assert.DoesNotContain("attacker_chosen_model", text);
        Assert.DoesNotContain("grocery", text);
        Assert.DoesNotContain("req-", text);
    }

    [Fact]
    public async Task Each_port_serves_only_its_own_role()
    {
        using var http2Only = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Sidecar.GrpcPort}") };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http2Only.GetStringAsync("/metrics", TestContext.Current.CancellationToken));

        using var metricsOverHttp2 = new HttpClient(new SocketsHttpHandler())
        {
            BaseAddress = new Uri($"http://127.0.0.1:{Sidecar.GrpcPort}"),
            DefaultRequestVersion = System.Net.HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        HttpResponseMessage response = await metricsOverHttp2.GetAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);

        using GrpcChannel wrongPort = GrpcChannel.ForAddress($"http://127.0.0.1:{Sidecar.HttpPort}");
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Admin.AdminClient(wrongPort).ListModelsAsync(new ListModelsRequest()));
        Assert.NotEqual(StatusCode.OK, ex.StatusCode);

        Assert.Equal("Healthy", await Sidecar.Http.GetStringAsync("/healthz", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Detector_and_baseline_keys_set_the_Core_settings_whose_defaults_are_the_only_ones()
    {
        using var directory = new TempDirectory();
        await using Microsoft.AspNetCore.Builder.WebApplication app = MonitorHost.Build(["--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0",
            $"--Monitor:Database:Path={directory.File("monitor.db")}", "--Monitor:Detectors:MaxKeysPerRecord=7", "--Monitor:Baselines:Bins=12",
            "--Monitor:Baselines:CaptureCheckZ=3", "--Monitor:Limits:MaxTextBytes=100", "--Monitor:Limits:MaxModels=5",
            "--Monitor:Privacy:Tokens=Hashed", "--Monitor:Privacy:HashKey=0123456789abcdef"]);
        MonitorOptions options = app.Services.GetRequiredService<IOptions<MonitorOptions>>().Value;

        Assert.Equal(new Core.Detectors.DetectorSettings() with { MaxKeysPerRecord = 7 }, options.DetectorSettings);
        Assert.Equal(new Core.Baselines.BaselineSettings() with { Bins = 12, CaptureCheckZ = 3 }, options.BaselineSettings);
        Assert.Equal(new Core.Ingest.TextLimits() with { MaxTextBytes = 100 }, options.TextLimits);
        Assert.Equal(5, options.Limits.MaxModels);
        Assert.Equal((Core.Detectors.TokenDisplay.Hashed, "0123456789abcdef"), (options.Privacy.Tokens, options.Privacy.HashKey));
        Assert.Same(options.Privacy, options.DetectorsInForce?.TextKeys);

        await using Microsoft.AspNetCore.Builder.WebApplication off = MonitorHost.Build(["--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0",
            $"--Monitor:Database:Path={directory.File("off.db")}", "--Monitor:Detectors:Enabled=false"]);
        Assert.Null(off.Services.GetRequiredService<IOptions<MonitorOptions>>().Value.DetectorsInForce);
    }

    [Fact]
    public void Bad_configuration_is_refused_at_start_naming_each_setting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(
        [
            "--Monitor:Grpc:Address=localhost", "--Monitor:Http:Port=70000", "--Monitor:Baselines:FalseAlarmRate=1.5",
            "--Monitor:Windows:Records=5", "--Monitor:Baselines:BootstrapWindows=10",
        ]));
        Assert.Contains("Monitor:Grpc:Address 'localhost' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::)", ex.Failures);
        Assert.Contains("Monitor:Http:Port must lie in 0..65535, got 70000", ex.Failures);
        Assert.Contains("Monitor:Baselines:FalseAlarmRate must lie strictly between 0 and 1, got 1.5", ex.Failures);
        Assert.Contains("Monitor:Windows:Records must lie in 10..100000000, got 5", ex.Failures);
        Assert.Contains("Monitor:Baselines:BootstrapWindows must lie in 1000..1000000, got 10", ex.Failures);

        var small = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(["--Monitor:Baselines:FalseAlarmRate=0.001"]));
        Assert.Contains("Monitor:Baselines:FalseAlarmRate of 0.001 is too small to calibrate with 2000 bootstrap windows " +
            "(Monitor:Baselines:BootstrapWindows): at least 5 of them must be able to alarm, so use a rate of at least 0.0025 or at least " +
            "5000 bootstrap windows", small.Failures);
    }

    [Fact]
    public void Bad_alert_and_delivery_settings_are_refused_naming_each_setting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(
        [
            "--Monitor:Delivery:Alertmanager:Url=alertmanager:9093", "--Monitor:Delivery:Webhooks:0:Name=ops hook",
            "--Monitor:Delivery:Webhooks:0:Url=ftp://example", "--Monitor:Delivery:Webhooks:0:Secret=short",
            "--Monitor:Delivery:MaxBackoff=00:00:00.5", "--Monitor:Windows:MaxAge=00:00:00.2", "--Monitor:Alerts:FireAfterWindows=0",
        ]));
        Assert.Contains("Monitor:Delivery:Alertmanager:Url must be an absolute http:// or https:// URL, got 'alertmanager:9093'", ex.Failures);
        Assert.Contains("Monitor:Delivery:Webhooks:0:Name must be letters, digits, '-' or '_', got 'ops hook'", ex.Failures);
        Assert.Contains("Monitor:Delivery:Webhooks:0:Url must be an absolute http:// or https:// URL, got 'ftp://example'", ex.Failures);
        Assert.Contains("Monitor:Delivery:Webhooks:0:Secret must be at least 16 characters (it keys the HMAC-SHA256 signature)", ex.Failures);
        Assert.Contains("Monitor:Delivery:MaxBackoff (00:00:00.5000000) is shorter than Monitor:Delivery:InitialBackoff (00:00:01)", ex.Failures);
        Assert.Contains("Monitor:Windows:MaxAge must be zero (off) or at least 00:00:01, got 00:00:00.2000000", ex.Failures);
        Assert.Contains("Monitor:Alerts:FireAfterWindows must lie in 1..1000000, got 0", ex.Failures);
    }

    [Fact]
    public void Bad_security_settings_are_refused_naming_each_setting()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(
        [
            "--Monitor:Grpc:Address=0.0.0.0", "--Monitor:Limits:ClientRecordsPerSecond=-1",
            "--Monitor:Security:Tls:CertificatePath=/nonexistent/server.pem",
        ]));
        Assert.Contains("Monitor:Grpc:Address is 0.0.0.0, but Monitor:Security:Keys is empty (development mode, every caller has every role), " +
            "which is allowed on loopback only: configure credentials or bind to 127.0.0.1", ex.Failures);
        Assert.Contains("Monitor:Limits:ClientRecordsPerSecond must be 0 (off) or positive, got -1", ex.Failures);
        Assert.Contains(ex.Failures, f => f.StartsWith("Monitor:Security:Tls: cannot load the certificate '/nonexistent/server.pem'", StringComparison.Ordinal));

        var keys = Assert.Throws<OptionsValidationException>(() => MonitorHost.Build(
        [
            "--Monitor:Security:Keys:0:Name=ops", "--Monitor:Security:Keys:0:Sha256=abc", "--Monitor:Security:Keys:0:Roles=admin,root",
            "--Monitor:Security:Keys:1:Name=ops", "--Monitor:Security:Keys:1:Token=short", "--Monitor:Security:Keys:1:Roles=",
        ]));
        Assert.Contains("Monitor:Security:Keys:0:Sha256 must be 64 hex digits (sha256sum of the key), got 3 characters", keys.Failures);
        Assert.Contains("Monitor:Security:Keys:0:Roles names an unknown role 'root' (known: ingest, read, admin)", keys.Failures);
        Assert.Contains("Monitor:Security:Keys:1:Name 'ops' is used by another credential", keys.Failures);
        Assert.Contains("Monitor:Security:Keys:1:Token must be at least 16 characters", keys.Failures);
        Assert.Contains("Monitor:Security:Keys:1:Roles is empty: give one or more of ingest, read, admin, separated by commas", keys.Failures);
    }
}
