using System.Security.Cryptography;
using Monitor.Core;
using Monitor.Core.Versions;
using Monitor.Server.Models;

namespace Monitor.Server.Registry;

/// <summary>
/// Provenance: the keys pinned per model and the signatures of versions verified against them, and the sidecar's own
/// hash of artifacts it can read (at registration, at start and every Monitor:Provenance:ArtifactCheckInterval).
/// </summary>
internal sealed partial class ModelRegistry
{
    private ITimer? _artifactTimer;
    private int _checkingArtifacts;

    /// <summary>Versions whose artifact the latest check could not read (touched only by the check, which never runs twice at once).</summary>
    private readonly HashSet<VersionEntry> _unreadableArtifacts = [];

    /// <summary>
    /// How long an artifact must have gone unwritten before another digest counts as a swap: a file being written (or the same
    /// bytes copied over it) hashes to something else mid-way. A check that finds such a file checks again this long after.
    /// </summary>
    private static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Pins <paramref name="add"/> (PEM public keys), unpins <paramref name="remove"/> (key ids or prefixes of at least 8 hex digits)
    /// and sets whether versions registered from now on must be signed (null: unchanged); audited.
    /// </summary>
    public ModelEntry SetSigning(string modelName, IReadOnlyList<string> add, IReadOnlyList<string> remove, bool? requireSigned, string actor,
        string reason)
    {
        ModelEntry model = Get(modelName);
        DateTimeOffset at = _time.GetUtcNow();
        var pinned = new List<SigningKey>();
        for (int i = 0; i < add.Count; i++)
        {
            try
            {
                pinned.Add(ArtifactSignatures.ParseKey(add[i], at));
            }
            catch (FormatException e)
            {
                throw new MonitorException(ErrorKind.InvalidArgument, $"add_public_keys[{i}]: {e.Message}");
            }
        }

        lock (_writes)
        {
            var keys = new List<SigningKey>(model.Keys);
            var unpinned = new List<SigningKey>();
            for (int i = 0; i < remove.Count; i++)
            {
                string id = remove[i].Trim().ToLowerInvariant();
                SigningKey[] matches = id.Length >= 8 ? [.. keys.Where(k => k.KeyId.StartsWith(id, StringComparison.Ordinal))] : [];
                if (matches.Length != 1)
                {
                    throw new MonitorException(matches.Length == 0 ? ErrorKind.NotFound : ErrorKind.InvalidArgument,
                        $"remove_key_ids[{i}]: '{Truncate(remove[i])}' {(matches.Length == 0 ? "is no pinned key's id (at least 8 hex digits of it)" : "names more than one pinned key")} " +
                        $"of model '{model.Name}'");
                }

                keys.Remove(matches[0]);
                unpinned.Add(matches[0]);
            }

            List<SigningKey> added = [.. pinned.Where(p => keys.All(k => k.KeyId != p.KeyId)).DistinctBy(p => p.KeyId)];
            keys.AddRange(added);
            bool require = requireSigned ?? model.RequireSigned;
            if (require && keys.Count == 0)
            {
                throw new MonitorException(ErrorKind.FailedPrecondition,
                    $"require_signed_versions: model '{model.Name}' has no pinned public key to verify signatures against; pin one (add_public_keys)");
            }

            _store.SaveSigning(model.Name, added, [.. unpinned.Select(k => k.KeyId)], require);
            foreach (SigningKey key in added)
            {
                _store.Audit(at, actor, "pin-key", model.Name, "", $"{key.Fingerprint} ({key.KeyId}): {reason}");
            }

            foreach (SigningKey key in unpinned)
            {
                _store.Audit(at, actor, "unpin-key", model.Name, "", $"{key.Fingerprint} ({key.KeyId}): {reason}");
            }

            if (require != model.RequireSigned)
            {
                _store.Audit(at, actor, require ? "require-signed" : "allow-unsigned", model.Name, "", reason);
            }

            model.Keys = keys;
            model.RequireSigned = require;
            return model;
        }
    }

    /// <summary>What a model's artifact path template has in place of a version's name.</summary>
    public const string VersionPlaceholder = "{version}";

    /// <summary>Sets where the sidecar reads the artifact of each version registered from now on without a path of its own; audited.</summary>
    public ModelEntry SetArtifactPathTemplate(string modelName, string template, string actor, string reason)
    {
        ModelEntry model = Get(modelName);
        template = template.Trim();
        if (template.Length > 0 && !Path.IsPathFullyQualified(template.Replace(VersionPlaceholder, "v", StringComparison.Ordinal)))
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"artifact_path_template: '{Truncate(template)}' is not an absolute path (e.g. /models/{model.Name}/{VersionPlaceholder}/model.onnx)");
        }

        lock (_writes)
        {
            _store.SaveArtifactPathTemplate(model.Name, template);
            _store.Audit(_time.GetUtcNow(), actor, "artifact-path", model.Name, "", $"{(template.Length > 0 ? template : "(none)")}: {reason}");
            model.ArtifactPathTemplate = template;
            return model;
        }
    }

    /// <summary>The pinned key a version's signature verifies against; null when unsigned and the model allows it; refused otherwise.</summary>
    private static SigningKey? VerifySignature(ModelEntry model, string version, string digest, ReadOnlySpan<byte> signature)
    {
        if (signature.IsEmpty)
        {
            return model.RequireSigned
                ? throw new MonitorException(ErrorKind.FailedPrecondition,
                    $"signature: model '{model.Name}' requires signed versions; register version '{Truncate(version)}' with a detached signature " +
                    $"of its artifact that verifies against one of the model's pinned keys ({Fingerprints(model)})")
                : null;
        }

        if (model.Keys.Count == 0)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition,
                $"signature: model '{model.Name}' has no pinned public key to verify it against; pin the signer's key first (SetModelSigning)");
        }

        return ArtifactSignatures.Signer(model.Keys, Convert.FromHexString(digest), signature)
            ?? throw new MonitorException(ErrorKind.InvalidArgument,
                $"signature: does not verify against any of the model's pinned keys ({Fingerprints(model)}) over the artifact's SHA-256 {digest} " +
                "(expected ECDSA P-256 over the digest, DER or raw r||s, or Ed25519 over the 32 digest bytes; bytes or base64)");
    }

    private static string Fingerprints(ModelEntry model) =>
        model.Keys.Count == 0 ? "none pinned" : string.Join(", ", model.Keys.Select(k => k.Fingerprint));

    /// <summary>Hashes the artifact at <paramref name="path"/> before a version is registered with it: unreadable or another digest is refused.</summary>
    private static void CheckArtifactAtRegistration(string path, string digest)
    {
        if (!Path.IsPathFullyQualified(path))
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"artifact_path: '{Truncate(path)}' is not an absolute path (a path the sidecar can read, on a volume shared with the serving container)");
        }

        (string? hashed, string? error) = HashArtifact(path);
        if (hashed is null)
        {
            throw new MonitorException(ErrorKind.FailedPrecondition, $"artifact_path: the sidecar cannot read {path}: {error}");
        }

        // The file's own digest is not quoted: it would tell an admin the SHA-256 of any file the sidecar can read.
        if (hashed != digest)
        {
            throw new MonitorException(ErrorKind.InvalidArgument,
                $"artifact_path: the file the sidecar read at {path} does not hash to artifact_sha256 {digest} " +
                "(hash the artifact where it was built: sha256sum FILE, or drift versions register --artifact FILE)");
        }
    }

    /// <summary>
    /// The sidecar's unsafe-deserialisation scan of the artifact (read, never loaded): the scan's summary when it is unsafe
    /// (<c>Unsafe</c>), or when it was not inspected (<c>NotRead</c>: an ONNX graph, a format the scan does not read), which
    /// is said in the log and the audit but does not block trust; both empty when the scan found it safe.
    /// </summary>
    private static (string Unsafe, string NotRead) ScanArtifact(string path) => Core.Provenance.ArtifactScanner.Scan(path) switch
    {
        { Verdict: Core.Provenance.ScanVerdict.Unsafe } report => (report.Summary, ""),
        { Verdict: Core.Provenance.ScanVerdict.NotInspected or Core.Provenance.ScanVerdict.UnknownFormat } report => ("", report.Summary),
        _ => ("", ""),
    };

    /// <summary>The file's lower-case hex SHA-256, or why it could not be read.</summary>
    private static (string? Digest, string? Error) HashArtifact(string path)
    {
        try
        {
            using FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            return (Convert.ToHexStringLower(SHA256.HashData(stream)), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e.Message);
        }
    }

    private void StartArtifactChecks() =>
        _artifactTimer = _time.CreateTimer(_ => CheckArtifacts(), null, TimeSpan.Zero, _options.Provenance.ArtifactCheckInterval);

    /// <summary>
    /// Hashes every artifact the sidecar can read of a version that is not quarantined: a digest other than the registered one, of a
    /// file not written for <see cref="SettleTime"/>, is a verified swap (the model's pipeline quarantines the version and signals a
    /// rollback); a file written more recently is checked again once it settled; an unreadable file raises a warning once.
    /// </summary>
    internal void CheckArtifacts()
    {
        if (Interlocked.Exchange(ref _checkingArtifacts, 1) == 1)
        {
            return;
        }

        bool recheck = false;
        try
        {
            foreach (ModelEntry model in _models.All)
            {
                foreach (VersionEntry version in model.Versions.Values)
                {
                    if (version.ArtifactPath.Length == 0 || version.State == VersionState.Quarantined || Volatile.Read(ref _disposed) == 1)
                    {
                        continue;
                    }

                    DateTime writtenBefore = LastWritten(version.ArtifactPath);
                    (string? digest, string? error) = HashArtifact(version.ArtifactPath);
                    if (digest is not null && digest != version.ArtifactSha256 && !Settled(version.ArtifactPath, writtenBefore))
                    {
                        recheck = true;
                        continue;
                    }

                    if (digest == version.ArtifactSha256)
                    {
                        version.ArtifactVerifiedAt = _time.GetUtcNow();
                        if (_unreadableArtifacts.Remove(version) && !_pipelines.Of(model).TryArtifactHashed(version, digest, null))
                        {
                            _unreadableArtifacts.Add(version);
                        }
                    }
                    else if (digest is not null)
                    {
                        ArtifactMismatch(_logger, model.Name, version.Version, version.ArtifactPath, digest, version.ArtifactSha256);
                        _pipelines.Of(model).TryArtifactHashed(version, digest, null);
                    }
                    else if (_unreadableArtifacts.Add(version))
                    {
                        ArtifactUnreadable(_logger, model.Name, version.Version, version.ArtifactPath, error!);
                        if (!_pipelines.Of(model).TryArtifactHashed(version, null, error))
                        {
                            _unreadableArtifacts.Remove(version);
                        }
                    }
                }
            }
        }
        catch (Exception ex)
        {
            ArtifactCheckFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _checkingArtifacts, 0);
        }

        if (recheck && Volatile.Read(ref _disposed) == 0 && SettleTime < _options.Provenance.ArtifactCheckInterval)
        {
            _artifactTimer?.Change(SettleTime, _options.Provenance.ArtifactCheckInterval);
        }
    }

    /// <summary>When the file was last written (wall clock, as the file system keeps it); MinValue when it cannot be read.</summary>
    private static DateTime LastWritten(string path)
    {
        try
        {
            return File.GetLastWriteTimeUtc(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return DateTime.MinValue;
        }
    }

    /// <summary>Whether the file was not written while it was hashed, nor for <see cref="SettleTime"/> before.</summary>
    private static bool Settled(string path, DateTime writtenBefore)
    {
        DateTime writtenAfter = LastWritten(path);
        return writtenAfter == writtenBefore && DateTime.UtcNow - writtenAfter >= SettleTime;
    }

    [LoggerMessage(EventId = 90, Level = LogLevel.Critical,
        Message = "Model {Model} version {Version}: the sidecar hashed {Path}: {Digest} differs from the registered {Registered}")]
    private static partial void ArtifactMismatch(ILogger logger, string model, string version, string path, string digest, string registered);

    [LoggerMessage(EventId = 91, Level = LogLevel.Warning, Message = "Model {Model} version {Version}: cannot read the artifact at {Path}: {Error}")]
    private static partial void ArtifactUnreadable(ILogger logger, string model, string version, string path, string error);

    [LoggerMessage(EventId = 92, Level = LogLevel.Error, Message = "Checking the artifacts failed")]
    private static partial void ArtifactCheckFailed(ILogger logger, Exception exception);
}
