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

    [Fact(Timeout = 180_000)]
    public async Task Each_flood_reaches_its_bound_and_peak_resident_memory_stays_under_the_stated_formula()
    {
        CancellationToken cancel = TestContext.Current.CancellationToken;
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 81);
        await using SidecarProcess sidecar = await SidecarProcess.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}", new GrpcChannelOptions { MaxSendMessageSize = null });
        using GrpcChannel watchChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{sidecar.GrpcPort}");
        var mirror = new Mirror.MirrorClient(channel);
        var admin = new Admin.AdminClient(channel);
        long idle = sidecar.ResidentBytes().Current;

        // Big batches (10,000 records, about 13 MB) from 8 concurrent calls: the model's queue fills in bytes.
        const int callers = 8;
        MirrorBatch big = BigBatch(traffic);
        Assert.InRange(big.CalculateSize(), 10 * MiB, 16 * MiB);
        int accepted = 0, refused = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, callers), new ParallelOptions { MaxDegreeOfParallelism = callers, CancellationToken = cancel },
            async (_, ct) =>
            {
                for (int i = 0; i < 10; i++)
                {
                    try
                    {
                        await mirror.IngestAsync(big, cancellationToken: ct);
                        Interlocked.Increment(ref accepted);
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted && ex.Status.Detail.Contains("Monitor:Ingest:QueueBytesPerModel"))
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            });
        Assert.True(refused > 0, $"no batch was refused for the queue's bytes ({accepted} accepted)");

        // Categorical values of 1 MB (8 to a batch, under the message limit): every batch is refused, nothing of them is kept.
        for (int i = 0; i < 20; i++)
        {
            MirrorBatch batch = Sidecar.Batch(traffic, 8);
            batch.Batch.Categorical[0] = Column(8, r => $"{i}-{r}-" + new string('k', (int)MiB));
            RpcException ex = await Assert.ThrowsAsync<RpcException>(async () => await mirror.IngestAsync(batch, cancellationToken: cancel));
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.Contains("(Monitor:Limits:MaxCategoryBytes)", ex.Status.Detail);
        }

        // Watchers that never read, over a history of rollback signals; then more signals: each is cut off.
        // 300 live changes pass MaxBehindChanges (256) for a watcher stuck on its history.
        const int history = 100, live = 300, watchers = 120;
        string reason = new('r', 1000);
        var calls = new List<AsyncServerStreamingCall<RollbackSignal>>();
        for (int i = 1; i <= history + live; i++)
        {
            if (i == history + 1)
            {
                await OpenWatchersAsync();
            }

            await admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Sidecar.Model, Version = $"c{i}", ArtifactSha256 = Sidecar.Digest($"c{i}"), Source = "test",
            }, cancellationToken: cancel);
            await admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = $"c{i}", Actor = "ops", Reason = reason },
                cancellationToken: cancel);
        }

        long peak = sidecar.ResidentBytes().Peak;
        int cut = 0;
        foreach (AsyncServerStreamingCall<RollbackSignal> call in calls)
        {
            ulong last = 0;
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            reading.CancelAfter(TimeSpan.FromSeconds(30));
            RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await call.ResponseStream.MoveNext(reading.Token))
                {
                    last = call.ResponseStream.Current.Sequence;
                }
            });
            Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
            Assert.EndsWith($"watch again with after_sequence = {last}", ex.Status.Detail);
            Assert.True(last < history + live, $"a watcher that never read got all {last} signals");
            cut++;
            call.Dispose();
        }

        Assert.Equal(watchers, cut);

        // The formula of docs/operations.md with the defaults, for this test: one model (Q = QueueBytesPerModel), one
        // version with traffic (D ≈ 20 MiB), the callers' messages, both watches full, and G up to Q.
        long q = 256 * MiB;
        long bound = idle + 1 * 20 * MiB + q + callers * 2 * 16 * MiB + 2 * 256 * (256 * 1024 + 64 * 1024 + 16 * 2 * 1024) + q;
        Assert.True(peak < bound, $"peak resident {peak / MiB} MiB, formula {bound / MiB} MiB (idle {idle / MiB} MiB)");
        TestContext.Current.SendDiagnosticMessage($"idle {idle / MiB} MiB, peak {peak / MiB} MiB, formula {bound / MiB} MiB; " +
            $"batches accepted {accepted}, refused {refused}; watchers cut off {cut}");

        async Task OpenWatchersAsync()
        {
            var rollbacks = new Rollbacks.RollbacksClient(watchChannel);
            for (int w = 0; w < watchers; w++)
            {
                calls.Add(rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest(), cancellationToken: cancel));
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancel);
        }
    }

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
