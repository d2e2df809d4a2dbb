namespace Monitor.Server.Ingest;

public sealed class IngestOptions
{
    /// <summary>Batches queued per model before ingest answers RESOURCE_EXHAUSTED.</summary>
    public int QueueCapacity { get; set; } = 1024;

    public int MaxRecordsPerBatch { get; set; } = 10_000;

    /// <summary>Bytes of batches (their arrays and UTF-8 columns) queued per model, held until the pipeline has processed them.</summary>
    public long QueueBytesPerModel { get; set; } = 256L * 1024 * 1024;

    /// <summary>Bytes of batches queued over all models together.</summary>
    public long QueueBytesTotal { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Largest gRPC message accepted, in bytes.</summary>
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// False runs the sidecar parse-only: batches are received, validated, translated and queued as usual, then
    /// dropped without windows, statistics or detectors. For measuring what analysis costs; never in production.
    /// </summary>
    public bool Analysis { get; set; } = true;
}

public sealed class LimitOptions
{
    public int MaxModels { get; set; } = 100;

    /// <summary>Most numeric, categorical and text features together in one schema.</summary>
    public int MaxFeatures { get; set; } = 4096;

    /// <summary>Largest text value, in UTF-8 bytes.</summary>
    public int MaxTextBytes { get; set; } = 64 * 1024;

    /// <summary>Largest categorical value, in UTF-8 bytes; a batch with a longer one is refused.</summary>
    public int MaxCategoryBytes { get; set; } = 256;

    /// <summary>Largest request id, in UTF-8 bytes; a batch with a longer one is refused.</summary>
    public int MaxRequestIdBytes { get; set; } = 256;

    /// <summary>Most tokens (as the detectors read them: runs of letters and digits) one record carries over all its text fields.</summary>
    public int MaxTokensPerRecord { get; set; } = 10_000;

    /// <summary>Records per second each client (credential) may mirror; 0 = no limit.</summary>
    public double ClientRecordsPerSecond { get; set; }

    /// <summary>Records a client may send at once above its rate; 0 = the larger of one second's worth and Ingest:MaxRecordsPerBatch.</summary>
    public long ClientBurstRecords { get; set; }

    /// <summary>Batches (of any size, empty ones included) per second each client may mirror; 0 = no limit.</summary>
    public double ClientBatchesPerSecond { get; set; }

    /// <summary>Batches a client may send at once above its batch rate; 0 = one second's worth (at least one).</summary>
    public long ClientBurstBatches { get; set; }

    public Core.Ingest.TextLimits ToTextLimits() => new(MaxTextBytes, MaxTokensPerRecord, MaxCategoryBytes, MaxRequestIdBytes);
}
