using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using HdrHistogram;

namespace Monitor.LoadTests;

/// <summary>What one step measured: outcomes by status code, volumes, latencies (HdrHistogram, microseconds) and a per-second timeline.</summary>
internal sealed class StepStats(string scenario, string step, string shape, bool warmup)
{
    private readonly LongHistogram _latency = new(1, 60_000_000, 3);
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<StatusCode, long> _outcomes = new();
    private readonly ConcurrentDictionary<StatusCode, string> _details = new();
    private readonly SortedDictionary<int, (long Records, LongHistogram Latency)> _timeline = [];
    private long _started = Stopwatch.GetTimestamp();
    private long _ended;

    public string Scenario { get; } = scenario;
    public string Step { get; } = step;
    public string Shape { get; } = shape;
    public bool Warmup { get; } = warmup;
    public long Records { get; private set; }
    public long Batches { get; private set; }
    public long Bytes { get; private set; }
    public IReadOnlyDictionary<StatusCode, long> Outcomes => _outcomes;
    /// <summary>The first failure's detail for each status other than OK, so that a report says why calls failed.</summary>
    public IReadOnlyDictionary<StatusCode, string> FailureDetails => _details;
    public long Ok => _outcomes.GetValueOrDefault(StatusCode.OK);
    public long Failed => _outcomes.Where(o => o.Key != StatusCode.OK).Sum(o => o.Value);
    public double Seconds => Stopwatch.GetElapsedTime(_started, _ended == 0 ? Stopwatch.GetTimestamp() : _ended).TotalSeconds;

    public void Start() => _started = Stopwatch.GetTimestamp();

    /// <summary>Ends the step's clock now (again, to include the time the sidecar took to finish what it accepted).</summary>
    public void Stop() => _ended = Stopwatch.GetTimestamp();

    /// <summary>A failed call: its status and why (the first detail of each status is kept).</summary>
    public void Record(RpcException failure, long dueTimestamp) => Record(failure.StatusCode, 0, 0, dueTimestamp,
        failure.Status.DebugException is { } cause ? $"{failure.Status.Detail} ({cause.GetType().Name}: {cause.Message})" : failure.Status.Detail);

    /// <summary>One call: its status, what it carried, and its latency from when it was due (scheduled or sent) to its answer.</summary>
    public void Record(StatusCode status, int records, int bytes, long dueTimestamp, string? detail = null)
    {
        if (status != StatusCode.OK)
        {
            _details.TryAdd(status, detail ?? "");
        }

        long now = Stopwatch.GetTimestamp();
        long micros = Math.Max(1, (long)Stopwatch.GetElapsedTime(dueTimestamp, now).TotalMicroseconds);
        _outcomes.AddOrUpdate(status, 1, (_, n) => n + 1);
        int second = (int)Stopwatch.GetElapsedTime(_started, now).TotalSeconds;
        lock (_lock)
        {
            if (status == StatusCode.OK)
            {
                // Latency of answered calls only: fast refusals under overload would flatter the percentiles.
                _latency.RecordValue(Math.Min(micros, _latency.HighestTrackableValue));
                Records += records;
                Batches++;
                Bytes += bytes;
            }

            if (!_timeline.TryGetValue(second, out var slot))
            {
                slot = (0, new LongHistogram(1, 60_000_000, 2));
            }

            if (status == StatusCode.OK)
            {
                slot.Latency.RecordValue(Math.Min(micros, 60_000_000));
            }

            _timeline[second] = (slot.Records + (status == StatusCode.OK ? records : 0), slot.Latency);
        }
    }

    public double LatencyMs(double percentile)
    {
        lock (_lock)
        {
            return _latency.TotalCount == 0 ? 0 : _latency.GetValueAtPercentile(percentile) / 1000.0;
        }
    }

    public double MeanMs
    {
        get
        {
            lock (_lock)
            {
                return _latency.TotalCount == 0 ? 0 : _latency.GetMean() / 1000.0;
            }
        }
    }

    public double MinMs
    {
        get
        {
            lock (_lock)
            {
                return _latency.TotalCount == 0 ? 0 : MinValue() / 1000.0;
            }
        }
    }

    public double MaxMs
    {
        get
        {
            lock (_lock)
            {
                return _latency.TotalCount == 0 ? 0 : _latency.GetMaxValue() / 1000.0;
            }
        }
    }

    /// <summary>Per second of the step: records/s, p50 and p99 latency in milliseconds.</summary>
    public IReadOnlyList<(int Second, long Records, double P50, double P99)> Timeline
    {
        get
        {
            lock (_lock)
            {
                return [.. _timeline.Select(t => (t.Key, t.Value.Records,
                    t.Value.Latency.TotalCount == 0 ? 0 : t.Value.Latency.GetValueAtPercentile(50) / 1000.0,
                    t.Value.Latency.TotalCount == 0 ? 0 : t.Value.Latency.GetValueAtPercentile(99) / 1000.0))];
            }
        }
    }

    private long MinValue()
    {
        foreach (var value in _latency.RecordedValues())
        {
            return value.ValueIteratedTo;
        }

        return 0;
    }
}
