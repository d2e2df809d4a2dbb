using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Monitor.Server.Security;

/// <summary>TLS and mutual TLS on a Kestrel listener, from PEM files.</summary>
internal static class TlsSetup
{
    public static X509Certificate2 LoadServerCertificate(TlsOptions tls)
    {
        using X509Certificate2 pem = tls.KeyPath.Length > 0
            ? X509Certificate2.CreateFromPemFile(tls.CertificatePath, tls.KeyPath)
            : X509Certificate2.CreateFromPemFile(tls.CertificatePath);
        if (!pem.HasPrivateKey)
        {
            throw new ArgumentException("the certificate has no private key (set Monitor:Security:Tls:KeyPath)");
        }

        // Re-imported so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    public static X509Certificate2 LoadClientCa(TlsOptions tls) => X509CertificateLoader.LoadCertificateFromFile(tls.ClientCaPath);

    public static void Apply(ListenOptions listen, TlsOptions tls)
    {
        if (!tls.Enabled)
        {
            return;
        }

        X509Certificate2 certificate = LoadServerCertificate(tls);
        X509Certificate2? clientCa = tls.ClientCaPath.Length > 0 ? LoadClientCa(tls) : null;

        // Intermediate certificates after the leaf in the PEM file are served with it.
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(tls.CertificatePath);
        listen.UseHttps(https =>
        {
            https.ServerCertificate = certificate;
            https.ServerCertificateChain = chain.Count > 1 ? [.. chain.Skip(1)] : null;
            if (clientCa is null)
            {
                return;
            }

            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (client, _, _) => IssuedBy(client, clientCa);
        });
    }

    /// <summary>True when <paramref name="client"/> chains to <paramref name="ca"/> (and only to it) and is valid now.</summary>
    public static bool IssuedBy(X509Certificate2 client, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(client);
    }
}

/// <summary>Whether a listener speaks TLS, for the start-up log line.</summary>
internal static class TlsDescription
{
    public static string Of(TlsOptions tls) => !tls.Enabled ? "plaintext" : tls.ClientCaPath.Length > 0 ? "mutual TLS" : "TLS";
}
