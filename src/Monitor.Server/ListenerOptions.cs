namespace Monitor.Server;

public sealed class ListenerOptions
{
    /// <summary>IP address to bind; 127.0.0.1 by default, 0.0.0.0 or :: for every interface.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; set; }
}
