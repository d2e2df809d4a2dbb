using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Monitor.Server.Models;

/// <summary>A public key pinned for a model's artifact signatures.</summary>
/// <param name="KeyId">Lower-case hex SHA-256 of the key's DER SubjectPublicKeyInfo.</param>
/// <param name="Algorithm"><see cref="ArtifactSignatures.EcdsaP256"/> or <see cref="ArtifactSignatures.Ed25519"/>.</param>
/// <param name="Pem">The key as PEM SubjectPublicKeyInfo.</param>
internal sealed record SigningKey(string KeyId, string Algorithm, string Pem, DateTimeOffset PinnedAt = default)
{
    /// <summary>How errors and logs name the key: its algorithm and the first 16 hex digits of its id.</summary>
    public string Fingerprint => $"{Algorithm} {KeyId[..16]}";
}

/// <summary>
/// Detached signatures of a model artifact, over the artifact's SHA-256 digest: ECDSA P-256 (what
/// <c>openssl dgst -sha256 -sign</c> and <c>cosign sign-blob --key</c> write: the digest is the signed hash; DER or raw r||s)
/// and Ed25519 (the 32 digest bytes are the message, <c>openssl pkeyutl -sign -rawin</c>). Either as bytes or as base64 text.
/// Compiled into the server and the command line, which verifies before it registers.
/// </summary>
internal static class ArtifactSignatures
{
    public const string EcdsaP256 = "ecdsa-p256";
    public const string Ed25519 = "ed25519";

    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const string Ed25519Oid = "1.3.101.112";

    /// <summary>Reads a PEM SubjectPublicKeyInfo of an ECDSA P-256 or Ed25519 key; a <see cref="FormatException"/> says what is wrong.</summary>
    public static SigningKey ParseKey(string pem, DateTimeOffset pinnedAt = default)
    {
        if (!PemEncoding.TryFind(pem, out PemFields fields))
        {
            throw new FormatException("not a PEM public key: expected a '-----BEGIN PUBLIC KEY-----' block");
        }

        string label = pem[fields.Label];
        if (label != "PUBLIC KEY")
        {
            throw new FormatException($"a PEM '{label}' block; pin the public key (SubjectPublicKeyInfo, '-----BEGIN PUBLIC KEY-----'), " +
                "e.g. from 'openssl pkey -in key.pem -pubout'");
        }

        byte[] der = Convert.FromBase64String(pem[fields.Base64Data]);
        PublicKey key;
        try
        {
            key = PublicKey.CreateFromSubjectPublicKeyInfo(der, out _);
        }
        catch (CryptographicException e)
        {
            throw new FormatException($"the PEM public key does not decode: {e.Message}");
        }

        string algorithm = key.Oid.Value switch
        {
            EcPublicKeyOid when CurveOf(der) == P256Oid => EcdsaP256,
            EcPublicKeyOid => throw new FormatException("an ECDSA key on a curve other than P-256; ECDSA keys must be on P-256 (prime256v1)"),
            Ed25519Oid when key.EncodedKeyValue.RawData.Length == 32 => Ed25519,
            _ => throw new FormatException($"a public key of algorithm {key.Oid.Value} ({key.Oid.FriendlyName}); pin an ECDSA P-256 or Ed25519 key"),
        };
        string canonical = PemEncoding.WriteString("PUBLIC KEY", der) + "\n";
        return new SigningKey(Convert.ToHexStringLower(SHA256.HashData(der)), algorithm, canonical, pinnedAt);
    }

    /// <summary>The signature's bytes: base64 text (a file written by cosign, say) is decoded, anything else taken as it is.</summary>
    public static byte[] DecodeSignature(ReadOnlySpan<byte> signature)
    {
        ReadOnlySpan<byte> text = signature.Trim(" \t\r\n"u8);
        if (text.Length > 0 && IsBase64Text(text))
        {
            byte[] decoded = new byte[text.Length];
            if (Convert.TryFromBase64String(Encoding.ASCII.GetString(text), decoded, out int written))
            {
                return decoded[..written];
            }
        }

        return signature.ToArray();
    }

    /// <summary>Whether <paramref name="signature"/> (bytes or base64 text) is <paramref name="key"/>'s signature of the artifact whose SHA-256 is <paramref name="sha256"/>.</summary>
    public static bool Verify(SigningKey key, ReadOnlySpan<byte> sha256, ReadOnlySpan<byte> signature)
    {
        byte[] sig = DecodeSignature(signature);
        byte[] der = Convert.FromBase64String(key.Pem[PemEncoding.Find(key.Pem).Base64Data]);
        if (key.Algorithm == Ed25519)
        {
            byte[] publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(der, out _).EncodedKeyValue.RawData;
            return sig.Length == 64 && Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(sig, 0, publicKey, 0, sha256.ToArray(), 0, sha256.Length);
        }

        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(der, out _);
        try
        {
            // 64 bytes is r||s, or (rarely: r and s with leading zero bytes) a DER signature: both are tried.
            return sig.Length == 64 && ecdsa.VerifyHash(sha256, sig, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                || ecdsa.VerifyHash(sha256, sig, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>The first of <paramref name="keys"/> the signature verifies against, or null.</summary>
    public static SigningKey? Signer(IEnumerable<SigningKey> keys, ReadOnlySpan<byte> sha256, ReadOnlySpan<byte> signature)
    {
        foreach (SigningKey key in keys)
        {
            if (Verify(key, sha256, signature))
            {
                return key;
            }
        }

        return null;
    }

    private static string? CurveOf(byte[] der)
    {
        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(der, out _);
            return ecdsa.ExportParameters(false).Curve.Oid.Value;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private static bool IsBase64Text(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text)
        {
            if (!(b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'+' or (byte)'/' or (byte)'=' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
