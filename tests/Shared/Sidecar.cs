using System.Security.Cryptography;
using System.Text;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Hosting;
using Monitor.Server.Ingest;
using Monitor.Server.Models;
using Monitor.Server.Registry;
using Monitor.Simulation;

namespace Monitor.Tests.Shared;

/// <summary>A real sidecar on loopback ports with a SQLite file, and generated gRPC clients talking to it.</summary>
internal sealed class Sidecar : IAsyncDisposable
{
    public const string Model = "fraud-scorer";
    public const int WindowRecords = 500;
    public static readonly string DigestV1 = Digest("fraud-scorer v1");

    private Sidecar(WebApplication app, Listeners listeners, string? key)
    {
        App = app;
        GrpcPort = listeners.GrpcPort;
        HttpPort = listeners.HttpPort;
        Channel = OpenChannel(key);
        Admin = new Admin.AdminClient(Channel);
        Mirror = new Mirror.MirrorClient(Channel);
        Reports = new Protos.V1.Reports.ReportsClient(Channel);
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}") };
        if (key is not null)
        {
            Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }
    }

    /// <summary>A channel to the sidecar whose every call presents <paramref name="key"/> (none when null).</summary>
    public GrpcChannel OpenChannel(string? key)
    {
        var handler = new SocketsHttpHandler();
        return GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}", new GrpcChannelOptions
        {
            HttpHandler = key is null ? handler : new BearerHandler(key) { InnerHandler = handler },
        });
    }

    private sealed class BearerHandler(string key) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.TryAddWithoutValidation("authorization", "Bearer " + key);
            return base.SendAsync(request, cancellationToken);
        }
    }

    public WebApplication App { get; }
    public int GrpcPort { get; }
    public int HttpPort { get; }
    public GrpcChannel Channel { get; }
    public Admin.AdminClient Admin { get; }
    public Mirror.MirrorClient Mirror { get; }
    public Protos.V1.Reports.ReportsClient Reports { get; }
    public HttpClient Http { get; }
    public ModelRegistry Registry => App.Services.GetRequiredService<ModelRegistry>();

    /// <summary>The ingest pipeline of a registered model.</summary>
    public ModelPipeline Pipeline(string model) =>
        App.Services.GetRequiredService<ModelPipelines>().Of(App.Services.GetRequiredService<ModelCatalog>().Get(model));

    public static Task<Sidecar> StartAsync(string database, params string[] settings) => StartAsync(database, null, settings);

    /// <summary>Starts a sidecar whose clock is <paramref name="time"/> (a fake one in tests of time-based behaviour).</summary>
    public static Task<Sidecar> StartAsync(string database, TimeProvider? time, params string[] settings) =>
        StartWithKeyAsync(database, time, null, settings);

    /// <summary>Starts a sidecar whose own clients present <paramref name="key"/> (for sidecars configured with credentials).</summary>
    public static Task<Sidecar> StartWithKeyAsync(string database, TimeProvider? time, string? key, params string[] settings) =>
        StartWithAsync(database, time, key, configure: null, settings);

    /// <summary>Starts a sidecar whose host builder <paramref name="configure"/> adjusts (a test's log capture, say).</summary>
    public static async Task<Sidecar> StartWithAsync(string database, TimeProvider? time, string? key, Action<WebApplicationBuilder>? configure,
        params string[] settings)
    {
        string[] args =
        [
            "--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={database}",
            $"--Monitor:Windows:Records={WindowRecords}", "--Monitor:Baselines:ReservoirRecords=10000",
            "--Monitor:Baselines:BootstrapWindows=1000", "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Monitor.Server.Hosting.MonitorLifetime=Error",
            // Tests promote versions after a few windows of 500 records: a trigger at 10% shows its occurrences within them
            // (the default, 1e-4, waits for up to 500,000 records; PromotionEvidenceTests test it at its real size).
            "--Monitor:Versions:MinTriggerRate=0.1", .. settings,
        ];
        WebApplication app = MonitorHost.Build(args, builder =>
        {
            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }

            configure?.Invoke(builder);
        });
        await app.StartAsync();
        return new Sidecar(app, app.Services.GetRequiredService<Listeners>(), key);
    }

    public Alerts.AlertsClient Alerts => new(Channel);

    public Rollbacks.RollbacksClient Rollbacks => new(Channel);

    /// <summary>Registers a candidate version whose digest is that of its name.</summary>
    public Task<ModelVersion> RegisterCandidateAsync(string version) => Admin.RegisterVersionAsync(new RegisterVersionRequest
    {
        Model = Model,
        Version = version,
        ArtifactSha256 = Digest(version),
        Source = "test",
    }).ResponseAsync;

    /// <summary>Mirrors whole windows of a version's traffic (its registered digest), one batch per window.</summary>
    public async Task MirrorWindowsAsync(FraudTraffic traffic, string version, int windows, FraudDrift? drift = null)
    {
        for (int w = 0; w < windows; w++)
        {
            await Mirror.IngestAsync(Batch(traffic, WindowRecords, drift, version, version == "v1" ? DigestV1 : Digest(version)));
        }

        await Pipeline(Model).FlushAsync(CancellationToken.None);
    }

    /// <summary>The verdict document of a version, as a deployment controller reads it.</summary>
    public async Task<System.Text.Json.JsonElement> VerdictAsync(string version)
    {
        using System.Text.Json.JsonDocument document = System.Text.Json.JsonDocument.Parse(await Http.GetStringAsync($"/api/v1/verdict/{Model}/{version}"));
        return document.RootElement.Clone();
    }

    public static string Digest(string artifact) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(artifact)));

    /// <summary>Registers the fraud model and version v1 (known-good), and commits a baseline of the reference records.</summary>
    public Task<Baseline> SetUpFraudModelAsync(FraudTraffic traffic, int referenceRecords = 6000, params string[] criticalFeatures) =>
        SetUpFraudModelAsync(Admin, traffic, referenceRecords, criticalFeatures);

    /// <summary>The same set-up through any admin client (of an in-process sidecar or a sidecar process).</summary>
    public static async Task<Baseline> SetUpFraudModelAsync(Admin.AdminClient admin, FraudTraffic traffic, int referenceRecords = 6000,
        params string[] criticalFeatures)
    {
        await admin.RegisterModelAsync(new RegisterModelRequest
        {
            Name = Model,
            Schema = ProtoTranslation.ToProto(FraudTraffic.Schema with { CriticalFeatures = criticalFeatures }),
        });
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model,
            Version = "v1",
            ArtifactSha256 = DigestV1,
            Source = "test",
            InitialState = VersionState.KnownGood,
        });
        return await CommitBaselineAsync(admin, traffic, referenceRecords);
    }

    /// <summary>Uploads and commits a baseline of fresh clean reference records.</summary>
    public static async Task<Baseline> CommitBaselineAsync(Admin.AdminClient admin, FraudTraffic traffic, int referenceRecords)
    {
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model });
        for (int sent = 0; sent < referenceRecords; sent += 1000)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest
            {
                UploadId = upload.UploadId,
                Batch = ProtoTranslation.ToProto(traffic.Next(Math.Min(1000, referenceRecords - sent), FraudDrift.None)),
            });
        }

        return await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
    }

    public static MirrorBatch Batch(FraudTraffic traffic, int records, FraudDrift? drift = null, string version = "v1", string? digest = null) => new()
    {
        Model = Model,
        Version = version,
        ArtifactSha256 = digest ?? DigestV1,
        Batch = ProtoTranslation.ToProto(traffic.Next(records, drift ?? FraudDrift.None)),
    };

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>A directory for a test's database, removed afterwards.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "monitor-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
