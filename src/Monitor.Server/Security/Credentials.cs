using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Monitor.Server.Security;

/// <summary>Who made a request, as far as the sidecar knows, and what they may do.</summary>
internal sealed record Caller(string Name, Roles Roles)
{
    public bool Has(Roles role) => (Roles & role) == role;

    /// <summary>The caller of development mode, which has no credential of its own.</summary>
    public bool IsDevelopment => ReferenceEquals(this, Credentials.Development);
}

/// <summary>
/// The configured credentials, held only as SHA-256 hashes. A presented key is hashed and looked up;
/// nothing compares the key itself.
/// </summary>
internal sealed class Credentials
{
    private readonly Dictionary<string, Caller> _byHash = new(StringComparer.Ordinal);

    public Credentials(IOptions<MonitorOptions> options)
    {
        DevelopmentMode = options.Value.Security.DevelopmentMode;
        foreach (CredentialOptions c in options.Value.Security.Keys)
        {
            // Validated at start-up; a credential whose roles do not parse gets none.
            _byHash[HashOf(c)] = new Caller(c.Name, TryParseRoles(c.Roles, out Roles roles, out _) ? roles : Roles.None);
        }
    }

    public bool DevelopmentMode { get; }

    /// <summary>Everyone is this caller in development mode.</summary>
    public static Caller Development { get; } = new("development", Roles.All);

    /// <summary>The caller a presented key belongs to, or null when no credential has it.</summary>
    public Caller? Find(ReadOnlySpan<char> key)
    {
        if (key.IsEmpty)
        {
            return null;
        }

        Span<byte> utf8 = key.Length <= 256 ? stackalloc byte[Encoding.UTF8.GetMaxByteCount(key.Length)] : new byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        int length = Encoding.UTF8.GetBytes(key, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        return _byHash.GetValueOrDefault(Convert.ToHexStringLower(hash));
    }

    public static string HashOf(CredentialOptions c) => c.Sha256.Length > 0
        ? c.Sha256.ToLowerInvariant()
        : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(c.Token)));

    /// <summary>Parses "ingest, read, admin"; admin includes read.</summary>
    public static bool TryParseRoles(string text, out Roles roles, out string? error)
    {
        roles = Roles.None;
        error = null;
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            switch (part.ToLowerInvariant())
            {
                case "ingest":
                    roles |= Roles.Ingest;
                    break;
                case "read":
                    roles |= Roles.Read;
                    break;
                case "admin":
                    roles |= Roles.Admin | Roles.Read;
                    break;
                default:
                    error = $"names an unknown role '{part}' (known: ingest, read, admin)";
                    return false;
            }
        }

        if (roles == Roles.None)
        {
            error = "is empty: give one or more of ingest, read, admin, separated by commas";
            return false;
        }

        return true;
    }
}
