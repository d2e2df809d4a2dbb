namespace Monitor.Server.Security;

/// <summary>What of mirrored text is kept in findings and alerts.</summary>
public sealed class PrivacyOptions
{
    /// <summary>Plain, Hashed or Redacted: how keys taken from free text appear in findings, alerts and their deliveries.</summary>
    public Core.Detectors.TokenDisplay Tokens { get; set; } = Core.Detectors.TokenDisplay.Plain;

    /// <summary>The HMAC key of Hashed and Redacted (at least 16 characters; from a secret).</summary>
    public string HashKey { get; set; } = "";

    public Core.Detectors.KeyPrivacy ToKeyPrivacy() =>
        Tokens == Core.Detectors.TokenDisplay.Plain ? Core.Detectors.KeyPrivacy.None : new Core.Detectors.KeyPrivacy(Tokens, HashKey);
}
