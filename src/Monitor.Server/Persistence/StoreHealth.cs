using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Monitor.Server.Metrics;

namespace Monitor.Server.Persistence;

/// <summary>
/// Whether the database can be written. A failed write (disk full, read-only file system, I/O error) marks it
/// faulted: health turns NOT_SERVING with the reason, until a probe write succeeds and the incidents deferred
/// meanwhile are committed.
/// </summary>
internal sealed class StoreHealth(MonitorMetrics metrics, TimeProvider time, ILogger<StoreHealth> logger)
{
    private readonly Lock _gate = new();
    private StoreFault? _fault;
    private long _failures;

    /// <summary>The reason writes fail and since when; null while they succeed.</summary>
    public StoreFault? Fault => Volatile.Read(ref _fault);

    public bool Faulted => Fault is not null;

    /// <summary>Failed writes so far: a recovery counts from a value read before its probe.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Records a failed write of <paramref name="what"/>.</summary>
    public void Failed(string what, Exception exception)
    {
        metrics.StoreWriteFailures.WithLabels(what).Inc();
        lock (_gate)
        {
            Interlocked.Increment(ref _failures);
            if (_fault is null)
            {
                Volatile.Write(ref _fault, new StoreFault(Describe(exception), time.GetUtcNow()));
                metrics.StoreWritable.Set(0);
                Log.StoreFaulted(logger, what, _fault.Reason);
            }
        }
    }

    /// <summary>Counts a write given up without trying, e.g. a window dropped because the writer's queue is full.</summary>
    public void Dropped(string what) => metrics.StoreWriteFailures.WithLabels(what).Inc();

    /// <summary>Clears the fault, unless a write failed after <paramref name="failuresBefore"/> was read.</summary>
    public bool Recovered(long failuresBefore)
    {
        lock (_gate)
        {
            if (Interlocked.Read(ref _failures) != failuresBefore)
            {
                return false;
            }

            if (_fault is { } fault)
            {
                Log.StoreRecovered(logger, time.GetUtcNow() - fault.Since);
                Volatile.Write(ref _fault, null);
                metrics.StoreWritable.Set(1);
            }

            return true;
        }
    }

    /// <summary>
    /// A failure of the storage rather than of the request: busy, read-only, I/O error, full, cannot open, no permission,
    /// corrupt or not a database. A probe can tell when it is over.
    /// </summary>
    public static bool IsStorageFault(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 3 or 5 or 8 or 10 or 11 or 13 or 14 or 26 };

    /// <summary>"database or disk is full (SQLite error 13)" rather than the provider's "SQLite Error 13: 'database or disk is full'.".</summary>
    public static string Describe(Exception exception)
    {
        if (exception is not SqliteException sqlite)
        {
            return exception.Message;
        }

        string message = sqlite.Message;
        int open = message.IndexOf('\'');
        int close = message.LastIndexOf('\'');
        string text = open >= 0 && close > open ? message[(open + 1)..close] : message.TrimEnd('.');
        return sqlite.SqliteExtendedErrorCode != sqlite.SqliteErrorCode
            ? $"{text} (SQLite error {sqlite.SqliteErrorCode}, extended {sqlite.SqliteExtendedErrorCode})"
            : $"{text} (SQLite error {sqlite.SqliteErrorCode})";
    }
}

/// <summary>Why the store refuses writes, and since when.</summary>
internal sealed record StoreFault(string Reason, DateTimeOffset Since);

/// <summary>Writes a feature held back while the store refused them, to be committed once it accepts writes again.</summary>
internal interface IDeferredWrites
{
    bool HasDeferred { get; }

    /// <summary>Commits what was deferred, in order; throws a storage fault at the first write the store still refuses.</summary>
    void CommitDeferred();
}

/// <summary>While the store is faulted, probes it with a write; when one succeeds, commits the deferred writes (incidents) and clears the fault.</summary>
internal sealed class StoreRecovery(SqliteDatabase database, StoreHealth health, IDeferredWrites incidents, IOptions<MonitorOptions> options,
    TimeProvider time, ILogger<StoreRecovery> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Database.ProbeInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!health.Faulted && !incidents.HasDeferred)
                {
                    continue;
                }

                long failures = health.Failures;
                try
                {
                    database.ProbeWrite();
                    incidents.CommitDeferred();
                    health.Recovered(failures);
                }
                catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
                {
                    Log.StoreStillFaulted(logger, StoreHealth.Describe(ex));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Never stop the host: the next tick tries again.
                    Log.StoreStillFaulted(logger, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>Turns a storage failure inside any gRPC call into UNAVAILABLE with the reason, and marks the store faulted.</summary>
internal sealed class StoreFaultInterceptor(StoreHealth health) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            throw Unavailable(context, ex);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception ex) when (StoreHealth.IsStorageFault(ex))
        {
            throw Unavailable(context, ex);
        }
    }

    private RpcException Unavailable(ServerCallContext context, Exception ex)
    {
        health.Failed(context.Method.TrimStart('/'), ex);
        return new RpcException(new Status(StatusCode.Unavailable,
            $"the database cannot be written ({StoreHealth.Describe(ex)}); nothing of this request was stored. Retry when the sidecar is healthy"));
    }
}

/// <summary>The database cannot be opened or its schema written at start-up.</summary>
internal sealed class StoreUnavailableException(string path, Exception inner, string? directoryProblem)
    : Exception($"Cannot use the database {path}: {StoreHealth.Describe(inner)}" +
        (directoryProblem is null ? "" : $"; its directory refuses new files: {directoryProblem}") +
        ". Check that its directory is writable and has space, or choose another path with --Monitor:Database:Path=FILE.", inner);
