using Monitor.Core;

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

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Ingest").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:QueueCapacity", QueueCapacity, 1, 1_000_000),
            SettingChecks.Range($"{section}:MaxRecordsPerBatch", MaxRecordsPerBatch, 1, 10_000_000),
            SettingChecks.Range($"{section}:MaxMessageBytes", MaxMessageBytes, 1024, int.MaxValue),
            SettingChecks.Range($"{section}:QueueBytesPerModel", QueueBytesPerModel, 1024, long.MaxValue),
            SettingChecks.Range($"{section}:QueueBytesTotal", QueueBytesTotal, 1024, long.MaxValue),
        ];
        return problems.OfType<string>();
    }
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

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Limits").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MaxModels", MaxModels, 1, 100_000),
            SettingChecks.Range($"{section}:MaxFeatures", MaxFeatures, 1, 1_000_000),
            SettingChecks.Range($"{section}:ClientBurstRecords", ClientBurstRecords, 0, long.MaxValue),
            SettingChecks.Range($"{section}:ClientBurstBatches", ClientBurstBatches, 0, long.MaxValue),
            ClientBatchesPerSecond < 0 || !double.IsFinite(ClientBatchesPerSecond)
                ? $"{section}:ClientBatchesPerSecond must be 0 (off) or positive, got {ClientBatchesPerSecond}"
                : null,
            ClientRecordsPerSecond < 0 || !double.IsFinite(ClientRecordsPerSecond)
                ? $"{section}:ClientRecordsPerSecond must be 0 (off) or positive, got {ClientRecordsPerSecond}"
                : null,
        ];
        return problems.OfType<string>();
    }
}
