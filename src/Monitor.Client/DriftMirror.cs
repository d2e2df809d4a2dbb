using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;

namespace Monitor.Client;

/// <summary>
/// A bounded queue of records and a sender that batches them by size and time, sends each batch once, backs off
/// while the sidecar is down or overloaded, and counts every record it could not deliver. Metrics go to the meter
/// "Monitor.Client".
/// </summary>
internal sealed class DriftMirror : BackgroundService, IDriftMirror
{
    public const string MeterName = "Monitor.Client";

    private readonly DriftMirrorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DriftMirror> _logger;
    private readonly Channel<PendingRecord> _queue;
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _records;
    private long _queued, _sent, _droppedFull, _droppedInvalid, _droppedSend, _rejected, _batches, _failedSends;
    private int _depth;
    private ulong _sequence;
    private string? _digest;
    private string? _lastError;

    public DriftMirror(IOptions<DriftMirrorOptions> options, TimeProvider time, ILogger<DriftMirror> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<PendingRecord>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails at once when full: the caller never waits
        });
        _records = _meter.CreateCounter<long>("monitor_client_records", description: "Records by outcome: queued, sent, dropped (queue_full, invalid, send_failed), rejected by the sidecar.");
        _meter.CreateObservableGauge("monitor_client_queue_depth", () => Volatile.Read(ref _depth), description: "Records waiting to be sent.");
    }

    public DriftMirrorStats Stats => new(Interlocked.Read(ref _queued), Interlocked.Read(ref _sent), Interlocked.Read(ref _droppedFull),
        Interlocked.Read(ref _droppedInvalid), Interlocked.Read(ref _droppedSend), Interlocked.Read(ref _rejected), Volatile.Read(ref _depth),
        Interlocked.Read(ref _batches), Interlocked.Read(ref _failedSends), Volatile.Read(ref _digest), Volatile.Read(ref _lastError));

    public bool Record(ReadOnlySpan<float> numeric, ReadOnlySpan<float> scores, ReadOnlySpan<string?> categorical = default,
        ReadOnlySpan<string?> text = default, string? requestId = null) => Queue(numeric, scores, null, categorical, text, requestId);

    public bool RecordPaired(ReadOnlySpan<float> numeric, ReadOnlySpan<float> scores, ReadOnlySpan<float> trustedScores,
        ReadOnlySpan<string?> categorical = default, ReadOnlySpan<string?> text = default, string? requestId = null)
    {
        if (_options.PairedVersion is null || trustedScores.Length != _options.OutputWidth)
        {
            Count(ref _droppedInvalid, "dropped_invalid");
            return false;
        }

        return Queue(numeric, scores, trustedScores.ToArray(), categorical, text, requestId);
    }

    private bool Queue(ReadOnlySpan<float> numeric, ReadOnlySpan<float> scores, float[]? trusted, ReadOnlySpan<string?> categorical,
        ReadOnlySpan<string?> text, string? requestId)
    {
        try
        {
            if (numeric.Length != _options.NumericFeatures || scores.Length != _options.OutputWidth
                || categorical.Length != _options.CategoricalFeatures || text.Length != _options.TextFields || TooLong(text)
                || (trusted is not null && !Probabilities(trusted)))
            {
                // Sent, a record the sidecar refuses would take its whole batch with it.
                Count(ref _droppedInvalid, "dropped_invalid");
                return false;
            }

            var record = new PendingRecord(numeric.ToArray(), scores.ToArray(), categorical.ToArray(), text.ToArray(), requestId, trusted);
            Interlocked.Increment(ref _depth);
            if (!_queue.Writer.TryWrite(record))
            {
                Interlocked.Decrement(ref _depth);
                Count(ref _droppedFull, "dropped_queue_full");
                return false;
            }

            Count(ref _queued, "queued");
            return true;
        }
#pragma warning disable CA1031 // The mirror must never throw into the serving code, whatever happens.
        catch (Exception)
#pragma warning restore CA1031
        {
            Count(ref _droppedInvalid, "dropped_invalid");
            return false;
        }
    }

    /// <summary>Whether the trusted output is finite and within [0, 1] (the sidecar refuses a paired batch otherwise).</summary>
    private static bool Probabilities(float[] values) => Array.TrueForAll(values, v => v is >= 0f and <= 1f);

    private bool TooLong(ReadOnlySpan<string?> text)
    {
        foreach (string? value in text)
        {
            if (value is not null && Encoding.UTF8.GetByteCount(value) > _options.MaxTextBytes)
            {
                return true;
            }
        }

        return false;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // A sender that fails must not stop the application's host.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Volatile.Write(ref _lastError, ex.Message);
            ClientLog.Stopped(_logger, ex);
        }
        finally
        {
            // Stopping: Record answers false from now on, and what is still queued gets one last send.
            _queue.Writer.TryComplete();
            try
            {
                await FinalFlushAsync();
            }
#pragma warning disable CA1031 // Shutting down: nothing may escape into the host.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Volatile.Write(ref _lastError, ex.Message);
            }

            _channel?.Dispose();
        }
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        string digest = await DigestAsync(stoppingToken);
        GrpcChannel channel = _channel = GrpcChannel.ForAddress(_options.Address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectTimeout = _options.SendTimeout,
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            },
        });
        var client = new Mirror.MirrorClient(channel);
        Metadata? headers = _options.ApiKey is { Length: > 0 } key ? new Metadata { { "authorization", "Bearer " + key } } : null;
        _final = (client, headers, digest);
        var batch = new List<PendingRecord>(_options.MaxBatchRecords);
        int failures = 0;
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await FillAsync(batch, stoppingToken);
                bool ok = await SendAsync(client, headers, digest, batch, stoppingToken);
                batch.Clear();
                failures = ok ? 0 : failures + 1;
                if (failures > 0)
                {
                    await Task.Delay(Backoff(failures), _time, stoppingToken);
                }
            }
        }
        finally
        {
            // A batch taken but not sent when stopping goes back into the last send.
            _unsent.AddRange(batch);
        }
    }

    private (Mirror.MirrorClient Client, Metadata? Headers, string Digest)? _final;
    private GrpcChannel? _channel;
    private readonly List<PendingRecord> _unsent = [];

    /// <summary>One best-effort send of everything left, within SendTimeout; what it cannot send is counted as failed.</summary>
    private async Task FinalFlushAsync()
    {
        while (_queue.Reader.TryRead(out PendingRecord? record))
        {
            Interlocked.Decrement(ref _depth);
            _unsent.Add(record);
        }

        if (_unsent.Count == 0)
        {
            return;
        }

        if (_final is not { } final)
        {
            Count(ref _droppedSend, "dropped_send_failed", _unsent.Count);
            return;
        }

        using var timeout = new CancellationTokenSource(_options.SendTimeout, _time);
        for (int start = 0; start < _unsent.Count; start += _options.MaxBatchRecords)
        {
            List<PendingRecord> batch = _unsent.GetRange(start, Math.Min(_options.MaxBatchRecords, _unsent.Count - start));
            await SendAsync(final.Client, final.Headers, final.Digest, batch, timeout.Token);
        }

        _unsent.Clear();
    }

    /// <summary>Takes records until the batch is full or its first record has waited FlushInterval.</summary>
    private async Task FillAsync(List<PendingRecord> batch, CancellationToken stoppingToken)
    {
        long first = _time.GetTimestamp();
        while (batch.Count < _options.MaxBatchRecords)
        {
            if (_queue.Reader.TryRead(out PendingRecord? record))
            {
                Interlocked.Decrement(ref _depth);
                batch.Add(record);
                continue;
            }

            TimeSpan left = _options.FlushInterval - _time.GetElapsedTime(first);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            using var timer = new CancellationTokenSource(left, _time);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timer.Token);
            try
            {
                if (!await _queue.Reader.WaitToReadAsync(wait.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Sends a batch: its paired records (with the trusted outputs) and its unpaired ones as a batch each, as the wire has them.</summary>
    private async Task<bool> SendAsync(Mirror.MirrorClient client, Metadata? headers, string digest, List<PendingRecord> batch,
        CancellationToken stoppingToken)
    {
        if (!batch.Exists(r => r.Trusted is not null))
        {
            return await SendOneAsync(client, headers, digest, batch, stoppingToken);
        }

        List<PendingRecord> unpaired = batch.FindAll(r => r.Trusted is null);
        bool ok = await SendOneAsync(client, headers, digest, batch.FindAll(r => r.Trusted is not null), stoppingToken);
        return (unpaired.Count == 0 || await SendOneAsync(client, headers, digest, unpaired, stoppingToken)) && ok;
    }

    private async Task<bool> SendOneAsync(Mirror.MirrorClient client, Metadata? headers, string digest, List<PendingRecord> batch,
        CancellationToken stoppingToken)
    {
        var message = new MirrorBatch
        {
            Model = _options.Model,
            Version = _options.Version,
            ArtifactSha256 = digest,
            Sequence = ++_sequence,
            Batch = Columns(batch),
        };
        Interlocked.Increment(ref _batches);
        try
        {
            MirrorAck ack = await client.IngestAsync(message, headers, _time.GetUtcNow().UtcDateTime + _options.SendTimeout, stoppingToken);
            Count(ref _sent, "sent", ack.Accepted);
            return true;
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _failedSends);
            Count(ref _droppedSend, "dropped_send_failed", batch.Count);
            return false;
        }
        catch (RpcException ex)
        {
            Interlocked.Increment(ref _failedSends);
            Volatile.Write(ref _lastError, $"{ex.StatusCode}: {ex.Status.Detail}");
            if (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown or StatusCode.Cancelled)
            {
                Count(ref _droppedSend, "dropped_send_failed", batch.Count);
            }
            else
            {
                // The sidecar answered: overloaded (RESOURCE_EXHAUSTED), or it refuses these records (wrong schema, key, model).
                Count(ref _rejected, "rejected", batch.Count);
            }

            ClientLog.SendFailed(_logger, batch.Count, ex.StatusCode, ex.Status.Detail);
            return false;
        }
    }

    private RecordBatch Columns(List<PendingRecord> batch)
    {
        var columns = new RecordBatch { Records = (uint)batch.Count };
        foreach (PendingRecord record in batch)
        {
            columns.Numeric.AddRange(record.Numeric);
            columns.Scores.AddRange(record.Scores);
            if (record.Trusted is not null)
            {
                columns.PairedScores.AddRange(record.Trusted);
            }
        }

        if (columns.PairedScores.Count > 0)
        {
            columns.PairedVersion = _options.PairedVersion;
        }

        for (int c = 0; c < _options.CategoricalFeatures; c++)
        {
            columns.Categorical.Add(Strings(batch, r => r.Categorical[c]));
        }

        for (int t = 0; t < _options.TextFields; t++)
        {
            columns.Text.Add(Strings(batch, r => r.Text[t]));
        }

        if (batch.Exists(r => r.RequestId is not null))
        {
            columns.RequestIds = Strings(batch, r => r.RequestId);
        }

        return columns;
    }

    private static StringColumn Strings(List<PendingRecord> batch, Func<PendingRecord, string?> value)
    {
        var column = new StringColumn();
        var bytes = new List<byte>();
        foreach (PendingRecord record in batch)
        {
            if (value(record) is { } text)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text));
            }

            column.Ends.Add((uint)bytes.Count);
        }

        column.Utf8 = ByteString.CopyFrom([.. bytes]);
        return column;
    }

    /// <summary>The SHA-256 of the artifact file, retried until it can be read (records queue meanwhile, and drop when full).</summary>
    private async Task<string> DigestAsync(CancellationToken stoppingToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await using FileStream file = File.OpenRead(_options.ArtifactPath);
                string digest = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, stoppingToken));
                Volatile.Write(ref _digest, digest);
                ClientLog.Mirroring(_logger, _options.Model, _options.Version, _options.ArtifactPath, digest, _options.Address);
                return digest;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Volatile.Write(ref _lastError, $"cannot read the artifact {_options.ArtifactPath}: {ex.Message}");
                ClientLog.ArtifactUnreadable(_logger, _options.ArtifactPath, ex.Message);
                await Task.Delay(Backoff(attempt), _time, stoppingToken);
            }
        }
    }

    /// <summary>InitialBackoff × 2^(failures−1), at most MaxBackoff, times a jitter factor in [0.5, 1.5).</summary>
    private TimeSpan Backoff(int failures)
    {
        double exponential = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromMilliseconds(Math.Min(exponential, _options.MaxBackoff.TotalMilliseconds) * (0.5 + Random.Shared.NextDouble()));
    }

    private void Count(ref long counter, string outcome, long records = 1)
    {
        Interlocked.Add(ref counter, records);
        _records.Add(records, new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <param name="Trusted">The trusted version's output on the same request (paired evidence), or null.</param>
    private sealed record PendingRecord(float[] Numeric, float[] Scores, string?[] Categorical, string?[] Text, string? RequestId, float[]? Trusted = null);
}
