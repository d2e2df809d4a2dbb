using Grpc.Core;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>The whole flow over a real loopback port with the generated client, across a restart on the same database.</summary>
public sealed class EndToEndTests
{
    private static readonly FraudDrift Drift = new(AmountScale: 1.6, DistanceLogShift: Math.Log(2));

    [Fact]
    public async Task Register_baseline_ingest_drift_report_restart_and_report_again()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        var traffic = new FraudTraffic(seed: 21);
        DriftReport before;
        Baseline baseline;
        await using (Sidecar sidecar = await Sidecar.StartAsync(database))
        {
            baseline = await sidecar.SetUpFraudModelAsync(traffic);
            Assert.Equal(1, baseline.Summary.Id);
            Assert.True(baseline.Summary.InForce);
            Assert.Equal((uint)Sidecar.WindowRecords, baseline.Summary.WindowRecords);
            Assert.InRange(baseline.Summary.CalibratedFalseAlarmRate, 0.005, 0.015);

            // Two clean windows over a stream, then two drifting windows unary.
            using (AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream = sidecar.Mirror.IngestStream())
            {
                for (ulong i = 1; i <= 4; i++)
                {
                    MirrorBatch batch = Sidecar.Batch(traffic, 250);
                    batch.Sequence = i;
                    await stream.RequestStream.WriteAsync(batch);
                    Assert.True(await stream.ResponseStream.MoveNext());
                    Assert.Equal(i, stream.ResponseStream.Current.Sequence);
                    Assert.Equal(250u, stream.ResponseStream.Current.Accepted);
                    Assert.Equal(0, stream.ResponseStream.Current.ErrorCode);
                }

                await stream.RequestStream.CompleteAsync();
                Assert.False(await stream.ResponseStream.MoveNext());
            }

            for (int i = 0; i < 4; i++)
            {
                MirrorAck ack = await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 250, Drift));
                Assert.Equal(250u, ack.Accepted);
                Assert.Empty(ack.Warnings);
            }

            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 100));
            before = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest
            {
                Model = Sidecar.Model,
                Version = "v1",
                ClosedWindows = 10,
                IncludeHistograms = true,
            });
        }

        Assert.Equal(1, before.BaselineId);
        Assert.Equal(2100ul, before.RecordsAccepted);
        Assert.Equal([3ul, 2ul, 1ul, 0ul], before.Closed.Select(w => w.Index));
        Assert.False(before.Closed[3].Drifted, string.Join(", ", before.Closed[3].DriftedFeatures));
        Assert.False(before.Closed[2].Drifted, string.Join(", ", before.Closed[2].DriftedFeatures));
        foreach (WindowReport window in before.Closed.Take(2))
        {
            Assert.True(window.Drifted);
            Assert.Contains("amount", window.DriftedFeatures);
            Assert.Contains("distance_km", window.DriftedFeatures);
            Assert.DoesNotContain("hour_of_day", window.DriftedFeatures);
            Assert.DoesNotContain("country", window.DriftedFeatures);
        }

        FeatureReport amount = before.Closed[0].Features.Single(f => f.Name == "amount");
        StatisticValue psi = amount.Statistics.Single(s => s.Name == "psi");
        Assert.True(psi.Drifted && psi.Value > psi.Threshold);
        Assert.True(amount.Statistics.Single(s => s.Name == "ks").HasPValue);
        Assert.True(amount.WindowMean > amount.BaselineMean * 1.3);
        Assert.Equal(amount.Histogram.Edges.Count + 1, amount.Histogram.WindowCounts.Count);
        Assert.Equal(500ul, amount.Histogram.WindowCounts.Aggregate(0ul, (a, b) => a + b));
        Assert.Equal(100u, before.Current.Records);
        Assert.False(before.Current.Complete);

        // A restarted sidecar serves the same models, baseline and window history, and goes on counting.
        await using (Sidecar restarted = await Sidecar.StartAsync(database))
        {
            Model model = await restarted.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model });
            Assert.Equal(1, model.BaselineId);
            ModelVersion version = await restarted.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
            Assert.Equal(VersionState.KnownGood, version.State);
            Assert.Equal(4, version.WindowsClosed);
            Assert.True(version.RecordsAccepted >= 2000);

            Baseline stored = await restarted.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });
            Assert.Equal(baseline.Features, stored.Features);

            DriftReport after = await restarted.Reports.GetDriftReportAsync(new DriftReportRequest
            {
                Model = Sidecar.Model,
                Version = "v1",
                ClosedWindows = 10,
                IncludeHistograms = true,
            });
            Assert.Equal(before.Closed, after.Closed);

            await restarted.Mirror.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords));
            DriftReport later = await restarted.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
            Assert.Equal(4ul, later.Closed[0].Index);
        }
    }

    [Fact]
    public async Task A_known_good_version_s_live_traffic_becomes_the_next_baseline()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 5);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model,
            Version = "v2",
            ArtifactSha256 = Sidecar.Digest("v2"),
        });

        var refused = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v2", CaptureRecords = 3000 }));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("only a known-good version's traffic can become a baseline", refused.Status.Detail);

        await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest
        {
            Model = Sidecar.Model,
            Version = "v2",
            Actor = "alice",
            Reason = "canary clean for a week",
        });
        BaselineUpload capture = await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v2", CaptureRecords = 3000 });
        for (int i = 0; i < 6; i++)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500, version: "v2", digest: Sidecar.Digest("v2")));
        }

        BaselineUpload done = capture;
        for (int attempt = 0; attempt < 1200 && done.State != BaselineUploadState.Committed; attempt++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
            done = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = capture.UploadId });
        }

        Assert.Equal(BaselineUploadState.Committed, done.State);
        Assert.Equal(2, done.BaselineId);
        Assert.Equal(3000ul, done.RecordsReceived);
        ListBaselinesResponse baselines = await sidecar.Admin.ListBaselinesAsync(new ListBaselinesRequest { Model = Sidecar.Model });
        Assert.Equal(["reference", "captured:v2"], baselines.Baselines.Select(b => b.Source));
        Assert.Equal([false, true], baselines.Baselines.Select(b => b.InForce));

        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, Sidecar.WindowRecords));
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(2, report.BaselineId);
        Assert.Equal(2, report.Closed[0].BaselineId);
    }
}
