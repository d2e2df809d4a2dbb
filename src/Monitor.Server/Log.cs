namespace Monitor.Server;

/// <summary>The sidecar's log messages, source-generated, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Listening for gRPC on {Endpoint} (HTTP/2, {Transport}) and for HTTP on {HttpEndpoint}; database {Database}")]
    public static partial void Listening(ILogger logger, string endpoint, string transport, string httpEndpoint, string database);

    [LoggerMessage(4, LogLevel.Warning, "Development mode: no credentials are configured (Monitor:Security:Keys), so every caller has every role; " +
        "the listeners are confined to loopback. Configure keys before exposing the sidecar")]
    public static partial void DevelopmentMode(ILogger logger);

    [LoggerMessage(5, LogLevel.Information, "{Count} credentials configured: {Credentials}")]
    public static partial void Credentials(ILogger logger, int count, string credentials);

    [LoggerMessage(60, LogLevel.Critical, "The database cannot be written ({What}): {Reason}. Health is NOT_SERVING; incidents are deferred, windows not stored, until a probe write succeeds")]
    public static partial void StoreFaulted(ILogger logger, string what, string reason);

    [LoggerMessage(61, LogLevel.Warning, "The database accepts writes again after {Duration}; deferred incidents were committed")]
    public static partial void StoreRecovered(ILogger logger, TimeSpan duration);

    [LoggerMessage(62, LogLevel.Debug, "The database still cannot be written: {Reason}")]
    public static partial void StoreStillFaulted(ILogger logger, string reason);

    [LoggerMessage(63, LogLevel.Error, "Incident of {Model}/{Version} deferred until the database can be written ({Deferred} waiting): {Reason}")]
    public static partial void IncidentDeferred(ILogger logger, string model, string version, int deferred, string reason);

    [LoggerMessage(66, LogLevel.Critical, "A deferred incident of {Model}/{Version} could not be committed for a reason other than storage and was dropped")]
    public static partial void IncidentDropped(ILogger logger, Exception exception, string model, string version);

    [LoggerMessage(67, LogLevel.Warning, "The database could not adopt incremental auto-vacuum ({Reason}); retention deletes rows but the file does not shrink until a VACUUM succeeds")]
    public static partial void VacuumDeferred(ILogger logger, string reason);

    [LoggerMessage(71, LogLevel.Warning, "Database {Path} keeps another key secret than this process already hashes under: the detectors' checkpoints in it are not restored")]
    public static partial void KeySecretNotAdopted(ILogger logger, string path);

    [LoggerMessage(72, LogLevel.Warning, "Version {Model}/{Version}: the scan of {Path} found its artifact unsafe to load; it will never be trusted: {Summary}")]
    public static partial void UnsafeArtifact(ILogger logger, string model, string version, string path, string summary);

    [LoggerMessage(93, LogLevel.Warning, "Version {Model}/{Version}: the scan of {Path} did not inspect its artifact, which is not a statement that it is safe: {Summary}")]
    public static partial void ArtifactNotInspected(ILogger logger, string model, string version, string path, string summary);

    [LoggerMessage(70, LogLevel.Warning, "Database {Path} upgraded: {Note}")]
    public static partial void Migrated(ILogger logger, string path, string note);

    [LoggerMessage(64, LogLevel.Information, "Retention ({Period}): deleted {Deleted}; {Freed} bytes returned to the file system, the database is {Size} bytes")]
    public static partial void RetentionApplied(ILogger logger, TimeSpan period, string deleted, long freed, long size);

    [LoggerMessage(65, LogLevel.Error, "Retention failed; it runs again at the next interval")]
    public static partial void RetentionFailed(ILogger logger, Exception exception);

    [LoggerMessage(50, LogLevel.Warning, "Refused {Path}: {Reason} credential (caller {Caller}, from {Remote})")]
    public static partial void AccessRefused(ILogger logger, string path, string reason, string caller, string remote);

    [LoggerMessage(3, LogLevel.Error, "{Count} closed windows could not be stored (their history is lost; everything else goes on)")]
    public static partial void WindowsNotStored(ILogger logger, Exception exception, int count);

    [LoggerMessage(69, LogLevel.Warning, "Analysis is off (Monitor:Ingest:Analysis=false): batches are parsed, validated and dropped; no drift is measured")]
    public static partial void AnalysisOff(ILogger logger);

    [LoggerMessage(2, LogLevel.Information, "Loaded {Models} models, {Versions} versions and {Baselines} baselines in force from {Database}")]
    public static partial void Loaded(ILogger logger, int models, int versions, int baselines, string database);

    [LoggerMessage(10, LogLevel.Information, "Registered model {Model}")]
    public static partial void ModelRegistered(ILogger logger, string model);

    [LoggerMessage(11, LogLevel.Information, "Registered version {Version} of {Model} with artifact {Digest} as {State}")]
    public static partial void VersionRegistered(ILogger logger, string model, string version, string digest, string state);

    [LoggerMessage(12, LogLevel.Information, "{Actor} promoted version {Version} of {Model} to known-good: {Reason}")]
    public static partial void VersionPromoted(ILogger logger, string model, string version, string actor, string reason);

    [LoggerMessage(20, LogLevel.Warning, "Batch for {Model}/{Version} carries artifact {Reported}, not the registered {Registered}: accepted as evidence and recorded")]
    public static partial void DigestMismatch(ILogger logger, string model, string version, string reported, string registered);

    [LoggerMessage(21, LogLevel.Debug, "Rejected batch: {Status} {Message}")]
    public static partial void BatchRejected(ILogger logger, string status, string message);

    [LoggerMessage(30, LogLevel.Information, "Window {Index} of {Model}/{Version} closed: {Records} records, drifted: {Drifted}")]
    public static partial void WindowClosed(ILogger logger, string model, string version, ulong index, long records, string drifted);

    [LoggerMessage(43, LogLevel.Warning, "Baseline {BaselineId} of {Model} does not represent version {Version}'s traffic: {Warning}")]
    public static partial void ReferenceMismatch(ILogger logger, string model, string version, long baselineId, string warning);

    [LoggerMessage(31, LogLevel.Information, "Version {Version} of {Model} now judged against baseline {BaselineId}; {Discarded} records of the open window were discarded")]
    public static partial void BaselineSwitched(ILogger logger, string model, string version, long baselineId, long discarded);

    [LoggerMessage(32, LogLevel.Error, "Pipeline of {Model} failed to process a work item; it goes on with the next")]
    public static partial void PipelineError(ILogger logger, Exception exception, string model);

    [LoggerMessage(33, LogLevel.Warning, "Finding for {Model}/{Version} ({Severity}, {Detector}): {Summary}")]
    public static partial void Finding(ILogger logger, string model, string version, string severity, string detector, string summary);

    [LoggerMessage(97, LogLevel.Debug, "Finding for {Model}/{Version} grew ({Severity}, {Detector}): {Summary}")]
    public static partial void FindingGrew(ILogger logger, string model, string version, string severity, string detector, string summary);

    [LoggerMessage(34, LogLevel.Error, "Rollback signal {Sequence}: {Model} version {From} failed and is quarantined; roll back to {To}. {Reason}")]
    public static partial void RollbackSignal(ILogger logger, long sequence, string model, string from, string to, string reason);

    [LoggerMessage(35, LogLevel.Warning, "Alert {AlertId} of {Model}/{Version} {State} ({Severity}, {Kind}): {Evidence}")]
    public static partial void AlertChanged(ILogger logger, long alertId, string model, string version, string state, string severity, string kind,
        string evidence);

    [LoggerMessage(98, LogLevel.Debug, "Alert {AlertId} of {Model}/{Version} still {State} ({Severity}, {Kind}): {Evidence}")]
    public static partial void AlertGrew(ILogger logger, long alertId, string model, string version, string state, string severity, string kind,
        string evidence);

    [LoggerMessage(36, LogLevel.Error, "Rollback of {Model} version {From} to {To} held for a human's decision (held rollback {Id}) because {Why}. {Reason}")]
    public static partial void RollbackHeld(ILogger logger, long id, string model, string from, string to, string why, string reason);

    [LoggerMessage(37, LogLevel.Warning, "Delivery of {Key} to {Sink} failed (attempt {Attempt}); next attempt in {Delay}: {Error}")]
    public static partial void DeliveryFailed(ILogger logger, string key, string sink, int attempt, TimeSpan delay, string error);

    [LoggerMessage(38, LogLevel.Information, "Delivered {Key} to {Sink} after {Attempts} attempt(s)")]
    public static partial void Delivered(ILogger logger, string key, string sink, int attempts);

    [LoggerMessage(39, LogLevel.Warning, "{Actor} {Action} version {Version} of {Model}: {Reason}")]
    public static partial void AdminAction(ILogger logger, string actor, string action, string model, string version, string reason);

    [LoggerMessage(40, LogLevel.Information, "Baseline upload {UploadId} for {Model} opened ({Source})")]
    public static partial void UploadOpened(ILogger logger, string uploadId, string model, string source);

    [LoggerMessage(41, LogLevel.Information, "Baseline {BaselineId} of {Model} committed from {Records} sampled records in {Seconds:F2} s; whole-window false-alarm rate {Rate:P2} on {Windows} bootstrap windows; now in force")]
    public static partial void BaselineCommitted(ILogger logger, long baselineId, string model, int records, double seconds, double rate, int windows);

    [LoggerMessage(EventId = 43, Message = "Baseline {BaselineId} of {Model} ({Source}), capture check: {Check}")]
    public static partial void CaptureChecked(ILogger logger, LogLevel level, long baselineId, string model, string source, string check);

    [LoggerMessage(44, LogLevel.Warning, "Baseline {BaselineId} of {Model} keeps a key of its capture out of its key table, so the detectors judge it as new: {Key}")]
    public static partial void CaptureKeyExcluded(ILogger logger, long baselineId, string model, string key);

    [LoggerMessage(68, LogLevel.Warning, "Baseline upload {UploadId} for {Model} aborted: no append for {IdleLimit}")]
    public static partial void UploadExpired(ILogger logger, string uploadId, string model, TimeSpan idleLimit);

    [LoggerMessage(42, LogLevel.Warning, "Baseline upload {UploadId} for {Model} could not be committed: {Reason}")]
    public static partial void BaselineCommitFailed(ILogger logger, string uploadId, string model, string reason);

    [LoggerMessage(94, LogLevel.Information, "Version {Model}/{Version}: reference {ReferenceId} for baseline {BaselineId} stored ({Records} records, by {Actor}; replaced an earlier one: {Replaced}); its embeddings are judged against it")]
    public static partial void ReferenceStored(ILogger logger, string model, string version, long referenceId, long baselineId, long records, string actor, bool replaced);

    [LoggerMessage(95, LogLevel.Information, "Version {Model}/{Version}: capturing its own reference from its next {Records} records under baseline {BaselineId} (started by {Actor})")]
    public static partial void ReferenceCaptureStarted(ILogger logger, string model, string version, uint records, long baselineId, string actor);

    [LoggerMessage(96, LogLevel.Warning, "Version {Model}/{Version}: reference capture dropped, nothing stored: {Reason}")]
    public static partial void ReferenceCaptureDropped(ILogger logger, string model, string version, string reason);
}
