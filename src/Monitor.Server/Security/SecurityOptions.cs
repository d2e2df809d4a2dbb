using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Monitor.Server.Security;

/// <summary>
/// Who may call what, and TLS. With no credentials configured the sidecar runs in development mode:
/// every caller has every role, and both listeners must be bound to loopback.
/// </summary>
public sealed class SecurityOptions
{
    /// <summary>API keys or bearer tokens, each with its roles. Empty = development mode (loopback only).</summary>
    public List<CredentialOptions> Keys { get; set; } = [];

    public TlsOptions Tls { get; set; } = new();

    /// <summary>Require the read role for /metrics too (it is open by default, for scrapers without credentials).</summary>
    public bool ProtectMetrics { get; set; }

    /// <summary>
    /// Let the verdict and Flagger endpoints be read without a credential (for controllers that cannot send one).
    /// They disclose verdicts only; everything else still needs its role.
    /// </summary>
    public bool OpenVerdicts { get; set; }

    public bool DevelopmentMode => Keys.Count == 0;
}

/// <summary>
/// One credential. Give either <see cref="Sha256"/> (the hex SHA-256 of the key, so configuration never holds the key)
/// or <see cref="Token"/> (the key itself, e.g. from a mounted secret; it is hashed at start-up and not kept).
/// Callers present it as "authorization: Bearer KEY" or "x-api-key: KEY".
/// </summary>
public sealed class CredentialOptions
{
    /// <summary>Names the caller in logs, metrics, audit entries and rate limits.</summary>
    public string Name { get; set; } = "";

    public string Sha256 { get; set; } = "";

    public string Token { get; set; } = "";

    /// <summary>Comma-separated: ingest, read, admin (admin includes read).</summary>
    public string Roles { get; set; } = "";
}

/// <summary>TLS on both listeners from PEM files; a client CA turns on mutual TLS.</summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) of the sidecar; empty = plaintext.</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>PEM private key of that certificate.</summary>
    public string KeyPath { get; set; } = "";

    /// <summary>PEM certificate of the CA that issues client certificates; set = clients must present one (mTLS).</summary>
    public string ClientCaPath { get; set; } = "";

    public bool Enabled => CertificatePath.Length > 0;
}

/// <summary>The roles a credential can hold.</summary>
[Flags]
public enum Roles
{
    None = 0,

    /// <summary>Mirror inferences.</summary>
    Ingest = 1,

    /// <summary>Read reports, alerts, verdicts, signals, models and baselines.</summary>
    Read = 2,

    /// <summary>Register, upload baselines, promote, quarantine, roll back, acknowledge, decide held rollbacks. Includes read.</summary>
    Admin = 4,

    All = Ingest | Read | Admin,
}

internal static class SecurityValidation
{
    public static void Validate(MonitorOptions o, List<string> errors)
    {
        SecurityOptions s = o.Security;
        if (s.DevelopmentMode)
        {
            foreach ((string key, ListenerOptions listener) in new[] { ("Monitor:Grpc:Address", o.Grpc), ("Monitor:Http:Address", o.Http) })
            {
                if (IPAddress.TryParse(listener.Address, out IPAddress? address) && !IPAddress.IsLoopback(address))
                {
                    errors.Add($"{key} is {listener.Address}, but Monitor:Security:Keys is empty (development mode, every caller has every role), " +
                        "which is allowed on loopback only: configure credentials or bind to 127.0.0.1");
                }
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var hashes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < s.Keys.Count; i++)
        {
            CredentialOptions c = s.Keys[i];
            string key = $"Monitor:Security:Keys:{i}";
            if (string.IsNullOrWhiteSpace(c.Name) || !c.Name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.'))
            {
                errors.Add($"{key}:Name must be letters, digits, '-', '_' or '.', got '{c.Name}'");
            }
            else if (!names.Add(c.Name))
            {
                errors.Add($"{key}:Name '{c.Name}' is used by another credential");
            }

            if ((c.Sha256.Length > 0) == (c.Token.Length > 0))
            {
                errors.Add($"{key}: give exactly one of Sha256 (the hex SHA-256 of the key) and Token (the key itself)");
            }
            else if (c.Sha256.Length > 0 && (c.Sha256.Length != 64 || !c.Sha256.All(char.IsAsciiHexDigit)))
            {
                errors.Add($"{key}:Sha256 must be 64 hex digits (sha256sum of the key), got {c.Sha256.Length} characters");
            }
            else if (c.Token.Length > 0 && c.Token.Length < 16)
            {
                errors.Add($"{key}:Token must be at least 16 characters");
            }
            else if (!hashes.Add(Credentials.HashOf(c)))
            {
                errors.Add($"{key} has the same key as another credential");
            }

            if (!Credentials.TryParseRoles(c.Roles, out _, out string? roleError))
            {
                errors.Add($"{key}:Roles {roleError}");
            }
        }

        TlsOptions tls = s.Tls;
        if (!tls.Enabled)
        {
            if (tls.KeyPath.Length > 0 || tls.ClientCaPath.Length > 0)
            {
                errors.Add("Monitor:Security:Tls:KeyPath or ClientCaPath is set without Monitor:Security:Tls:CertificatePath");
            }

            return;
        }

        try
        {
            using X509Certificate2 certificate = TlsSetup.LoadServerCertificate(tls);
        }
        catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException or ArgumentException)
        {
            errors.Add($"Monitor:Security:Tls: cannot load the certificate '{tls.CertificatePath}' with key '{tls.KeyPath}': {ex.Message}");
        }

        if (tls.ClientCaPath.Length > 0)
        {
            try
            {
                TlsSetup.LoadClientCa(tls).Dispose();
            }
            catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException)
            {
                errors.Add($"Monitor:Security:Tls:ClientCaPath: cannot load '{tls.ClientCaPath}': {ex.Message}");
            }
        }
    }
}
