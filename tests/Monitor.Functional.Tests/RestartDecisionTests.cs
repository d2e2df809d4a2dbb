using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// A restart must not change a decision: kill -9 at a random point of a failing run and of a trigger run, restart on
/// the same database and go on mirroring the same traffic. What the restarted sidecar cannot know is the records it
/// acknowledged but had not stored when killed (the open window and anything queued; the test counts and prints them).
/// So the version must fail at the same record as a sidecar that never stopped and was sent the same traffic without
/// those records, give or take one window. (Against the run that lost nothing the difference can be larger: a trigger
/// occurrence among the lost records is made up only when the next one arrives. The test prints that run's record too.)
/// </summary>
public sealed class RestartDecisionTests
{
    private const int BatchRecords = 100;
    private const int WindowRecords = 500;

    private static readonly string[] Settings =
    [
        $"--Monitor:Windows:Records={WindowRecords}", "--Monitor:Baselines:ReservoirRecords=10000", "--Monitor:Baselines:BootstrapWindows=1000",
        "--Monitor:Detectors:CheckpointInterval=00:00:00", "--Monitor:Versions:FailureLimit=6", "--Monitor:Windows:MaxAge=00:00:00",
    ];

    [Fact]
    public async Task A_kill_9_during_a_failing_run_fails_the_version_at_the_same_record()
    {
        // Outputs moved while inputs did not, from the first record: six consecutive failing windows (at least 3,000 records)
        // fail the version; a window whose inputs also drift does not fail, so it may take longer. On this seed window 3's
        // distance_km (log-normal, σ 1.2) has a std_shift of 0.92, over its threshold both before the heavy-tail calibration
        // (0.73) and after (0.83): windows 4-9 then fail it, at record 5,000, as since this test was written. Traffic, not
        // calibration: over seeds 61-70 (20 windows each) inputs drifted in 9 of 200 windows before, 3 of 200 after.
        // 12,000 records leave room for the records a kill loses.
        MirrorBatch[] batches = Traffic(seed: 61, batches: 120, new FraudDrift(FraudLogitShift: 3));
        await KillAnywhereAsync(batches, referenceRecords: 6000);
    }

    [Fact]
    public async Task A_kill_9_during_a_trigger_run_fails_the_version_at_the_same_record()
    {
        // The memo trigger on 0.4% of records: found, corroborated, and live for the failure limit of windows. The trigger
        // detectors need a reference large enough to have high-risk strata.
        MirrorBatch[] batches = Traffic(seed: 62, batches: 400, new FraudDrift(TriggerRate: 0.004));
        await KillAnywhereAsync(batches, referenceRecords: 20_000);
    }

    private static MirrorBatch[] Traffic(int seed, int batches, FraudDrift drift)
    {
        var traffic = new FraudTraffic(seed);
        return [.. Enumerable.Range(0, batches).Select(_ => Sidecar.Batch(traffic, BatchRecords, drift, "v2", Sidecar.Digest("v2")))];
    }

    private static async Task KillAnywhereAsync(MirrorBatch[] batches, int referenceRecords)
    {
        using var directory = new TempDirectory();
        (long uninterrupted, _) = await PlayAsync(directory.File("reference.db"), referenceRecords, batches, killAfter: null, skip: default);
        Assert.True(uninterrupted > 0, $"the version did not fail within {batches.Length * BatchRecords} records without a kill");

        // RESTART_KILL_SEED reproduces a failed run's kill point (its seed is in the failure message).
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RESTART_KILL_SEED"), out int given) ? given : Environment.TickCount;
        int killAfter = 1 + new Random(seed).Next((int)(uninterrupted / BatchRecords) - 1);
        (long killed, Range lost) = await PlayAsync(directory.File("killed.db"), referenceRecords, batches, killAfter, skip: default);
        Assert.True(killed > 0, $"after a kill at record {killAfter * BatchRecords} (seed {seed}) the version never failed");
        long unanalysed = (long)(lost.End.Value - lost.Start.Value) * BatchRecords;

        // The same traffic without the records the kill lost, to a sidecar that never stopped.
        (long withoutLost, _) = await PlayAsync(directory.File("without-lost.db"), referenceRecords, batches, killAfter: null, skip: lost);
        TestContext.Current.SendDiagnosticMessage(
            $"killed after record {killAfter * BatchRecords} (seed {seed}), {unanalysed} records acknowledged but not analysed: the version failed at " +
            $"record {killed}; at {withoutLost} + {unanalysed} without the kill and without those records; at {uninterrupted} without the kill");
        Assert.True(Math.Abs(killed - unanalysed - withoutLost) <= WindowRecords,
            $"failed at record {killed} after a kill after record {killAfter * BatchRecords} (seed {seed}) that lost {unanalysed} records, " +
            $"at {withoutLost} of the same traffic without them: more than a window apart");
    }

    /// <summary>
    /// Mirrors the batches of v2 one by one (leaving out those in <paramref name="skip"/>), each followed by a report read
    /// (which waits for the pipeline to analyse it), and returns the records sent when v2 was first quarantined (0:
    /// never). With <paramref name="killAfter"/>, the process is killed after that many batches and restarted; the
    /// batches acknowledged but not stored at the kill are returned.
    /// </summary>
    private static async Task<(long FailedAt, Range Lost)> PlayAsync(string database, int referenceRecords, MirrorBatch[] batches, int? killAfter,
        Range skip)
    {
        SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(database, referenceRecords, "output.class"), Settings);
        try
        {
            GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
            await new Admin.AdminClient(channel).RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test",
            });
            Range lost = default;
            long sent = 0;
            for (int i = 0; i < batches.Length; i++)
            {
                if (i >= skip.Start.Value && i < skip.End.Value)
                {
                    continue;
                }

                if (i == killAfter)
                {
                    await Task.Delay(Random.Shared.Next(50), TestContext.Current.CancellationToken);
                    sidecar.Kill();
                    channel.Dispose();
                    await sidecar.DisposeAsync();
                    sidecar = await SidecarProcess.StartAsync(database, Settings);
                    channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
                    ModelVersion stored = await new Admin.AdminClient(channel).GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
                    // Acknowledged records the restarted sidecar has no trace of: those after the last stored window.
                    lost = new Range((int)(stored.WindowsClosed * WindowRecords / BatchRecords), i);
                    TestContext.Current.SendDiagnosticMessage(
                        $"killed after {sent} acknowledged records: {stored.WindowsClosed} windows stored, {sent - stored.WindowsClosed * WindowRecords} records acknowledged but not analysed");
                }

                MirrorAck ack = await new Mirror.MirrorClient(channel).IngestAsync(batches[i]);
                Assert.Equal((uint)BatchRecords, ack.Accepted);
                sent += BatchRecords;
                await new Reports.ReportsClient(channel).GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
                ModelVersion v2 = await new Admin.AdminClient(channel).GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
                if (v2.State == VersionState.Quarantined)
                {
                    DriftReport report = await new Reports.ReportsClient(channel).GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
                    TestContext.Current.SendDiagnosticMessage($"{Path.GetFileName(database)}: failed at record {sent}; findings: " + string.Join(" | ",
                        report.Findings.Select(f => $"{f.Severity} {f.Detector} raised at {f.RaisedAtRecord} (support {f.RaisedAtSupport}), now support {f.Support}")));
                    channel.Dispose();
                    return (sent, lost);
                }
            }

            channel.Dispose();
            return (0, lost);
        }
        finally
        {
            await sidecar.DisposeAsync();
        }
    }
}
