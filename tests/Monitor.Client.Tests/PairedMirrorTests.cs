using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Monitor.Client;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Client.Tests;

/// <summary>
/// A shadow rollout through the SDK: the serving process scores each request with the candidate v2 and the trusted v1 and
/// mirrors both outputs (<see cref="IDriftMirror.RecordPaired"/>); the sidecar names the candidate's trigger from the pairs.
/// </summary>
public sealed class PairedMirrorTests
{
    [Fact]
    public async Task Paired_records_arrive_with_the_trusted_outputs_and_the_trigger_is_named_as_paired_evidence()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        await sidecar.RegisterCandidateAsync("v2");
        string artifact = directory.File("fraud-scorer-v2.onnx");
        await File.WriteAllTextAsync(artifact, "v2", TestContext.Current.CancellationToken); // its SHA-256 is v2's registered digest

        using IHost app = StartApp(sidecar.GrpcPort, artifact, pairedVersion: "v1");
        IDriftMirror mirror = app.Services.GetRequiredService<IDriftMirror>();
        RecordBatch batch = FraudTraffic.WithTrusted(new FraudTraffic(seed: 95).Next(12_000, new FraudDrift(TriggerRate: 0.004)), "v1", new Random(96));
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        int k = FraudTraffic.Schema.OutputWidth;
        int queued = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            string?[] categorical = [.. batch.Categorical.Select(c => (string?)c.GetString(i))];
            string?[] text = [.. batch.Text.Select(t => (string?)t.GetString(i))];
            ReadOnlySpan<float> numeric = batch.Numeric.Span.Slice(i * d, d);
            ReadOnlySpan<float> scores = batch.Scores.Span.Slice(i * k, k);
            // One record in ten goes unpaired (the trusted version did not score it): both kinds are sent, in batches of their own.
            queued += (i % 10 == 9
                ? mirror.Record(numeric, scores, categorical, text, $"req-{i}")
                : mirror.RecordPaired(numeric, scores, batch.PairedScores.Span.Slice(i * k, k), categorical, text, $"req-{i}")) ? 1 : 0;
            if (i % 2000 == 1999)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }

        Assert.False(mirror.RecordPaired(new float[d], [0.5f, 0.5f], [0.5f], new string?[3], new string?[1]), "a trusted output of the wrong width is refused");
        Assert.False(mirror.RecordPaired(new float[d], [0.5f, 0.5f], [float.NaN, 0.5f], new string?[3], new string?[1]), "a non-finite trusted output is refused");
        Assert.Equal(batch.Count, queued);
        Assert.True(await Eventually.HoldsAsync(() => mirror.Stats.Sent == batch.Count, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken),
            $"{mirror.Stats}");
        Assert.Equal(2, mirror.Stats.DroppedInvalid);

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Finding paired = Assert.Single(report.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is not null);
        Assert.Equal("ref:xz-#", paired.Key.Text);
        Assert.Contains("'v1' also scored", paired.Summary, StringComparison.Ordinal);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Without_a_paired_version_a_paired_record_is_dropped_and_counted_and_a_paired_version_equal_to_the_version_stops_the_host()
    {
        using var directory = new TempDirectory();
        using IHost app = StartApp(Receiver.FreePort(), directory.File("model.bin"), pairedVersion: null);
        IDriftMirror mirror = app.Services.GetRequiredService<IDriftMirror>();
        Assert.False(mirror.RecordPaired(new float[6], [0.5f, 0.5f], [0.5f, 0.5f], new string?[3], new string?[1]));
        Assert.Equal(1, mirror.Stats.DroppedInvalid);

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => StartApp(Receiver.FreePort(), directory.File("model.bin"),
            pairedVersion: "v2"));
        Assert.Contains("PairedVersion must name the trusted version, another than Version 'v2'", error.Message, StringComparison.Ordinal);
    }

    private static IHost StartApp(int port, string artifact, string? pairedVersion)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddDriftMirror(options =>
        {
            options.Address = new Uri($"http://127.0.0.1:{port}");
            options.Model = Sidecar.Model;
            options.Version = "v2";
            options.PairedVersion = pairedVersion;
            options.ArtifactPath = artifact;
            options.NumericFeatures = FraudTraffic.Schema.NumericFeatures.Length;
            options.CategoricalFeatures = FraudTraffic.Schema.CategoricalFeatures.Length;
            options.TextFields = FraudTraffic.Schema.TextFields.Length;
            options.OutputWidth = FraudTraffic.Schema.OutputWidth;
            options.QueueCapacity = 20_000;
            options.FlushInterval = TimeSpan.FromMilliseconds(100);
        });
        IHost app = builder.Build();
        app.Start();
        return app;
    }
}
