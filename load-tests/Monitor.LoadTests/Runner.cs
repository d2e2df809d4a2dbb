using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Monitor.Protos.V1;

namespace Monitor.LoadTests;

/// <summary>What a step does: the calls it makes.</summary>
internal enum Scenario
{
    /// <summary>One unary Mirror/Ingest call per batch.</summary>
    Unary,

    /// <summary>Batches over bidirectional Mirror/IngestStream calls, one ack per batch.</summary>
    Stream,
}

/// <summary>
/// How load is applied. Closed: <see cref="Callers"/> callers (streams, for the stream scenario, each with
/// <see cref="Window"/> batches in flight) send as fast as answers come, and pause (1 ms, doubling to 64 ms
/// while refusals continue) when the sidecar answers RESOURCE_EXHAUSTED (its queue is full), so the step
/// measures what the server sustains. Open: <see cref="Rate"/> batches/s are
/// scheduled whatever the answers do, and latency runs from the scheduled time, so a stall is not hidden by
/// callers that stopped sending (no coordinated omission).
/// </summary>
internal sealed record Shape(bool Open, int Callers, double Rate, int Window)
{
    public static Shape Closed(int callers, int window = 8) => new(false, callers, 0, window);

    public static Shape OpenRate(double rate, int streams, int window = 64) => new(true, streams, rate, window);

    public override string ToString() => Open ? $"open {Rate:N0} batches/s over {Callers} callers" : $"closed {Callers} callers" + (Window > 1 ? $" × {Window} in flight" : "");
}

/// <summary>One step of a run: a scenario under a shape for a duration; warm-up steps are run and left out of the report.</summary>
internal sealed record Stage(string Name, Scenario Scenario, Shape Shape, TimeSpan Duration, bool Warmup = false);

/// <summary>Drives the steps against a sidecar over several channels, with batches sent as pre-serialised bytes.</summary>
internal sealed class Runner : IAsyncDisposable
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);
    private static readonly Marshaller<MirrorAck> Ack = Marshallers.Create(ack => ack.ToByteArray(), MirrorAck.Parser.ParseFrom);
    private static readonly Method<byte[], MirrorAck> UnaryMethod = new(MethodType.Unary, "monitor.v1.Mirror", "Ingest", Raw, Ack);
    private static readonly Method<byte[], MirrorAck> StreamMethod = new(MethodType.DuplexStreaming, "monitor.v1.Mirror", "IngestStream", Raw, Ack);

    private readonly GrpcChannel[] _channels;
    private readonly GrpcChannel _reads;
    private readonly Workload _workload;
    private int _next;

    public Runner(string address, int channels, Workload workload)
    {
        _workload = workload;
        _channels = [.. Enumerable.Range(0, Math.Max(1, channels)).Select(_ => Open(address))];
        // Report reads have a connection of their own, as a dashboard or an operator's CLI would: a connection the server
        // closes under the ingest load (Kestrel closes one whose client sends on a refused stream for more than 5 s) takes
        // only the ingest calls on it.
        _reads = Open(address);
    }

    private static GrpcChannel Open(string address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        MaxSendMessageSize = null,
        HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
    });

    public GrpcChannel Channel => _channels[0];

    public async Task<StepStats> RunAsync(Stage stage, CancellationToken cancellationToken)
    {
        var stats = new StepStats(stage.Scenario.ToString().ToLowerInvariant(), stage.Name, stage.Shape.ToString(), stage.Warmup);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(stage.Duration);
        stats.Start();
        Task[] callers = [.. Enumerable.Range(0, stage.Shape.Callers).Select(i => stage.Scenario == Scenario.Unary
            ? UnaryAsync(_channels[i % _channels.Length], stage.Shape, stage.Shape.Rate / stage.Shape.Callers, stats, timeout.Token)
            : StreamAsync(_channels[i % _channels.Length], stage.Shape, stage.Shape.Rate / stage.Shape.Callers, stage.Duration, stats, timeout.Token))];
        await Task.WhenAll(callers);
        stats.Stop();
        return stats;
    }

    /// <summary>Reads drift reports in a loop while other steps ingest: their latency is reported as its own row.</summary>
    public async Task<StepStats> ReportsAsync(string step, TimeSpan duration, CancellationToken cancellationToken)
    {
        var stats = new StepStats("reports", step, "closed 1 caller", false);
        var reports = new Reports.ReportsClient(_reads);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(duration);
        stats.Start();
        while (!timeout.IsCancellationRequested)
        {
            long due = Stopwatch.GetTimestamp();
            try
            {
                DriftReport report = await reports.GetDriftReportAsync(new DriftReportRequest { Model = Workload.Model, Version = Workload.Version, ClosedWindows = 5 },
                    cancellationToken: timeout.Token);
                stats.Record(StatusCode.OK, 0, report.CalculateSize(), due);
            }
            catch (RpcException ex) when (!timeout.IsCancellationRequested || ex.StatusCode != StatusCode.Cancelled)
            {
                stats.Record(ex, due);
                await Backoff(timeout.Token);
            }
            catch (RpcException)
            {
                break;
            }
        }

        stats.Stop();
        return stats;
    }

    private byte[] NextBatch() => _workload.Pool[(int)((uint)Interlocked.Increment(ref _next) % (uint)_workload.Pool.Length)];

    private async Task UnaryAsync(GrpcChannel channel, Shape shape, double rate, StepStats stats, CancellationToken cancellationToken)
    {
        CallInvoker invoker = channel.CreateCallInvoker();
        long start = Stopwatch.GetTimestamp();
        long sent = 0;
        int pause = 0;
        var inFlight = new List<Task>();
        while (!cancellationToken.IsCancellationRequested)
        {
            long due = Stopwatch.GetTimestamp();
            if (shape.Open)
            {
                due = start + (long)(sent * Stopwatch.Frequency / rate);
                if (!await WaitUntilAsync(due, cancellationToken))
                {
                    break;
                }
            }

            sent++;
            Task<StatusCode> call = SendUnaryAsync(invoker, NextBatch(), due, stats);
            if (shape.Open)
            {
                inFlight.Add(call);
                inFlight.RemoveAll(t => t.IsCompleted);
            }
            else
            {
                // The sidecar's queue is full: a closed caller backs off (longer while refusals continue), so the step
                // measures what the server sustains rather than how fast it refuses.
                pause = NextPause(pause, await call == StatusCode.ResourceExhausted);
                if (pause > 0)
                {
                    await Backoff(cancellationToken, pause);
                }
            }
        }

        await Task.WhenAll(inFlight);
    }

    private async Task<StatusCode> SendUnaryAsync(CallInvoker invoker, byte[] batch, long due, StepStats stats)
    {
        try
        {
            MirrorAck ack = await invoker.AsyncUnaryCall(UnaryMethod, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), batch);
            stats.Record(StatusCode.OK, (int)ack.Accepted, batch.Length, due);
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            stats.Record(ex, due);
            return ex.StatusCode;
        }
    }

    private static async Task Backoff(CancellationToken cancellationToken, int milliseconds = 1)
    {
        try
        {
            await Task.Delay(milliseconds, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Doubles a caller's pause on each refusal in a row (1 ms up to 64 ms), back to none on an answer.</summary>
    private static int NextPause(int pause, bool refused) => refused ? Math.Clamp(pause * 2, 1, 64) : 0;

    /// <summary>
    /// One bidirectional stream: a writer sends batches (when due, for an open shape) with at most Window unanswered,
    /// a reader matches acks to sends in order (the server answers each batch in order).
    /// </summary>
    private async Task StreamAsync(GrpcChannel channel, Shape shape, double rate, TimeSpan duration, StepStats stats, CancellationToken cancellationToken)
    {
        // The call ends at the latest 30 s after the step: a sidecar that stops answering cannot hold the run.
        using AsyncDuplexStreamingCall<byte[], MirrorAck> call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(StreamMethod, null,
            new CallOptions(deadline: DateTime.UtcNow + duration + TimeSpan.FromSeconds(30)));
        var pending = System.Threading.Channels.Channel.CreateUnbounded<(long Due, int Bytes, int Records)>();
        using var window = new SemaphoreSlim(shape.Window);
        int throttled = 0; // the latest answer: 0 none since the last send, 1 refused (queue full), 2 accepted
        int pause = 0;
        Task reader = Task.Run(async () =>
        {
            try
            {
                await foreach (MirrorAck ack in call.ResponseStream.ReadAllAsync())
                {
                    if (!pending.Reader.TryRead(out var sent))
                    {
                        continue;
                    }

                    StatusCode code = ack.ErrorCode == 0 ? StatusCode.OK : (StatusCode)ack.ErrorCode;
                    stats.Record(code, (int)ack.Accepted, sent.Bytes, sent.Due, ack.ErrorMessage);
                    Volatile.Write(ref throttled, code == StatusCode.ResourceExhausted ? 1 : 2);

                    window.Release();
                }
            }
            catch (RpcException ex)
            {
                while (pending.Reader.TryRead(out var lost))
                {
                    stats.Record(ex, lost.Due);
                }
            }
        }, CancellationToken.None);

        long start = Stopwatch.GetTimestamp();
        long sent = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                long due = Stopwatch.GetTimestamp();
                if (shape.Open)
                {
                    due = start + (long)(sent * Stopwatch.Frequency / rate);
                    if (!await WaitUntilAsync(due, cancellationToken))
                    {
                        break;
                    }
                }

                await window.WaitAsync(cancellationToken);
                int answer = Interlocked.Exchange(ref throttled, 0);
                if (!shape.Open && answer != 0)
                {
                    // The sidecar's queue is full: a closed stream backs off (longer while refusals continue).
                    pause = NextPause(pause, answer == 1);
                }

                if (!shape.Open && pause > 0)
                {
                    await Backoff(cancellationToken, pause);
                }

                byte[] batch = NextBatch();
                pending.Writer.TryWrite((due, batch.Length, _workload.BatchRecords));
                await call.RequestStream.WriteAsync(batch, CancellationToken.None);
                sent++;
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (OperationCanceledException)
        {
            await CompleteQuietlyAsync(call);
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException)
        {
            // The stream broke: the reader records what was lost with the call's status; the step goes on with the other callers.
        }

        await reader;
    }

    private static async Task CompleteQuietlyAsync(AsyncDuplexStreamingCall<byte[], MirrorAck> call)
    {
        try
        {
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException)
        {
        }
    }

    /// <summary>Waits until a Stopwatch timestamp; false if the step ended first.</summary>
    private static async Task<bool> WaitUntilAsync(long due, CancellationToken cancellationToken)
    {
        TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
        if (wait > TimeSpan.FromMilliseconds(1))
        {
            try
            {
                await Task.Delay(wait, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return !cancellationToken.IsCancellationRequested;
    }

    public ValueTask DisposeAsync()
    {
        foreach (GrpcChannel channel in _channels)
        {
            channel.Dispose();
        }

        _reads.Dispose();

        return ValueTask.CompletedTask;
    }
}
