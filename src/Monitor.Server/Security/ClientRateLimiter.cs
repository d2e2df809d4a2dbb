using Monitor.Server.Ingest;
using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Monitor.Server.Security;

/// <summary>
/// A token bucket of records per client (the credential's name; the remote address in development mode).
/// Off when Monitor:Limits:ClientRecordsPerSecond is 0.
/// </summary>
internal sealed class ClientRateLimiter
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly double _rate;
    private readonly double _burst;

    public ClientRateLimiter(IOptions<MonitorOptions> options, TimeProvider time)
    {
        _time = time;
        LimitOptions limits = options.Value.Limits;
        _rate = limits.ClientRecordsPerSecond;
        _burst = limits.ClientBurstRecords > 0 ? limits.ClientBurstRecords : Math.Max(_rate, options.Value.Ingest.MaxRecordsPerBatch);
    }

    public bool Enabled => _rate > 0;

    /// <summary>Takes <paramref name="records"/> from the client's bucket; false (and how long to wait) when it does not hold them.</summary>
    public bool TryTake(string client, long records, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!Enabled)
        {
            return true;
        }

        Bucket bucket = _buckets.GetOrAdd(client, static (_, state) => new Bucket(state.Burst, state.Now), (Burst: _burst, Now: _time.GetTimestamp()));
        lock (bucket)
        {
            long now = _time.GetTimestamp();
            double elapsed = Math.Max(0, _time.GetElapsedTime(bucket.Stamp, now).TotalSeconds);
            bucket.Tokens = Math.Min(_burst, bucket.Tokens + (elapsed * _rate));
            bucket.Stamp = now;
            if (bucket.Tokens >= records)
            {
                bucket.Tokens -= records;
                return true;
            }

            retryAfter = TimeSpan.FromSeconds(Math.Min(records, _burst) - bucket.Tokens) / _rate;
            return false;
        }
    }

    /// <summary>A message for a refused batch.</summary>
    public string Describe(string client, long records, TimeSpan retryAfter) =>
        records > _burst
            ? $"a batch of {records} records exceeds client '{client}''s burst of {_burst:0} records (Monitor:Limits:ClientBurstRecords); send smaller batches"
            : $"client '{client}' exceeded its rate of {_rate:0} records/s (Monitor:Limits:ClientRecordsPerSecond); retry in {Math.Ceiling(retryAfter.TotalMilliseconds):0} ms";

    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens { get; set; } = tokens;
        public long Stamp { get; set; } = stamp;
    }
}
