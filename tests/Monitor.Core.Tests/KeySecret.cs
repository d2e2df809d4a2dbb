using System.Globalization;
using System.Runtime.CompilerServices;
using Monitor.Core.Detectors;

namespace Monitor.Core.Tests;

/// <summary>
/// Key hashes are keyed with a secret drawn per process (<see cref="KeyHash"/>), so sketch collisions, and with them a
/// detector's exact counts, differ from run to run. <c>MONITOR_TEST_KEY_SECRET</c> (hex) fixes the secret, so a failure
/// seen under one secret can be reproduced.
/// </summary>
internal static class KeySecret
{
    [ModuleInitializer]
    internal static void Adopt()
    {
        string? text = Environment.GetEnvironmentVariable("MONITOR_TEST_KEY_SECRET");
        if (!string.IsNullOrWhiteSpace(text)
            && ulong.TryParse(text.Trim().Replace("0x", "", StringComparison.OrdinalIgnoreCase), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong secret)
            && !KeyHash.Adopt(secret))
        {
            throw new InvalidOperationException("MONITOR_TEST_KEY_SECRET could not be adopted: keys were hashed before the tests started.");
        }
    }
}
