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

/// <summary>
/// The sidecar's own keys of the Monitor:Limits section. Its text limits (MaxTextBytes, MaxTokensPerRecord,
/// MaxCategoryBytes, MaxRequestIdBytes) bind to Core's <see cref="Core.Ingest.TextLimits"/> (<see cref="MonitorOptions.TextLimits"/>).
/// </summary>
public sealed class LimitOptions
{
    public int MaxModels { get; set; } = 100;

    /// <summary>Most numeric, categorical and text features together in one schema.</summary>
    public int MaxFeatures { get; set; } = 4096;

    /// <summary>Records per second each client (credential) may mirror; 0 = no limit.</summary>
    public double ClientRecordsPerSecond { get; set; }

    /// <summary>Records a client may send at once above its rate; 0 = the larger of one second's worth and Ingest:MaxRecordsPerBatch.</summary>
    public long ClientBurstRecords { get; set; }

    /// <summary>Batches (of any size, empty ones included) per second each client may mirror; 0 = no limit.</summary>
    public double ClientBatchesPerSecond { get; set; }

    /// <summary>Batches a client may send at once above its batch rate; 0 = one second's worth (at least one).</summary>
    public long ClientBurstBatches { get; set; }
}
