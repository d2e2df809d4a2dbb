namespace Monitor.Client;

/// <summary>Where and how a serving process mirrors its inferences.</summary>
public sealed class DriftMirrorOptions
{
    /// <summary>The sidecar's gRPC address.</summary>
    public Uri Address { get; set; } = new("http://127.0.0.1:50051");

    /// <summary>A key with the ingest role; null in the sidecar's development mode.</summary>
    public string? ApiKey { get; set; }

    public string Model { get; set; } = "";

    public string Version { get; set; } = "";

    /// <summary>
    /// The model artifact file this process loaded. Its SHA-256 is computed here and sent with every batch, so the
    /// sidecar sees what is actually served, not what a configuration says.
    /// </summary>
    public string ArtifactPath { get; set; } = "";

    /// <summary>Widths of a record, as in the model's schema: numeric features, categorical features, text fields, output values.</summary>
    public int NumericFeatures { get; set; }

    public int CategoricalFeatures { get; set; }

    public int TextFields { get; set; }

    public int OutputWidth { get; set; }

    /// <summary>
    /// The trusted version (registered for the model, not <see cref="Version"/>) whose outputs <see cref="IDriftMirror.RecordPaired"/>
    /// mirrors beside this version's, during a shadow or canary rollout; null when the process mirrors unpaired.
    /// </summary>
    public string? PairedVersion { get; set; }

    /// <summary>
    /// Longest text value sent, in UTF-8 bytes; a longer one drops its record (counted as invalid) rather than have the
    /// sidecar refuse the whole batch. Keep it at most the sidecar's Monitor:Limits:MaxTextBytes.
    /// </summary>
    public int MaxTextBytes { get; set; } = 64 * 1024;

    /// <summary>Records waiting to be sent at most; beyond this new records are dropped and counted.</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>A batch is sent when it holds this many records...</summary>
    public int MaxBatchRecords { get; set; } = 512;

    /// <summary>...or when its first record has waited this long.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time allowed for one send.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Wait after a failed send, doubling to <see cref="MaxBackoff"/> while sends keep failing (±50% jitter).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Address.IsAbsoluteUri || (Address.Scheme != Uri.UriSchemeHttp && Address.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"Address must be an absolute http:// or https:// URI, got '{Address}'");
        }

        if (string.IsNullOrWhiteSpace(Model) || string.IsNullOrWhiteSpace(Version))
        {
            errors.Add("Model and Version are required");
        }

        if (PairedVersion is not null && (string.IsNullOrWhiteSpace(PairedVersion) || PairedVersion == Version))
        {
            errors.Add($"PairedVersion must name the trusted version, another than Version '{Version}', or be null");
        }

        if (string.IsNullOrWhiteSpace(ArtifactPath))
        {
            errors.Add("ArtifactPath is required: the SHA-256 of the loaded artifact is sent with every batch");
        }

        if (NumericFeatures < 0 || CategoricalFeatures < 0 || TextFields < 0 || OutputWidth < 1)
        {
            errors.Add("widths must not be negative, and OutputWidth must be at least 1");
        }

        if (QueueCapacity < 1 || MaxBatchRecords < 1 || MaxTextBytes < 1 || FlushInterval <= TimeSpan.Zero || SendTimeout <= TimeSpan.Zero
            || InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            errors.Add("QueueCapacity, MaxBatchRecords, FlushInterval, SendTimeout and InitialBackoff must be positive, MaxBackoff at least InitialBackoff");
        }

        return errors;
    }
}
