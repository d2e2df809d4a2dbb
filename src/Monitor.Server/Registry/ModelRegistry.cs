using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Monitor.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Versions;
using Monitor.Core.Windows;
using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Ingest;
using Monitor.Server.Metrics;
using Monitor.Server.Persistence;
using Monitor.Server.Windows;

namespace Monitor.Server.Registry;

/// <summary>
/// The registered models and versions, kept in memory and in the store. Admin writes take a lock;
/// reads on the ingest path do not.
/// </summary>
internal sealed partial class ModelRegistry : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ModelEntry> _models = new(StringComparer.Ordinal);
    private readonly Lock _writes = new();
    private readonly IModelStore _store;
    private readonly IBaselineStore _baselineStore;
    private readonly IWindowStore _windowStore;
    private readonly IIncidentStore _incidentStore;
    private readonly MonitorMetrics _metrics;
    private readonly MonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private int _disposed;
    private readonly PipelineContext _context;
    private readonly Alerting.Incidents _incidents;

    public ModelRegistry(IModelStore store, IBaselineStore baselineStore, IWindowStore windowStore, IIncidentStore incidentStore, MonitorMetrics metrics,
        IOptions<MonitorOptions> options, TimeProvider time, ILoggerFactory loggers, Alerting.Incidents incidents, WindowWriter windows, StoreHealth health)
    {
        _context = new PipelineContext(windowStore, metrics, new Alerting.IncidentComposer(incidents, incidentStore, metrics, time),
            options.Value, time, windows, health);
        _incidents = incidents;
        _store = store;
        _baselineStore = baselineStore;
        _windowStore = windowStore;
        _incidentStore = incidentStore;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ModelRegistry>();
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            foreach (ModelEntry model in _models.Values)
            {
                metrics.QueueDepth.WithLabels(model.Name).Set(model.Pipeline.Depth);
            }
        });
    }

    public IEnumerable<ModelEntry> Models => _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal);

    /// <summary>Restores models, versions, baselines in force and recent windows from the store.</summary>
    public void Load()
    {
        int versions = 0;
        int baselines = 0;
        Dictionary<string, List<SigningKey>> keys = _store.LoadKeys();
        foreach (StoredModel stored in _store.LoadModels())
        {
            var model = new ModelEntry(stored.Name, stored.Schema, stored.Description, stored.RegisteredAt)
            {
                RequireSigned = stored.RequireSigned,
                ArtifactPathTemplate = stored.ArtifactPathTemplate,
                Keys = keys.TryGetValue(stored.Name, out List<SigningKey>? pinned) ? pinned : [],
            };
            CompiledBaseline? baseline = null;
            if (stored.BaselineId != 0 && _baselineStore.LoadBaseline(stored.BaselineId) is { } profile)
            {
                baseline = new CompiledBaseline(profile);
                _metrics.BaselineId.WithLabels(model.Name).Set(profile.Id);
                baselines++;
            }

            StartPipeline(model, baseline);
            _models[model.Name] = model;
        }

        var promotions = new Dictionary<string, Dictionary<string, DateTimeOffset>>(StringComparer.Ordinal);
        foreach (StoredVersion stored in _store.LoadVersions())
        {
            if (!_models.TryGetValue(stored.Model, out ModelEntry? model))
            {
                continue;
            }

            List<WindowResult> history = _windowStore.LoadRecentWindows(stored.Model, stored.Version, _options.Windows.HistoryInMemory);
            // After the last stored window, or the count of windows closed if retention deleted them: an index is never reused.
            ulong next = Math.Max(history.Count > 0 ? history[0].Index + 1 : 0, (ulong)Math.Max(0, stored.WindowsClosed));
            var monitor = new VersionMonitor(stored.Model, stored.Version, _time, _options.Windows.HistoryInMemory, next,
                Enumerable.Reverse(history), _options.Detectors.ToSettings(_options.Privacy.ToKeyPrivacy()), _windowStore.LoadFindings(stored.Model, stored.Version),
                _windowStore.LoadDetectorState(stored.Model, stored.Version));
            if (!promotions.TryGetValue(stored.Model, out Dictionary<string, DateTimeOffset>? promoted))
            {
                promoted = _store.LoadPromotions(stored.Model);
                promotions[stored.Model] = promoted;
            }

            var version = new VersionEntry(stored.Model, stored.Version, stored.ArtifactSha256, stored.Source, Enum.Parse<VersionState>(stored.State),
                promoted.TryGetValue(stored.Version, out DateTimeOffset promotedAt) ? promotedAt : null, stored.RegisteredAt, monitor,
                _options.Versions, _options.Alerts, stored.Lifecycle, stored.LastServedAt, stored.SignedBy, stored.ArtifactPath, stored.UnsafeArtifact);
            version.Alerts.Restore(_incidentStore.LoadLatestAlerts(stored.Model, stored.Version));
            version.Restore(stored.RecordsAccepted, stored.RecordsDigestMismatch, stored.WindowsClosed);
            model.Versions[version.Version] = version;
            versions++;
        }

        _metrics.Models.Set(_models.Count);
        _incidents.RefreshFiringGauges();
        Log.Loaded(_logger, _models.Count, versions, baselines, _store.Location);
        StartArtifactChecks();
    }

    public bool TryGet(string name, out ModelEntry model) => _models.TryGetValue(name, out model!);

    public ModelEntry Get(string name) =>
        _models.TryGetValue(name, out ModelEntry? model)
            ? model
            : throw new MonitorException(ErrorKind.NotFound, $"model '{Truncate(name)}' is not registered");

    public VersionEntry GetVersion(string model, string version) =>
        Get(model).Versions.TryGetValue(version, out VersionEntry? entry)
            ? entry
            : throw new MonitorException(ErrorKind.NotFound, $"version '{Truncate(version)}' of model '{model}' is not registered");

    public ModelEntry Register(string name, ModelSchema schema, string description)
    {
        CheckName("name", name);
        IReadOnlyList<string> errors = schema.Validate(_options.Limits.MaxFeatures);
        if (errors.Count > 0)
        {
            if (errors.Any(e => e.Contains("the limit is", StringComparison.Ordinal)))
            {
                _metrics.LimitBreaches.WithLabels("features").Inc();
            }

            throw new MonitorException(ErrorKind.InvalidArgument, string.Join("; ", errors));
        }

        lock (_writes)
        {
            if (_models.TryGetValue(name, out ModelEntry? existing))
            {
                return existing.Schema.IsEquivalentTo(schema)
                    ? existing
                    : throw new MonitorException(ErrorKind.AlreadyExists,
                        $"model '{name}' is already registered with a different schema; register the new schema under a new name");
            }

            if (_models.Count >= _options.Limits.MaxModels)
            {
                _metrics.LimitBreaches.WithLabels("models").Inc();
                throw new MonitorException(ErrorKind.ResourceExhausted,
                    $"the limit of {_options.Limits.MaxModels} models is reached (Monitor:Limits:MaxModels)");
            }

            var model = new ModelEntry(name, schema, description, _time.GetUtcNow());
            _store.InsertModel(new StoredModel(name, schema, description, model.RegisteredAt, 0));
            StartPipeline(model, null);
            _models[name] = model;
            _metrics.Models.Set(_models.Count);
            _metrics.BaselineId.WithLabels(name).Set(0);
            Log.ModelRegistered(_logger, name);
            return model;
        }
    }

    /// <param name="signature">A detached signature of the artifact (empty: unsigned), verified against the model's pinned keys.</param>
    /// <param name="artifactPath">Where the sidecar can read the artifact (empty: it cannot); hashed now and checked from then on.</param>
    public VersionEntry RegisterVersion(string modelName, string version, string artifactSha256, string source, VersionState state,
        ReadOnlyMemory<byte> signature = default, string artifactPath = "")
    {
        ModelEntry model = Get(modelName);
        CheckName("version", version);
        string digest = NormalizeDigest("artifact_sha256", artifactSha256);
        if (artifactPath.Length == 0 && model.ArtifactPathTemplate.Length > 0)
        {
            artifactPath = model.ArtifactPathTemplate.Replace(VersionPlaceholder, version, StringComparison.Ordinal);
        }

        string unsafeArtifact = "", notRead = "";
        if (artifactPath.Length > 0)
        {
            CheckArtifactAtRegistration(artifactPath, digest);
            (unsafeArtifact, notRead) = ScanArtifact(artifactPath);
            if (unsafeArtifact.Length > 0 && state == VersionState.KnownGood)
            {
                throw new MonitorException(ErrorKind.FailedPrecondition,
                    $"initial_state: version '{version}' cannot be registered as known-good: the scan of {artifactPath} found it unsafe to load: {unsafeArtifact}");
            }
        }

        lock (_writes)
        {
            if (model.Versions.TryGetValue(version, out VersionEntry? existing))
            {
                return existing.ArtifactSha256 == digest
                    ? existing
                    : throw new MonitorException(ErrorKind.AlreadyExists,
                        $"version '{version}' of model '{modelName}' is registered with artifact {existing.ArtifactSha256}; " +
                        "a different artifact needs a new version");
            }

            SigningKey? signer = VerifySignature(model, version, digest, signature.Span);
            var monitor = new VersionMonitor(modelName, version, _time, _options.Windows.HistoryInMemory,
                detectors: _options.Detectors.ToSettings(_options.Privacy.ToKeyPrivacy()));
            DateTimeOffset registeredAt = _time.GetUtcNow();
            var entry = new VersionEntry(modelName, version, digest, source, state, state == VersionState.KnownGood ? registeredAt : null, registeredAt,
                monitor, _options.Versions, _options.Alerts, signedBy: signer?.KeyId ?? "", artifactPath: artifactPath, unsafeArtifact: unsafeArtifact);
            if (artifactPath.Length > 0)
            {
                entry.ArtifactVerifiedAt = registeredAt;
            }

            _store.InsertVersion(new StoredVersion(modelName, version, digest, source, state.ToString(), entry.RegisteredAt, 0, 0, 0,
                SignedBy: entry.SignedBy, ArtifactPath: artifactPath, UnsafeArtifact: unsafeArtifact));
            if (unsafeArtifact.Length > 0)
            {
                _store.Audit(entry.RegisteredAt, "sidecar", "scan-unsafe", modelName, version, unsafeArtifact);
                Log.UnsafeArtifact(_logger, modelName, version, artifactPath, unsafeArtifact);
            }
            else if (notRead.Length > 0)
            {
                _store.Audit(entry.RegisteredAt, "sidecar", "scan-not-inspected", modelName, version, notRead);
                Log.ArtifactNotInspected(_logger, modelName, version, artifactPath, notRead);
            }

            if (signer is not null)
            {
                _store.Audit(entry.RegisteredAt, "admin", "register-signed", modelName, version,
                    $"artifact {digest} signed by pinned key {signer.Fingerprint}");
            }

            if (state == VersionState.KnownGood)
            {
                _store.Audit(entry.RegisteredAt, "admin", "register-known-good", modelName, version, "registered as known-good");
            }

            model.Versions[version] = entry;
            Log.VersionRegistered(_logger, modelName, version, digest, state.ToString());
            return entry;
        }
    }

    /// <summary>
    /// Promotes (or reinstates a quarantined) version by an admin's hand, through the model's pipeline, which
    /// owns the version's lifecycle; the audit log keeps who and why.
    /// </summary>
    public async Task<VersionEntry> PromoteAsync(string model, string version, string actor, string reason)
    {
        VersionEntry entry = GetVersion(model, version);
        if (string.IsNullOrWhiteSpace(actor))
        {
            throw new MonitorException(ErrorKind.InvalidArgument, "actor: say who promotes the version");
        }

        if (entry.UnsafeArtifact.Length > 0)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"version '{version}' cannot be trusted: the scan of its artifact found it unsafe to load: {entry.UnsafeArtifact}");
        }

        // Not cancellable once asked: a promotion half-applied would leave the store and the lifecycle apart.
        await Get(model).Pipeline.PromoteAsync(entry, actor, reason, CancellationToken.None);
        Log.VersionPromoted(_logger, model, version, actor, reason);
        return entry;
    }

    /// <summary>Lower-case hex SHA-256, or INVALID_ARGUMENT naming the field.</summary>
    public static string NormalizeDigest(string field, string digest)
    {
        string trimmed = digest.Trim();
        if (trimmed.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            trimmed = trimmed[7..];
        }

        return Sha256Pattern().IsMatch(trimmed)
            ? trimmed.ToLowerInvariant()
            : throw new MonitorException(ErrorKind.InvalidArgument,
                $"{field}: expected 64 hexadecimal digits of a SHA-256 digest, got '{Truncate(digest)}'");
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_artifactTimer is not null)
        {
            await _artifactTimer.DisposeAsync();
        }

        foreach (ModelEntry model in _models.Values)
        {
            await model.Pipeline.DisposeAsync();
        }

        await _context.Windows.DisposeAsync();
    }

    private void StartPipeline(ModelEntry model, CompiledBaseline? baseline)
    {
        model.Pipeline = new ModelPipeline(model, baseline, _context, _loggers.CreateLogger<ModelPipeline>());
    }

    private static void CheckName(string field, string name)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"{field}: '{Truncate(name)}' must be 1 to 128 characters of letters, digits, '.', '_', '-' or ':'");
        }
    }

    /// <summary>Caller-supplied text as it may appear in an error message or a log: at most 80 characters, unprintable ones escaped.</summary>
    public static string Truncate(string text) => Core.Text.Printable.Escape(text.Length <= 80 ? text : text[..80] + "…");

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256Pattern();
}
