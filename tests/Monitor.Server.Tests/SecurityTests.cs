using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>A sidecar with credentials for each role, a fake clock for its rate limiter, and small limits.</summary>
public sealed class SecuredSidecarFixture : IAsyncLifetime
{
    public const string AdminKey = "admin-key-0123456789abcdef";
    public const string IngestKey = "ingest-key-0123456789abcdef";
    public const string OtherIngestKey = "ingest-b-key-0123456789abcdef";
    public const string ReadKey = "read-key-0123456789abcdef";
    private readonly TempDirectory _directory = new();

    internal Sidecar Sidecar { get; private set; } = null!;
    internal FraudTraffic Traffic { get; } = new(seed: 5);
    internal FakeTimeProvider Clock { get; } = new(DateTimeOffset.Parse("2026-11-26T00:00:00Z", CultureInfo.InvariantCulture));

    public async ValueTask InitializeAsync()
    {
        Sidecar = await Sidecar.StartWithKeyAsync(_directory.File("monitor.db"), Clock, AdminKey,
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            // The ingest key is configured by its hash only, as a production configuration would hold it.
            "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Sha256={Sha256(IngestKey)}", "--Monitor:Security:Keys:1:Roles=ingest",
            "--Monitor:Security:Keys:2:Name=search", $"--Monitor:Security:Keys:2:Token={OtherIngestKey}", "--Monitor:Security:Keys:2:Roles=ingest",
            "--Monitor:Security:Keys:3:Name=dashboard", $"--Monitor:Security:Keys:3:Token={ReadKey}", "--Monitor:Security:Keys:3:Roles=read",
            "--Monitor:Limits:MaxTextBytes=200", "--Monitor:Limits:MaxTokensPerRecord=30", "--Monitor:Limits:MaxModels=1",
            "--Monitor:Limits:ClientRecordsPerSecond=1000", "--Monitor:Limits:ClientBurstRecords=2000",
            "--Monitor:Ingest:MaxMessageBytes=200000", "--Monitor:Windows:MaxAge=00:00:00");
        await Sidecar.SetUpFraudModelAsync(Traffic);
    }

    public static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public async ValueTask DisposeAsync()
    {
        await Sidecar.DisposeAsync();
        _directory.Dispose();
    }
}

/// <summary>Roles on gRPC and HTTP, refusals counted, and every limit breach named, counted and harmless to others.</summary>
public sealed class SecurityTests(SecuredSidecarFixture fixture) : IClassFixture<SecuredSidecarFixture>
{
    private Sidecar Sidecar => fixture.Sidecar;

    [Fact]
    public async Task Without_a_credential_only_health_answers_on_grpc_and_verdicts_are_refused_on_http()
    {
        using GrpcChannel anonymous = Sidecar.OpenChannel(null);
        RpcException ingest = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Mirror.MirrorClient(anonymous).IngestAsync(Sidecar.Batch(fixture.Traffic, 10)));
        Assert.Equal(StatusCode.Unauthenticated, ingest.StatusCode);
        Assert.Contains("needs a credential with the ingest role", ingest.Status.Detail);

        RpcException list = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Admin.AdminClient(anonymous).ListModelsAsync(new ListModelsRequest()));
        Assert.Equal(StatusCode.Unauthenticated, list.StatusCode);

        HealthCheckResponse health = await new Health.HealthClient(anonymous).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);

        using var http = new HttpClient { BaseAddress = Sidecar.Http.BaseAddress };
        HttpResponseMessage verdict = await http.GetAsync($"/api/v1/verdict/{Sidecar.Model}/v1", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, verdict.StatusCode);
        Assert.Contains("needs a credential with the read role", await verdict.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);

        using GrpcChannel wrong = Sidecar.OpenChannel("not-a-key-of-this-sidecar");
        RpcException unknown = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Protos.V1.Reports.ReportsClient(wrong).GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" }));
        Assert.Equal(StatusCode.Unauthenticated, unknown.StatusCode);
        Assert.Equal("the credential presented is not known to this sidecar", unknown.Status.Detail);
    }

    [Fact]
    public async Task Each_role_does_its_own_calls_and_is_refused_the_rest_and_refusals_are_counted()
    {
        double forbiddenBefore = await Metric("drift_monitor_auth_refusals_total{reason=\"forbidden\",role=\"admin\"}");
        using GrpcChannel ingestChannel = Sidecar.OpenChannel(SecuredSidecarFixture.OtherIngestKey);
        using GrpcChannel readChannel = Sidecar.OpenChannel(SecuredSidecarFixture.ReadKey);

        // ingest: mirrors, reads nothing, administers nothing.
        MirrorAck ack = await new Mirror.MirrorClient(ingestChannel).IngestAsync(Sidecar.Batch(fixture.Traffic, 10));
        Assert.Equal(10u, ack.Accepted);
        await AssertDenied(() => new Admin.AdminClient(ingestChannel).ListModelsAsync(new ListModelsRequest()).ResponseAsync, "search", "read");
        await AssertDenied(() => new Admin.AdminClient(ingestChannel).QuarantineVersionAsync(new QuarantineVersionRequest
        {
            Model = Sidecar.Model, Version = "v1", Actor = "mallory", Reason = "x",
        }).ResponseAsync, "search", "admin");

        // read: reports, alerts, signals, verdicts; no ingest, no admin operation.
        Assert.Single((await new Admin.AdminClient(readChannel).ListModelsAsync(new ListModelsRequest())).Models);
        await new Protos.V1.Reports.ReportsClient(readChannel).GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        await new Alerts.AlertsClient(readChannel).ListAlertsAsync(new ListAlertsRequest());
        await new Rollbacks.RollbacksClient(readChannel).ListRollbackSignalsAsync(new ListRollbackSignalsRequest());
        await AssertDenied(() => new Mirror.MirrorClient(readChannel).IngestAsync(Sidecar.Batch(fixture.Traffic, 10)).ResponseAsync, "dashboard", "ingest");
        await AssertDenied(() => new Admin.AdminClient(readChannel).BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model }).ResponseAsync,
            "dashboard", "admin");
        await AssertDenied(() => new Rollbacks.RollbacksClient(readChannel).AcknowledgeRollbackSignalAsync(new AcknowledgeRollbackSignalRequest
        {
            Sequence = 1, Actor = "mallory",
        }).ResponseAsync, "dashboard", "admin");
        await AssertDenied(() => new Admin.AdminClient(readChannel).RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model, Version = "evil", ArtifactSha256 = Sidecar.Digest("evil"),
        }).ResponseAsync, "dashboard", "admin");
        using var readerHttp = new HttpClient { BaseAddress = Sidecar.Http.BaseAddress };
        readerHttp.DefaultRequestHeaders.Add("x-api-key", SecuredSidecarFixture.ReadKey);
        Assert.Equal(HttpStatusCode.OK, (await readerHttp.GetAsync($"/api/v1/verdict/{Sidecar.Model}/v1", TestContext.Current.CancellationToken)).StatusCode);
        using var ingestHttp = new HttpClient { BaseAddress = Sidecar.Http.BaseAddress };
        ingestHttp.DefaultRequestHeaders.Add("x-api-key", SecuredSidecarFixture.OtherIngestKey);
        HttpResponseMessage forbidden = await ingestHttp.GetAsync($"/api/v1/verdict/{Sidecar.Model}/v1", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

        // admin: the audit names the actor and the credential that acted.
        await Sidecar.RegisterCandidateAsync("v9");
        await Sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest
        {
            Model = Sidecar.Model, Version = "v9", Actor = "alice", Reason = "security test",
        });
        ModelVersion v9 = await Sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v9" });
        Assert.Equal(VersionState.Quarantined, v9.State);
        Assert.Contains(Sidecar.App.Services.GetRequiredService<Monitor.Server.Models.IModelStore>().LoadAudit(Sidecar.Model),
            e => e.Version == "v9" && e.Actor == "alice (key ops-admin)");

        Assert.Equal(forbiddenBefore + 4, await Metric("drift_monitor_auth_refusals_total{reason=\"forbidden\",role=\"admin\"}"));
    }

    [Fact]
    public async Task Every_limit_breach_gets_a_status_naming_it_is_counted_and_the_next_good_batch_is_accepted()
    {
        using GrpcChannel channel = Sidecar.OpenChannel(SecuredSidecarFixture.IngestKey);
        var mirror = new Mirror.MirrorClient(channel);
        fixture.Clock.Advance(TimeSpan.FromMinutes(1));

        MirrorBatch longText = Sidecar.Batch(fixture.Traffic, 10);
        longText.Batch.Text[0] = Column([.. Enumerable.Repeat("ok", 9), new string('x', 201)]);
        RpcException text = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(longText));
        Assert.Equal(StatusCode.InvalidArgument, text.StatusCode);
        Assert.Equal("batch.text[0] ('memo'): value 9 is 201 bytes; the limit is 200 (Monitor:Limits:MaxTextBytes)", text.Status.Detail);

        MirrorBatch manyTokens = Sidecar.Batch(fixture.Traffic, 10);
        manyTokens.Batch.Text[0] = Column([.. Enumerable.Repeat("ok", 3), string.Join(' ', Enumerable.Repeat("w", 31)), .. Enumerable.Repeat("ok", 6)]);
        RpcException tokens = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(manyTokens));
        Assert.Equal("batch.text: record 3 carries 31 tokens over its text fields; the limit is 30 (Monitor:Limits:MaxTokensPerRecord)",
            tokens.Status.Detail);

        MirrorBatch huge = Sidecar.Batch(fixture.Traffic, 5000);
        RpcException size = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(huge));
        Assert.Equal(StatusCode.ResourceExhausted, size.StatusCode);
        Assert.Contains("exceeds the maximum configured message size", size.Status.Detail);

        RpcException models = await Assert.ThrowsAsync<RpcException>(async () => await Sidecar.Admin.RegisterModelAsync(new RegisterModelRequest
        {
            Name = "second-model",
            Schema = Ingest.ProtoTranslation.ToProto(FraudTraffic.Schema),
        }));
        Assert.Equal(StatusCode.ResourceExhausted, models.StatusCode);
        Assert.Equal("the limit of 1 models is reached (Monitor:Limits:MaxModels)", models.Status.Detail);

        // Rate: 1000 records/s with a burst of 2000. Rejected batches were charged too (2 × 10 records: a flood of bad
        // batches costs the sidecar as much as good ones). The fake clock stands still, so the third batch of 800 is refused...
        Assert.Equal(800u, (await mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 800))).Accepted);
        Assert.Equal(800u, (await mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 800))).Accepted);
        RpcException rate = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 800)));
        Assert.Equal(StatusCode.ResourceExhausted, rate.StatusCode);
        Assert.Equal("client 'checkout' exceeded its rate of 1000 records/s (Monitor:Limits:ClientRecordsPerSecond; a batch costs at least one record); retry in 420 ms", rate.Status.Detail);

        // ...while another client is not slowed by it...
        using GrpcChannel other = Sidecar.OpenChannel(SecuredSidecarFixture.OtherIngestKey);
        Assert.Equal(800u, (await new Mirror.MirrorClient(other).IngestAsync(Sidecar.Batch(fixture.Traffic, 800))).Accepted);

        // ...and 420 ms later the first client's batch goes through.
        fixture.Clock.Advance(TimeSpan.FromMilliseconds(420));
        Assert.Equal(800u, (await mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 800))).Accepted);

        foreach (string limit in new[] { "text_bytes", "tokens_per_record", "message_size", "models", "client_rate" })
        {
            Assert.True(await Metric($"drift_monitor_limit_breaches_total{{limit=\"{limit}\"}}") >= 1, limit);
        }
    }

    private static async Task AssertDenied(Func<Task> call, string caller, string role)
    {
        RpcException ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        Assert.Equal($"credential '{caller}' lacks the {role} role this call needs", ex.Status.Detail);
    }

    private static StringColumn Column(string[] values)
    {
        var column = new StringColumn();
        var bytes = new List<byte>();
        foreach (string value in values)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(value));
            column.Ends.Add((uint)bytes.Count);
        }

        column.Utf8 = Google.Protobuf.ByteString.CopyFrom([.. bytes]);
        return column;
    }

    private async Task<double> Metric(string series)
    {
        string text = await Sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        string? line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}

/// <summary>TLS and mutual TLS from PEM files, with certificates made for the test.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task With_a_client_ca_only_clients_holding_a_certificate_it_issued_get_through()
    {
        using var directory = new TempDirectory();
        using TestCertificates ca = TestCertificates.Authority("monitor test CA");
        using TestCertificates strangerCa = TestCertificates.Authority("someone else's CA");
        using X509Certificate2 server = ca.Issue("127.0.0.1", client: false);
        using X509Certificate2 client = ca.Issue("checkout", client: true);
        using X509Certificate2 stranger = strangerCa.Issue("checkout", client: true);
        File.WriteAllText(directory.File("server.pem"), server.ExportCertificatePem());
        File.WriteAllText(directory.File("server.key"), server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(directory.File("ca.pem"), ca.Certificate.ExportCertificatePem());

        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"),
            $"--Monitor:Security:Tls:CertificatePath={directory.File("server.pem")}",
            $"--Monitor:Security:Tls:KeyPath={directory.File("server.key")}",
            $"--Monitor:Security:Tls:ClientCaPath={directory.File("ca.pem")}");

        HealthCheckResponse ok = await Check(sidecar.GrpcPort, ca.Certificate, client);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, ok.Status);
        await Assert.ThrowsAsync<RpcException>(() => Check(sidecar.GrpcPort, ca.Certificate, clientCertificate: null));
        await Assert.ThrowsAsync<RpcException>(() => Check(sidecar.GrpcPort, ca.Certificate, stranger));

        // The HTTP listener speaks TLS too.
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, certificate, _, _) => Trusts(ca.Certificate, certificate) };
        handler.ClientCertificates.Add(client);
        using var https = new HttpClient(handler);
        Assert.Equal("Healthy", await https.GetStringAsync($"https://127.0.0.1:{sidecar.HttpPort}/healthz", TestContext.Current.CancellationToken));
    }

    private static async Task<HealthCheckResponse> Check(int port, X509Certificate2 ca, X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => Trusts(ca, certificate as X509Certificate2);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        using GrpcChannel channel = GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions { HttpHandler = handler });
        return await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
    }

    private static bool Trusts(X509Certificate2 ca, X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
