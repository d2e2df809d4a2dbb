using Monitor.Core;

namespace Monitor.Server.Security;

/// <summary>
/// Bounds on the gRPC calls the sidecar reads at once (Monitor:Calls), so that the memory held by messages being read
/// is a setting, not a function of how many connections and streams the callers open.
/// </summary>
public sealed class CallOptions
{
    /// <summary>Requests of any service but Mirror and Admin are small (queries, acknowledgements): their message limit.</summary>
    public const int SmallMessageBytes = 64 * 1024;

    /// <summary>
    /// gRPC calls read at once per role the method needs (ingest, read, admin), each role with its own count, so that
    /// holders of one key cannot starve calls needing another. A call beyond gets RESOURCE_EXHAUSTED at once, before its
    /// message is read. (It does not wait: on HTTP/2 a waiting call's unread bytes would hold the connection's flow-control
    /// window that the calls being read need.) Watches are bounded by Monitor:Watch:MaxWatchers instead.
    /// </summary>
    public int MaxInFlightPerRole { get; set; } = 8;

    /// <summary>TCP connections open at once over both listeners (Kestrel closes the ones beyond).</summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Calls").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MaxInFlightPerRole", MaxInFlightPerRole, 1, 100_000),
            SettingChecks.Range($"{section}:MaxConnections", MaxConnections, 1, 1_000_000),
        ];
        return problems.OfType<string>();
    }
}
