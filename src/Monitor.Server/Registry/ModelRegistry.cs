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
using Monitor.Server.Models;
using Monitor.Server.Windows;

namespace Monitor.Server.Registry;

/// <summary>
/// Registers models and versions: in the store, in the <see cref="ModelCatalog"/> every feature reads, and with a started
/// ingest pipeline per model; restores all of them at start. Admin writes take a lock; reads on the ingest path do not.
/// </summary>
internal sealed partial class ModelRegistry : IAsyncDisposable
{
    private readonly ModelCatalog _models;
    private readonly ModelPipelines _pipelines;
    private readonly Lock _writes = new();
    private readonly IModelStore _store;
    private readonly IBaselineStore _baselineStore;
    private readonly IWindowStore _windowStore;
    private readonly IIncidentStore _incidentStore;
    private readonly MonitorMetrics _metrics;
    private readonly MonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _disposed;
    private readonly Alerting.Incidents _incidents;

    public ModelRegistry(IModelStore store, ModelCatalog models, ModelPipelines pipelines, IBaselineStore baselineStore, IWindowStore windowStore,
        IIncidentStore incidentStore, MonitorMetrics metrics, IOptions<MonitorOptions> options, TimeProvider time, ILoggerFactory loggers,
        Alerting.Incidents incidents, Readiness.BaselineReadiness readiness, SqliteReferenceStore references)
    {
        _references = references;
        _readiness = readiness;
        _models = models;
        _pipelines = pipelines;
        _incidents = incidents;
        _store = store;
        _baselineStore = baselineStore;
        _windowStore = windowStore;
        _incidentStore = incidentStore;
        _metrics = metrics;
        _options = options.Value;
        _time = time;
        _logger = loggers.CreateLogger<ModelRegistry>();
    }

    private readonly Readiness.BaselineReadiness _readiness;
    private readonly SqliteReferenceStore _references;

    public IEnumerable<ModelEntry> Models => _models.Models;

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

            _pipelines.Start(model, baseline);
            _models.Add(model);
        }

        var promotions = new Dictionary<string, Dictionary<string, DateTimeOffset>>(StringComparer.Ordinal);
        foreach (StoredVersion stored in _store.LoadVersions())
        {
            if (!_models.TryGet(stored.Model, out ModelEntry? model))
            {
                continue;
            }

            List<WindowResult> history = _windowStore.LoadRecentWindows(stored.Model, stored.Version, _options.Windows.HistoryInMemory);
            // After the last stored window, or the count of windows closed if retention deleted them: an index is never reused.
            ulong next = Math.Max(history.Count > 0 ? history[0].Index + 1 : 0, (ulong)Math.Max(0, stored.WindowsClosed));
            var monitor = new VersionMonitor(stored.Model, stored.Version, _time, _options.Windows.HistoryInMemory, next,
                Enumerable.Reverse(history), _options.DetectorsInForce, _windowStore.LoadFindings(stored.Model, stored.Version),
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
            version.Lifecycle.RequiredRecords = _readiness.RequiredRecords(model.Baseline?.Profile);
            model.Versions[version.Version] = version;
            versions++;
        }

        // Before the first batch: each version's monitor is put on the baseline with the geometry its reference gives.
        foreach (StoredReference reference in _references.LoadLatest())
        {
            if (_models.TryGet(reference.Model, out ModelEntry? model) && model.Versions.TryGetValue(reference.Version, out VersionEntry? version))
            {
                version.Reference = reference;
            }
        }

        _metrics.Models.Set(_models.Count);
        _incidents.RefreshFiringGauges();
        Log.Loaded(_logger, _models.Count, versions, baselines, _store.Location);
        StartArtifactChecks();
    }

    public ModelEntry Get(string name) => _models.Get(name);

    public VersionEntry GetVersion(string model, string version) => _models.GetVersion(model, version);

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
            if (_models.TryGet(name, out ModelEntry? existing))
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
            _pipelines.Start(model, null);
            _models.Add(model);
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
        string digest = ModelCatalog.NormalizeDigest("artifact_sha256", artifactSha256);
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
                detectors: _options.DetectorsInForce);
            DateTimeOffset registeredAt = _time.GetUtcNow();
            var entry = new VersionEntry(modelName, version, digest, source, state, state == VersionState.KnownGood ? registeredAt : null, registeredAt,
                monitor, _options.Versions, _options.Alerts, signedBy: signer?.KeyId ?? "", artifactPath: artifactPath, unsafeArtifact: unsafeArtifact);
            if (artifactPath.Length > 0)
            {
                entry.ArtifactVerifiedAt = registeredAt;
            }

            entry.Lifecycle.RequiredRecords = _readiness.RequiredRecords(model.Baseline?.Profile);

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
        await _pipelines.Of(Get(model)).PromoteAsync(entry, actor, reason, CancellationToken.None);
        Log.VersionPromoted(_logger, model, version, actor, reason);
        return entry;
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

        await _pipelines.DisposeAsync();
    }

    private static void CheckName(string field, string name)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"{field}: '{Truncate(name)}' must be 1 to 128 characters of letters, digits, '.', '_', '-' or ':'");
        }
    }

    private static string Truncate(string text) => ModelCatalog.Truncate(text);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    private static partial Regex NamePattern();
}
