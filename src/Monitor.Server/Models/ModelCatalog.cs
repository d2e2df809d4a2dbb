using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Monitor.Core;

namespace Monitor.Server.Models;

/// <summary>
/// The registered models and their versions in memory, looked up by name from any thread without a lock. Only the
/// registry adds to it (under its lock); every feature reads it.
/// </summary>
internal sealed partial class ModelCatalog
{
    private readonly ConcurrentDictionary<string, ModelEntry> _models = new(StringComparer.Ordinal);

    public IEnumerable<ModelEntry> Models => _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal);

    public int Count => _models.Count;

    /// <summary>Every model, in no order (for a metrics callback that must not sort).</summary>
    public ICollection<ModelEntry> All => _models.Values;

    public bool TryGet(string name, out ModelEntry model) => _models.TryGetValue(name, out model!);

    public ModelEntry Get(string name) =>
        _models.TryGetValue(name, out ModelEntry? model)
            ? model
            : throw new MonitorException(ErrorKind.NotFound, $"model '{Truncate(name)}' is not registered");

    public VersionEntry GetVersion(string model, string version) =>
        Get(model).Versions.TryGetValue(version, out VersionEntry? entry)
            ? entry
            : throw new MonitorException(ErrorKind.NotFound, $"version '{Truncate(version)}' of model '{model}' is not registered");

    /// <summary>Adds or replaces a model; called by the registry only.</summary>
    internal void Add(ModelEntry model) => _models[model.Name] = model;

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

    /// <summary>Caller-supplied text as it may appear in an error message or a log: at most 80 characters, unprintable ones escaped.</summary>
    public static string Truncate(string text) => Core.Text.Printable.Escape(text.Length <= 80 ? text : text[..80] + "…");

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256Pattern();
}
