using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Monitor.Client;
using Monitor.Core.Ingest;
using Monitor.Simulation;

namespace Monitor.Client.Tests;

/// <summary>
/// The client SDK in a generic host, against a real sidecar that is up, down, or overloaded: the application's calls
/// never throw, the queue stays within its capacity, every record is sent or counted as dropped, and the digest sent is
/// that of the artifact file the application loaded.
/// </summary>
public sealed class DriftMirrorTests
{
    [Fact]
    public async Task With_the_sidecar_up_every_record_arrives_under_the_digest_of_the_loaded_artifact()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        var traffic = new FraudTraffic(seed: 91);
        string artifact = directory.File("fraud-scorer.onnx");
        await File.WriteAllTextAsync(artifact, "fraud-scorer v1", TestContext.Current.CancellationToken); // its SHA-256 is v1's registered digest

        using IHost app = StartApp(sidecar.GrpcPort, artifact, queue: 10_000);
        IDriftMirror mirror = app.Services.GetRequiredService<IDriftMirror>();
        int recorded = Mirror(mirror, traffic, 2000);
        Assert.Equal(2000, recorded);
        Assert.True(await Eventually.HoldsAsync(() => mirror.Stats.Sent == 2000, TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken),
            $"{mirror.Stats}");

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(FraudModel.ServedRecords + 2000, sidecar.Registry.GetVersion(Sidecar.Model, "v1").RecordsAccepted); // after the set-up's records
        Assert.Equal(0, sidecar.Registry.GetVersion(Sidecar.Model, "v1").RecordsDigestMismatch);
        Assert.Equal(Sidecar.DigestV1, mirror.Stats.ArtifactSha256);
        Assert.True(mirror.Stats.Batches >= 4, $"{mirror.Stats}"); // batches of at most 512

        // Stopping sends what is still queued, and the mirror refuses records afterwards.
        Assert.Equal(300, Mirror(mirror, traffic, 300));
        await app.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2300, mirror.Stats.Sent);
        Assert.False(mirror.Record(new float[6], [0.5f, 0.5f], new string?[3], new string?[1]));
    }

    [Fact]
    public async Task With_the_sidecar_down_calls_never_throw_the_queue_stays_bounded_and_every_record_is_counted()
    {
        using var directory = new TempDirectory();
        string artifact = directory.File("model.bin");
        await File.WriteAllTextAsync(artifact, "fraud-scorer v1", TestContext.Current.CancellationToken);
        using IHost app = StartApp(Receiver.FreePort(), artifact, queue: 1000);
        IDriftMirror mirror = app.Services.GetRequiredService<IDriftMirror>();
        var traffic = new FraudTraffic(seed: 92);
        int maxDepth = 0;
        int recorded = 0;
        for (int round = 0; round < 20; round++)
        {
            recorded += Mirror(mirror, traffic, 1000);
            maxDepth = Math.Max(maxDepth, mirror.Stats.QueueDepth);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.False(mirror.Record([1f], [0.5f, 0.5f], [null, null, null], [null]), "a record of the wrong width is refused, not thrown");
        DriftMirrorStats stats = mirror.Stats;
        Assert.InRange(maxDepth, 0, 1000);
        Assert.True(stats.DroppedQueueFull > 0, $"{stats}");
        Assert.True(await Eventually.HoldsAsync(() => mirror.Stats.DroppedSendFailed > 0, TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken),
            $"{mirror.Stats}");
        Assert.Equal(20_000, stats.Queued + stats.DroppedQueueFull);
        Assert.Equal(recorded, stats.Queued);
        Assert.Equal(1, mirror.Stats.DroppedInvalid);
        Assert.Contains("Unavailable", mirror.Stats.LastError);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task With_the_sidecar_overloaded_refused_batches_are_counted_and_sending_resumes_when_it_recovers()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000), "--Monitor:Ingest:QueueCapacity=1");
        var traffic = new FraudTraffic(seed: 93);
        string artifact = directory.File("model.bin");
        await File.WriteAllTextAsync(artifact, "fraud-scorer v1", TestContext.Current.CancellationToken);
        using IHost app = StartApp(sidecar.GrpcPort, artifact, queue: 5000);
        IDriftMirror mirror = app.Services.GetRequiredService<IDriftMirror>();

        await using (await sidecar.Pipeline(Sidecar.Model).HoldAsync(TestContext.Current.CancellationToken))
        {
            // The model's pipeline is stuck: its one-batch queue fills, and the sidecar answers RESOURCE_EXHAUSTED.
            Mirror(mirror, traffic, 3000);
            Assert.True(await Eventually.HoldsAsync(() => mirror.Stats.RejectedBySidecar > 0, TimeSpan.FromSeconds(20),
                TestContext.Current.CancellationToken), $"{mirror.Stats}");
            Assert.Contains("ResourceExhausted", mirror.Stats.LastError);
        }

        // Released (its queue still holds one batch at most): sending resumes.
        long sentBefore = mirror.Stats.Sent;
        for (int round = 0; round < 60 && mirror.Stats.Sent < sentBefore + 1000; round++)
        {
            Mirror(mirror, traffic, 200);
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }

        Assert.True(mirror.Stats.Sent >= sentBefore + 1000, $"{mirror.Stats}");
        // Once nothing is in flight, every queued record is sent, refused, failed or still queued.
        Assert.True(await Eventually.HoldsAsync(() => mirror.Stats is var s && s.Queued == s.Sent + s.RejectedBySidecar + s.DroppedSendFailed + s.QueueDepth,
            TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), $"{mirror.Stats}");
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    private static IHost StartApp(int port, string artifact, int queue)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDriftMirror(options =>
        {
            options.Address = new Uri($"http://127.0.0.1:{port}");
            options.Model = Sidecar.Model;
            options.Version = "v1";
            options.ArtifactPath = artifact;
            options.NumericFeatures = FraudTraffic.Schema.NumericFeatures.Length;
            options.CategoricalFeatures = FraudTraffic.Schema.CategoricalFeatures.Length;
            options.TextFields = FraudTraffic.Schema.TextFields.Length;
            options.OutputWidth = FraudTraffic.Schema.OutputWidth;
            options.QueueCapacity = queue;
            options.FlushInterval = TimeSpan.FromMilliseconds(100);
            options.SendTimeout = TimeSpan.FromSeconds(2);
            options.InitialBackoff = TimeSpan.FromMilliseconds(50);
            options.MaxBackoff = TimeSpan.FromMilliseconds(500);
        });
        IHost app = builder.Build();
        app.Start();
        return app;
    }

    /// <summary>Records n fraud inferences one by one, as a serving process would; returns how many were queued.</summary>
    private static int Mirror(IDriftMirror mirror, FraudTraffic traffic, int n)
    {
        RecordBatch batch = traffic.Next(n, FraudDrift.None);
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        int k = FraudTraffic.Schema.OutputWidth;
        int queued = 0;
        var categorical = new string?[batch.Categorical.Length];
        var text = new string?[batch.Text.Length];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < categorical.Length; c++)
            {
                categorical[c] = batch.Categorical[c].GetString(i);
            }

            for (int t = 0; t < text.Length; t++)
            {
                text[t] = batch.Text[t].GetString(i);
            }

            queued += mirror.Record(batch.Numeric.Span.Slice(i * d, d), batch.Scores.Span.Slice(i * k, k), categorical, text, $"req-{i}") ? 1 : 0;
        }

        return queued;
    }
}
