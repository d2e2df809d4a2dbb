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

/// <summary>
/// Replaces the text of D1 keys (tokens, variants, bigrams, pairs, character n-grams) before a finding is made of them.
/// Bound from the Monitor:Privacy configuration section, checked by <see cref="Problems"/>.
/// </summary>
public sealed class KeyPrivacy
{
    private byte[]? _key;

    public KeyPrivacy()
    {
    }

    public KeyPrivacy(TokenDisplay tokens, string hashKey)
    {
        Tokens = tokens;
        HashKey = hashKey;
    }

    public static KeyPrivacy None { get; } = new(TokenDisplay.Plain, "");

    /// <summary>Plain, Hashed or Redacted: how keys taken from free text appear in findings, alerts and their deliveries.</summary>
    public TokenDisplay Tokens { get; init; } = TokenDisplay.Plain;

    /// <summary>The HMAC key of Hashed and Redacted (at least 16 characters; from a secret).</summary>
    public string HashKey { get; init; } = "";

    private byte[] Key => _key ??= Encoding.UTF8.GetBytes(HashKey);

    /// <summary>What is wrong, naming the keys under <paramref name="section"/> (e.g. "Monitor:Privacy").</summary>
    public IEnumerable<string> Problems(string section)
    {
        if (Tokens != TokenDisplay.Plain && HashKey.Length < 16)
        {
            yield return $"{section}:HashKey must be at least 16 characters when {section}:Tokens is {Tokens} (it keys the HMAC)";
        }
    }

    public DetectorKey Protect(DetectorKey key)
    {
        if (Tokens == TokenDisplay.Plain || key.Detector != DetectorId.D1)
        {
            return key;
        }

        string digest = Convert.ToHexStringLower(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(key.Text)));
        return key with { Text = Tokens == TokenDisplay.Hashed ? $"sha256:{digest[..16]}" : $"[redacted {digest[..8]}]" };
    }

    /// <summary>What an operator computes to recognise a token in hashed findings.</summary>
    public string Hash(string text) =>
        "sha256:" + Convert.ToHexStringLower(HMACSHA256.HashData(Key, Encoding.UTF8.GetBytes(text)))[..16];
}
