using System.Security.Cryptography;
using System.Text;

namespace Monitor.Core.Detectors;

/// <summary>How the text of keys taken from free text appears in findings and alerts.</summary>
public enum TokenDisplay
{
    /// <summary>As read: investigators see the trigger itself.</summary>
    Plain,

    /// <summary>"sha256:" and 16 hex digits of an HMAC-SHA256 under a configured key: stable, so an operator holding the key can test a suspected token.</summary>
    Hashed,

    /// <summary>"[redacted 8 hex digits]": findings stay distinct, nothing of the text is shown.</summary>
    Redacted,
}

/// <summary>Replaces the text of D1 keys (tokens, variants, bigrams, pairs, character n-grams) before a finding is made of them.</summary>
public sealed class KeyPrivacy
{
    private readonly byte[] _key;

    public KeyPrivacy(TokenDisplay display, string hashKey)
    {
        Display = display;
        _key = Encoding.UTF8.GetBytes(hashKey);
    }

    public static KeyPrivacy None { get; } = new(TokenDisplay.Plain, "");

    public TokenDisplay Display { get; }

    public DetectorKey Protect(DetectorKey key)
    {
        if (Display == TokenDisplay.Plain || key.Detector != DetectorId.D1)
        {
            return key;
        }

        string digest = Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(key.Text)));
        return key with { Text = Display == TokenDisplay.Hashed ? $"sha256:{digest[..16]}" : $"[redacted {digest[..8]}]" };
    }

    /// <summary>What an operator computes to recognise a token in hashed findings.</summary>
    public string Hash(string text) =>
        "sha256:" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(text)))[..16];
}
