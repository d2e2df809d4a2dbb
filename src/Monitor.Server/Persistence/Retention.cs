using Microsoft.Extensions.Options;
using Monitor.Server.Metrics;

namespace Monitor.Server.Persistence;

/// <summary>Rows deleted per table, and the bytes returned to the file system.</summary>
internal sealed record RetentionResult(IReadOnlyDictionary<string, long> Deleted, long BytesFreed, long DatabaseBytes);

/// <summary>Every Retention:Interval, deletes history older than Retention:Period and compacts the database.</summary>
internal sealed class RetentionService(SqliteDatabase database, StoreHealth health, MonitorMetrics metrics, IOptions<MonitorOptions> options,
    TimeProvider time, ILogger<RetentionService> logger) : BackgroundService
{
    private readonly RetentionOptions _options = options.Value.Retention;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Interval, time);
        try
        {
            do
            {
                RunOnce();
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public RetentionResult? RunOnce()
    {
        try
        {
            RetentionResult result = database.ApplyRetention(time.GetUtcNow() - _options.Period);
            foreach ((string what, long rows) in result.Deleted)
            {
                metrics.RetentionDeleted.WithLabels(what).Inc(rows);
            }

            metrics.DatabaseBytes.Set(result.DatabaseBytes);
            if (result.Deleted.Values.Sum() > 0)
            {
                Log.RetentionApplied(logger, _options.Period, string.Join(", ", result.Deleted.Where(d => d.Value > 0).Select(d => $"{d.Value} {d.Key}")),
                    result.BytesFreed, result.DatabaseBytes);
            }

            return result;
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            health.Failed("retention", ex);
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Retention failing must not stop the sidecar; it is tried again at the next interval.
            Log.RetentionFailed(logger, ex);
            return null;
        }
    }
}
