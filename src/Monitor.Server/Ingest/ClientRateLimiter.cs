using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Monitor.Server.Ingest;

/// <summary>
/// Token buckets per client (the credential's name; the remote address in development mode): records per second
/// (Monitor:Limits:ClientRecordsPerSecond; every batch costs at least one record, so empty batches are not free)
/// and batches per second (Monitor:Limits:ClientBatchesPerSecond). Each is off at 0.
/// </summary>
internal sealed class ClientRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly double _burst;
    private readonly double _batchRate;
    private readonly double _batchBurst;

    public ClientRateLimiter(IOptions<MonitorOptions> options, TimeProvider time)
    {
        _time = time;
        LimitOptions limits = options.Value.Limits;
        _rate = limits.ClientRecordsPerSecond;
        _burst = limits.ClientBurstRecords > 0 ? limits.ClientBurstRecords : Math.Max(_rate, options.Value.Ingest.MaxRecordsPerBatch);
        _batchRate = limits.ClientBatchesPerSecond;
        _batchBurst = limits.ClientBurstBatches > 0 ? limits.ClientBurstBatches : Math.Max(1, _batchRate);
    }

    public bool Enabled => _rate > 0 || _batchRate > 0;

    /// <summary>
    /// Takes one batch of <paramref name="records"/> from the client's buckets; null when they held it, else why not
    /// and how long to wait (nothing is taken then).
    /// </summary>
    public string? TryTake(string client, long records)
    {
        if (!Enabled)
        {
            return null;
        }

        Bucket bucket = _buckets.GetOrAdd(client, static (_, state) => new Bucket(state.Burst, state.BatchBurst, state.Now),
            (Burst: _burst, BatchBurst: _batchBurst, Now: _time.GetTimestamp()));
        lock (bucket)
        {
            long now = _time.GetTimestamp();
            double elapsed = Math.Max(0, _time.GetElapsedTime(bucket.Stamp, now).TotalSeconds);
            bucket.Tokens = Math.Min(_burst, bucket.Tokens + (elapsed * _rate));
            bucket.Batches = Math.Min(_batchBurst, bucket.Batches + (elapsed * _batchRate));
            bucket.Stamp = now;
            long cost = Math.Max(1, records);
            if (_rate > 0 && bucket.Tokens < cost)
            {
                return cost > _burst
                    ? $"a batch of {records} records exceeds client '{client}''s burst of {_burst:0} records (Monitor:Limits:ClientBurstRecords); send smaller batches"
                    : $"client '{client}' exceeded its rate of {_rate:0} records/s (Monitor:Limits:ClientRecordsPerSecond; a batch costs at least one record); " +
                        $"retry in {Math.Ceiling((cost - bucket.Tokens) / _rate * 1000):0} ms";
            }

            if (_batchRate > 0 && bucket.Batches < 1)
            {
                return $"client '{client}' exceeded its rate of {_batchRate:0.##} batches/s (Monitor:Limits:ClientBatchesPerSecond); " +
                    $"retry in {Math.Ceiling((1 - bucket.Batches) / _batchRate * 1000):0} ms";
            }

            if (_rate > 0)
            {
                bucket.Tokens -= cost;
            }

            if (_batchRate > 0)
            {
                bucket.Batches -= 1;
            }

            return null;
        }
    }

    private sealed class Bucket(double tokens, double batches, long stamp)
    {
        public double Tokens { get; set; } = tokens;
        public double Batches { get; set; } = batches;
        public long Stamp { get; set; } = stamp;
    }
}
