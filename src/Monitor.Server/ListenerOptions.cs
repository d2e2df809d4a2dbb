namespace Monitor.Server;

public sealed class ListenerOptions
{
    /// <summary>IP address to bind; 127.0.0.1 by default, 0.0.0.0 or :: for every interface.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>What is wrong, naming the keys under <paramref name="section"/> (e.g. "Monitor:Grpc").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        if (!System.Net.IPAddress.TryParse(Address, out System.Net.IPAddress? address))
        {
            yield return $"{section}:Address '{Address}' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::)";
        }
        else if (address.IsIPv4MappedToIPv6)
        {
            yield return $"{section}:Address '{Address}' is an IPv4 address written as IPv6, which cannot be listened on; " +
                $"write {address.MapToIPv4()}";
        }

        if (Core.SettingChecks.Range($"{section}:Port", Port, 0, 65535) is { } port)
        {
            yield return port;
        }
    }
}
