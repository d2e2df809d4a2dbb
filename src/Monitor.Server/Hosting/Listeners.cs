using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Monitor.Server.Hosting;

/// <summary>Which of the sidecar's two ports an endpoint is served on.</summary>
internal enum ListenerRole
{
    /// <summary>HTTP/2 for gRPC (plaintext, or TLS when configured).</summary>
    Grpc,

    /// <summary>HTTP/1.1 for /metrics, /healthz and the later HTTP endpoints.</summary>
    Http,
}

/// <summary>Endpoint metadata: serve this endpoint only on connections of the given listener.</summary>
internal sealed record ListenerRoleMetadata(ListenerRole Role);

/// <summary>
/// The two listeners and the ports they are bound to. Connections are tagged with their listener, so
/// an endpoint is confined to its port whatever Host header a proxy sends.
/// </summary>
internal sealed class Listeners
{
    private const string Key = "monitor.listener";

    public ListenOptions? Grpc { get; private set; }
    public ListenOptions? Http { get; private set; }

    /// <summary>The bound gRPC port (known once the server started; a configured 0 becomes the chosen port).</summary>
    public int GrpcPort => Grpc?.IPEndPoint?.Port ?? 0;

    public int HttpPort => Http?.IPEndPoint?.Port ?? 0;

    public void Configure(KestrelServerOptions kestrel, MonitorOptions options)
    {
        kestrel.Limits.MaxConcurrentConnections = options.Calls.MaxConnections;
        kestrel.Listen(System.Net.IPAddress.Parse(options.Grpc.Address), options.Grpc.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            Security.TlsSetup.Apply(listen, options.Security.Tls);
            listen.Use(Tag(ListenerRole.Grpc));
            Grpc = listen;
        });
        kestrel.Listen(System.Net.IPAddress.Parse(options.Http.Address), options.Http.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            Security.TlsSetup.Apply(listen, options.Security.Tls);
            listen.Use(Tag(ListenerRole.Http));
            Http = listen;
        });
    }

    /// <summary>
    /// Answers 404 when an endpoint is reached through the other listener. Request bodies on the HTTP listener (the
    /// Flagger webhook's JSON) are limited to 64 KiB; gRPC calls have their own limit per service.
    /// </summary>
    public static async Task ConfineAsync(HttpContext context, RequestDelegate next)
    {
        ListenerRoleMetadata? required = context.GetEndpoint()?.Metadata.GetMetadata<ListenerRoleMetadata>();
        ListenerRole? actual = context.Features.Get<IConnectionItemsFeature>()?.Items is { } items
            && items.TryGetValue(Key, out object? role) && role is ListenerRole tagged ? tagged : null;
        if (required is not null && actual is not null && actual != required.Role)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (actual == ListenerRole.Http && context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } body)
        {
            body.MaxRequestBodySize = Security.CallOptions.SmallMessageBytes;
        }

        await next(context);
    }

    private static Func<ConnectionDelegate, ConnectionDelegate> Tag(ListenerRole role) =>
        next => connection =>
        {
            connection.Items[Key] = role;
            return next(connection);
        };
}
