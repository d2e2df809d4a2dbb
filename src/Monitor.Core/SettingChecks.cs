namespace Monitor.Core;

/// <summary>
/// The range checks of settings, each with the message configuration errors carry. A setting's range is checked by the
/// type that declares the setting (its <c>Problems</c>), naming it by its configuration key.
/// </summary>
public static class SettingChecks
{
    /// <summary>Null when <paramref name="value"/> lies in <paramref name="min"/>..<paramref name="max"/>, else what is wrong, naming <paramref name="key"/>.</summary>
    public static string? Range(string key, long value, long min, long max) =>
        value < min || value > max ? $"{key} must lie in {min}..{max}, got {value}" : null;

    /// <summary>Null when <paramref name="value"/> is positive, else what is wrong, naming <paramref name="key"/>.</summary>
    public static string? Positive(string key, TimeSpan value) => value <= TimeSpan.Zero ? $"{key} must be positive, got {value}" : null;
}
