using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Data.Sqlite;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// kill -9 of a sidecar process at moments that matter, then a restart on the same SQLite file: what was committed
/// (and so announced) is there, what was half-written is not, and the database is intact.
/// </summary>
public sealed class CrashTests
{
    /// <summary>The model's outputs moved while its inputs did not: output-side evidence that fails a version.</summary>
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    private static readonly string[] Settings =
    [
        "--Monitor:Windows:Records=500", "--Monitor:Baselines:ReservoirRecords=10000", "--Monitor:Baselines:BootstrapWindows=1000",
        "--Monitor:Versions:MaxRollbacksPerPeriod=100",
    ];

    [Fact]
    public async Task Kill_9_during_ingest_loses_no_alert_or_rollback_signal_that_was_announced()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        var traffic = new FraudTraffic(seed: 41);
        var alerts = new ConcurrentDictionary<ulong, Alert>();
        var signals = new ConcurrentDictionary<ulong, RollbackSignal>();
        long acked = 0;
        await using (SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(database, 6000, "output.class"), Settings))
        {
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
            var admin = new Admin.AdminClient(channel);
            foreach (string version in (string[])["v2", "v3", "v4"])
            {
                await admin.RegisterVersionAsync(new RegisterVersionRequest
                {
                    Model = Sidecar.Model, Version = version, ArtifactSha256 = Sidecar.Digest(version), Source = "test",
                });
            }

            using var stop = new CancellationTokenSource();
            Task watching = Task.WhenAll(
                Drain(new Alerts.AlertsClient(channel).WatchAlerts(new WatchAlertsRequest(), cancellationToken: stop.Token), a => alerts[a.Sequence] = a),
                Drain(new Rollbacks.RollbacksClient(channel).WatchRollbackSignals(new WatchRollbackSignalsRequest(), cancellationToken: stop.Token),
                    s => signals[s.Sequence] = s));
            Task ingesting = Task.Run(async () =>
            {
                // Clean v1 and drifting candidates, one after another, until the process dies under it.
                using AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream = new Mirror.MirrorClient(channel).IngestStream(cancellationToken: stop.Token);
                Task reading = Drain(stream.ResponseStream, ack => Interlocked.Add(ref acked, ack.Accepted));
                string[] versions = ["v1", "v2", "v3", "v4"];
                for (int i = 0; !stop.IsCancellationRequested; i++)
                {
                    string version = versions[i % versions.Length];
                    await stream.RequestStream.WriteAsync(Sidecar.Batch(traffic, 250, version == "v1" ? null : OutputsMoved, version,
                        version == "v1" ? Sidecar.DigestV1 : Sidecar.Digest(version)), stop.Token);
                }

                await reading;
            });

            Assert.True(await Eventually.HoldsAsync(() => signals.Count >= 2, TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken),
                $"only {signals.Count} rollback signals in 120 s");
            await Task.Delay(Random.Shared.Next(300), TestContext.Current.CancellationToken);
            sidecar.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(watching, ingesting).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        AssertIntact(database);
        await using SidecarProcess restarted = await SidecarProcess.StartAsync(database, Settings);
        using GrpcChannel after = GrpcChannel.ForAddress($"http://127.0.0.1:{restarted.GrpcPort}");
        var stored = (await new Alerts.AlertsClient(after).ListAlertsAsync(new ListAlertsRequest { Limit = 10_000 })).Alerts.ToDictionary(a => a.Id);
        foreach (Alert seen in alerts.Values)
        {
            // Every change announced is stored (its alert may have changed again after, before the kill).
            Assert.True(stored.TryGetValue(seen.Id, out Alert? alert) && alert.Sequence >= seen.Sequence, $"alert {seen.Id} (sequence {seen.Sequence}) lost");
        }

        var storedSignals = (await new Rollbacks.RollbacksClient(after).ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals
            .ToDictionary(s => s.Sequence);
        foreach (RollbackSignal seen in signals.Values)
        {
            Assert.True(storedSignals.TryGetValue(seen.Sequence, out RollbackSignal? signal), $"rollback signal {seen.Sequence} lost");
            Assert.Equal((seen.FromVersion, seen.ToVersion, seen.Reason), (signal.FromVersion, signal.ToVersion, signal.Reason));
        }

        TestContext.Current.SendDiagnosticMessage($"kill -9 during ingest: {Interlocked.Read(ref acked)} records acked, " +
            $"{alerts.Count} alert changes and {signals.Count} rollback signals announced before the kill, all found after the restart");
        Assert.Equal(100u, (await new Mirror.MirrorClient(after).IngestAsync(Sidecar.Batch(traffic, 100))).Accepted);
    }

    [Fact]
    public async Task Kill_9_during_a_baseline_commit_leaves_the_old_baseline_or_the_whole_new_one_in_force()
    {
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        var traffic = new FraudTraffic(seed: 42);
        const int records = 10_000;
        TimeSpan commit;
        await using (SidecarProcess first = await SidecarProcess.StartAsync(database, Settings))
        {
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first.GrpcPort}");
            var admin = new Admin.AdminClient(channel);
            await Sidecar.SetUpFraudModelAsync(admin, traffic, records);
            BaselineUpload upload = await Upload(admin, traffic, records);
            var watch = Stopwatch.StartNew();
            await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
            commit = watch.Elapsed;
        }

        var outcomes = new List<string>();
        for (int attempt = 0; attempt <= 6; attempt++)
        {
            long before;
            await using (SidecarProcess sidecar = await SidecarProcess.StartAsync(database, Settings))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
                var admin = new Admin.AdminClient(channel);
                before = (await admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId;
                BaselineUpload upload = await Upload(admin, traffic, records);

                // Kill at points spread from the start of the commit to twice its measured duration (profiling, calibration, the transaction).
                _ = admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }).ResponseAsync.ContinueWith(_ => { }, TaskScheduler.Default);
                await Task.Delay(commit * attempt / 3, TestContext.Current.CancellationToken);
                sidecar.Kill();
            }

            AssertIntact(database);
            await using (SidecarProcess restarted = await SidecarProcess.StartAsync(database, Settings))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{restarted.GrpcPort}");
                var admin = new Admin.AdminClient(channel);
                long inForce = (await admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId;
                // The interrupted commit either happened whole (the next id) or not at all.
                Assert.True(inForce == before || inForce == before + 1, $"baseline {inForce} in force, {before} before");
                Baseline baseline = await admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model, BaselineId = inForce });
                Assert.Equal(FraudTraffic.Schema.NumericFeatures.Length + FraudTraffic.Schema.CategoricalFeatures.Length,
                    baseline.Features.Count(f => f.Kind is FeatureKind.Numeric or FeatureKind.Categorical));
                if (inForce != before)
                {
                    Assert.Equal((ulong)records, baseline.Summary.RecordsReceived);
                }

                foreach (BaselineSummary summary in (await admin.ListBaselinesAsync(new ListBaselinesRequest { Model = Sidecar.Model })).Baselines)
                {
                    await admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model, BaselineId = summary.Id });
                }

                // Judged against the baseline in force, as before the kill.
                await new Mirror.MirrorClient(channel).IngestAsync(Sidecar.Batch(traffic, 500));
                DriftReport report = await new Protos.V1.Reports.ReportsClient(channel).GetDriftReportAsync(new DriftReportRequest
                {
                    Model = Sidecar.Model, Version = "v1", ClosedWindows = 1,
                });
                Assert.Equal(inForce, report.BaselineId);
                outcomes.Add(inForce == before ? "old" : "new");
            }
        }

        TestContext.Current.SendDiagnosticMessage($"kill -9 during a baseline commit (measured {commit.TotalMilliseconds:0} ms): " +
            $"in force after each restart: {string.Join(", ", outcomes)}");
    }

    private static async Task<BaselineUpload> Upload(Admin.AdminClient admin, FraudTraffic traffic, int records)
    {
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Sidecar.Model });
        for (int sent = 0; sent < records; sent += 1000)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest
            {
                UploadId = upload.UploadId, Batch = Server.Ingest.ProtoTranslation.ToProto(traffic.Next(1000, FraudDrift.None)),
            });
        }

        return upload;
    }

    private static async Task Drain<T>(IAsyncStreamReader<T> stream, Action<T> seen)
    {
        try
        {
            while (await stream.MoveNext(CancellationToken.None))
            {
                seen(stream.Current);
            }
        }
        catch (RpcException)
        {
            // The process was killed.
        }
    }

    private static Task Drain<T>(AsyncServerStreamingCall<T> call, Action<T> seen) => Drain(call.ResponseStream, seen);

    private static void AssertIntact(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check;";
        Assert.Equal("ok", command.ExecuteScalar() as string);
    }
}
