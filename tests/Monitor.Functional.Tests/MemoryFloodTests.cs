using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>
/// A sidecar process with the documented defaults, flooded on each path that used to grow without bound: big batches
/// from many concurrent calls, categorical values of 1 MB, watchers that never read. Each bound is reached, and the
/// peak resident memory stays under the formula of docs/operations.md.
/// </summary>
public sealed class MemoryFloodTests
{
    private const long MiB = 1024 * 1024;

    [Fact(Timeout = 240_000)]
    public async Task Big_batches_to_five_models_reach_the_call_and_queue_bounds_and_peak_resident_memory_stays_under_the_formula()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 81);
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}", new GrpcChannelOptions { MaxSendMessageSize = null });
        var mirror = new Mirror.MirrorClient(channel);
        var admin = new Admin.AdminClient(channel);

        // Four more models like the first, each with its baseline, so that five queues of 256 MiB can pass the 1 GiB total.
        const int models = 5;
        string[] names = [Sidecar.Model, .. Enumerable.Range(2, models - 1).Select(m => $"model-{m}")];
        foreach (string name in names.Skip(1))
        {
            await admin.RegisterModelAsync(new RegisterModelRequest { Name = name, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) }, cancellationToken: cancel);
            await admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = name, Version = "v1", ArtifactSha256 = Sidecar.DigestV1, Source = "test", InitialState = VersionState.KnownGood,
            }, cancellationToken: cancel);
            BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = name }, cancellationToken: cancel);
            for (int sent = 0; sent < 6000; sent += 1000)
            {
                await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(traffic.Next(1000, FraudDrift.None)) },
                    cancellationToken: cancel);
            }

            await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }, cancellationToken: cancel);
        }

        long idle = sidecar.ResidentBytes().Current;

        // Big batches (10,000 records, about 13 MB) from 16 concurrent callers over the five models, each on a
        // connection of its own: more callers than the ingest role's places (8), and more bytes than the queues hold.
        // Half the callers send to the first model and two to each other one, so the first model's queue reaches its
        // own bound (256 MiB) while the five together hold about half the total (1 GiB), and the others then fill the
        // rest: spread evenly, the total bound came first (five queues at about 205 MiB each) and whether a queue ever
        // reached its own bound was down to timing, which on a loaded machine it once did not. Each caller keeps to one
        // model and, like a client that backs off, pauses and tries again when its call was not read: by the call
        // limit, by Kestrel's HTTP/2 ENHANCE_YOUR_CALM when refused streams pile up on the connection, or because
        // Kestrel closed the connection (a refused call's body still arriving 5 s after the refusal: Kestrel's
        // RequestBodyDrainTimeout). The callers stop once both queue bounds refused a batch, or at 40 batches read
        // each. Meanwhile a reader on a connection of its own asks for drift reports: the flood may refuse ingest
        // calls, never a reader's.
        const int callers = 16, batchesPerCaller = 40;
        MirrorBatch big = BigBatch(traffic);
        Assert.InRange(big.CalculateSize(), 10 * MiB, 16 * MiB);
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var flooding = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Task<(int Answered, TimeSpan Slowest)> reads = ReadReportsAsync(sidecar.GrpcPort, flooding.Token);
        await Parallel.ForEachAsync(Enumerable.Range(0, callers), new ParallelOptions { MaxDegreeOfParallelism = callers, CancellationToken = cancel },
            async (caller, ct) =>
            {
                using GrpcChannel own = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}", new GrpcChannelOptions { MaxSendMessageSize = null });
                var flood = new Mirror.MirrorClient(own);
                MirrorBatch mine = big.Clone();
                mine.Model = caller < callers / 2 ? names[0] : names[1 + caller % (models - 1)];
                for (int read = 0, attempts = 0; read < batchesPerCaller && attempts < 2000 && !BothQueueBounds(outcomes); attempts++)
                {
                    string outcome;
                    try
                    {
                        await flood.IngestAsync(mine, cancellationToken: ct);
                        outcome = "accepted";
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                    {
                        outcome = Limit(ex.Status.Detail);
                    }
                    catch (RpcException ex) when (ClosedByServer(ex) is { } code)
                    {
                        outcome = $"connection closed by the server ({code})";
                    }

                    outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);
                    if (!outcome.StartsWith("Monitor:Ingest:", StringComparison.Ordinal) && outcome != "accepted")
                    {
                        await Task.Delay(100 + Random.Shared.Next(100), ct);
                    }
                    else
                    {
                        read++;
                    }
                }
            });
        await flooding.CancelAsync();
        (int answered, TimeSpan slowest) = await reads;
        Assert.True(answered > 0, "no drift report was answered during the flood");
        string summary = string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"));
        foreach (string limit in new[] { "Monitor:Calls:MaxInFlightPerRole", "Monitor:Ingest:QueueBytesPerModel", "Monitor:Ingest:QueueBytesTotal" })
        {
            Assert.True(outcomes.GetValueOrDefault(limit) > 0, $"no batch was refused for {limit} ({summary})");
        }

        // Categorical values of 1 MB (8 to a batch, under the message limit): every batch is refused, nothing of them is kept.
        for (int i = 0; i < 20; i++)
        {
            MirrorBatch batch = Sidecar.Batch(traffic, 8);
            batch.Batch.Categorical[0] = Column(8, r => $"{i}-{r}-" + new string('k', (int)MiB));
            RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(batch, cancellationToken: cancel));
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.Contains("(Monitor:Limits:MaxCategoryBytes)", ex.Status.Detail);
        }

        long peak = sidecar.ResidentBytes().Peak;
        // The formula of docs/operations.md with the defaults, for this test: five versions with traffic (D ≈ 20 MiB each),
        // Q = min(QueueBytesTotal, 5 × QueueBytesPerModel) = 1 GiB, the ingest role's 8 calls, no watchers, and G up to Q.
        long q = Math.Min(1024 * MiB, models * 256 * MiB);
        long bound = idle + models * 20 * MiB + q + 8 * 2 * 16 * MiB + q;
        TestContext.Current.SendDiagnosticMessage(
            $"idle {idle / MiB} MiB, peak {peak / MiB} MiB, formula {bound / MiB} MiB; {summary}; {answered} drift reports read meanwhile, the slowest in {slowest.TotalSeconds:F1} s");
        Assert.True(peak < bound, $"peak resident {peak / MiB} MiB, formula {bound / MiB} MiB (idle {idle / MiB} MiB)");
    }

    [Fact(Timeout = 180_000)]
    public async Task Watchers_that_never_read_are_cut_off_and_peak_resident_memory_stays_under_the_formula()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        using GrpcChannel watchChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        var admin = new Admin.AdminClient(channel);
        long idle = sidecar.ResidentBytes().Current;

        // Watchers that never read, over a history of rollback signals; then more signals: each is cut off.
        // 300 live changes pass MaxBehindChanges (256) for a watcher stuck on its history.
        const int history = 100, live = 300, watchers = 120;
        string reason = new('r', 1000);
        var calls = new List<AsyncServerStreamingCall<RollbackSignal>>();
        for (int i = 1; i <= history + live; i++)
        {
            if (i == history + 1)
            {
                var rollbacks = new Rollbacks.RollbacksClient(watchChannel);
                for (int w = 0; w < watchers; w++)
                {
                    calls.Add(rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest(), cancellationToken: cancel));
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancel);
            }

            await admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = $"c{i}", ArtifactSha256 = Sidecar.Digest($"c{i}"), Source = "test",
            }, cancellationToken: cancel);
            await admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = $"c{i}", Actor = "ops", Reason = reason },
                cancellationToken: cancel);
        }

        long peak = sidecar.ResidentBytes().Peak;
        // One deadline for reading them all: a watcher that was cut off ends at once; one that was not waits it out.
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        reading.CancelAfter(TimeSpan.FromSeconds(30));
        int cut = 0;
        var notCut = new List<string>();
        foreach (AsyncServerStreamingCall<RollbackSignal> call in calls)
        {
            ulong last = 0;
            try
            {
                while (await call.ResponseStream.MoveNext(reading.Token))
                {
                    last = call.ResponseStream.Current.Sequence;
                }

                notCut.Add($"ended after {last}");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Assert.EndsWith($"watch again with after_sequence = {last}", ex.Status.Detail);
                Assert.True(last < history + live, $"a watcher that never read got all {last} signals");
                cut++;
            }
            catch (RpcException ex)
            {
                notCut.Add($"{ex.StatusCode} after {last}");
            }

            call.Dispose();
        }

        Assert.True(cut == watchers, $"{cut} of {watchers} watchers cut off; the others: {string.Join("; ", notCut.Distinct())}");
        // The formula of docs/operations.md with the defaults for this test: both watches full, the admin calls, G (no queue).
        long bound = idle + 2 * 256 * (256 * 1024 + 64 * 1024 + 16 * 2 * 1024) + 8 * 2 * 16 * MiB;
        TestContext.Current.SendDiagnosticMessage($"idle {idle / MiB} MiB, peak {peak / MiB} MiB, formula {bound / MiB} MiB; watchers cut off {cut}");
        Assert.True(peak < bound, $"peak resident {peak / MiB} MiB, formula {bound / MiB} MiB (idle {idle / MiB} MiB)");
    }

    /// <summary>
    /// Drift reports read in a loop on a connection of their own until cancelled: each must be answered (within 60 s),
    /// whatever the ingest calls on other connections meet.
    /// </summary>
    private static async Task<(int Answered, TimeSpan Slowest)> ReadReportsAsync(int port, CancellationToken stop)
    {
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var reports = new Reports.ReportsClient(channel);
        int answered = 0;
        TimeSpan slowest = TimeSpan.Zero;
        while (!stop.IsCancellationRequested)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                await reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1", ClosedWindows = 5 },
                    deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: stop);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
            {
                break;
            }

            answered++;
            TimeSpan took = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            slowest = took > slowest ? took : slowest;
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return (answered, slowest);
    }

    /// <summary>The HTTP/2 error code with which the server closed the call's connection (a GOAWAY), if it did.</summary>
    private static string? ClosedByServer(RpcException ex) =>
        ex.Status.DebugException is { } cause && System.Text.RegularExpressions.Regex.Match(cause.ToString(),
            @"The HTTP/2 server closed the connection\. HTTP/2 error code '([A-Z_]+)'") is { Success: true } match ? match.Groups[1].Value : null;

    private static bool BothQueueBounds(System.Collections.Concurrent.ConcurrentDictionary<string, int> outcomes) =>
        outcomes.ContainsKey("Monitor:Ingest:QueueBytesPerModel") && outcomes.ContainsKey("Monitor:Ingest:QueueBytesTotal");

    [Fact(Timeout = 240_000)]
    public async Task Watchers_that_never_read_a_long_history_hold_one_page_each_and_peak_resident_memory_stays_under_the_formula()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        var admin = new Admin.AdminClient(channel);

        // A history of 1,500 rollback signals of about 2 KB each (3 MB), stored before anyone watches.
        const int history = 1500, watchers = 256;
        string reason = new('r', 2000);
        for (int i = 1; i <= history; i++)
        {
            await admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = $"c{i}", ArtifactSha256 = Sidecar.Digest($"c{i}"), Source = "test",
            }, cancellationToken: cancel);
            await admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = $"c{i}", Actor = "ops", Reason = reason },
                cancellationToken: cancel);
        }

        long idle = sidecar.ResidentBytes().Current;

        // 256 watchers from the start of the history, on connections of their own (16 watchers each) that never read.
        var channels = Enumerable.Range(0, watchers / 16).Select(_ => GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}")).ToList();
        var calls = new List<AsyncServerStreamingCall<RollbackSignal>>();
        for (int w = 0; w < watchers; w++)
        {
            calls.Add(new Rollbacks.RollbacksClient(channels[w % channels.Count]).WatchRollbackSignals(new WatchRollbackSignalsRequest(), cancellationToken: cancel));
        }

        // Long enough for each watch to have sent what the transport takes and queued what it would.
        await Task.Delay(TimeSpan.FromSeconds(15), cancel);
        long peak = sidecar.ResidentBytes().Peak;
        calls.ForEach(c => c.Dispose());
        channels.ForEach(c => c.Dispose());

        // The formula of docs/operations.md for this test: one watch full (256 watchers, each with its queue B, a page of
        // 16 stored signals P ≈ 16 × 2.2 KB, and the transport's buffer), the admin calls, and G (no queue).
        long bound = idle + 256 * (256 * 1024 + 16 * 2300 + 64 * 1024) + 8 * 2 * 16 * MiB;
        TestContext.Current.SendDiagnosticMessage($"idle {idle / MiB} MiB, peak {peak / MiB} MiB, formula {bound / MiB} MiB");
        Assert.True(peak < bound, $"peak resident {peak / MiB} MiB, formula {bound / MiB} MiB (idle {idle / MiB} MiB)");
    }

    /// <summary>The setting a RESOURCE_EXHAUSTED refusal names (Kestrel's own refusal: "ENHANCE_YOUR_CALM").</summary>
    private static string Limit(string detail) =>
        System.Text.RegularExpressions.Regex.Match(detail, @"Monitor:[A-Za-z]+:[A-Za-z]+|ENHANCE_YOUR_CALM") is { Success: true } match ? match.Value : detail;

    /// <summary>10,000 records whose memo is 150 words drawn from a million, so every record carries new keys.</summary>
    private static MirrorBatch BigBatch(FraudTraffic traffic)
    {
        const int records = 10_000;
        MirrorBatch batch = Sidecar.Batch(traffic, records);
        var random = new Random(5);
        var memo = new StringBuilder();
        batch.Batch.Text[0] = Column(records, _ =>
        {
            memo.Clear();
            for (int w = 0; w < 150; w++)
            {
                memo.Append('w').Append(random.Next(1_000_000)).Append(' ');
            }

            return memo.ToString();
        });
        return batch;
    }

    private static StringColumn Column(int records, Func<int, string> value)
    {
        var column = new StringColumn();
        using var bytes = new MemoryStream();
        for (int i = 0; i < records; i++)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(value(i));
            bytes.Write(utf8);
            column.Ends.Add((uint)bytes.Length);
        }

        column.Utf8 = Google.Protobuf.ByteString.CopyFrom(bytes.ToArray());
        return column;
    }
}
