namespace Monitor.Server.Ingest;

/// <summary>
/// A budget of bytes of queued batches: reserved when a batch is queued, released once the pipeline has processed it.
/// One per model (Monitor:Ingest:QueueBytesPerModel) and one for the process (Monitor:Ingest:QueueBytesTotal).
/// </summary>
internal sealed class QueueBytes(long limit)
{
    private long _used;

    public long Limit { get; } = limit;

    public long Used => Volatile.Read(ref _used);

    /// <summary>Takes <paramref name="bytes"/> from the budget; false (and nothing taken) when they do not fit.</summary>
    public bool TryReserve(long bytes)
    {
        long used = Volatile.Read(ref _used);
        while (true)
        {
            if (used + bytes > Limit)
            {
                return false;
            }

            long seen = Interlocked.CompareExchange(ref _used, used + bytes, used);
            if (seen == used)
            {
                return true;
            }

            used = seen;
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);
}

/// <summary>Why a valid batch was not queued: the configured limit it would pass (a metric label) and the message for the client.</summary>
internal sealed record QueueRefusal(string Limit, string Message);
