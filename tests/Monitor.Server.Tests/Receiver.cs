using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Monitor.Server.Tests;

/// <summary>One request a <see cref="Receiver"/> got, and what it answered.</summary>
internal sealed record ReceivedRequest(string Path, IReadOnlyDictionary<string, string> Headers, string Body, int Status, DateTimeOffset At);

/// <summary>
/// A real HTTP receiver on a loopback port: records every request, and answers with whatever
/// <see cref="Answer"/> says (200 by default). Stands for a webhook endpoint or Alertmanager's receiver.
/// </summary>
internal sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Receiver(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Chooses the status of each request from the count received so far (including this one).</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;

    /// <summary>A loopback port nothing listens on (yet).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<Receiver> StartAsync(int port = 0)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        WebApplication app = builder.Build();
        Receiver? receiver = null;
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            string body = await reader.ReadToEndAsync();
            int count = receiver!.Requests.Count + 1;
            int status = receiver.Answer(count);
            receiver.Requests.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(),
                StringComparer.OrdinalIgnoreCase), body, status, DateTimeOffset.UtcNow));
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(status < 300 ? "ok" : "unavailable");
        });
        await app.StartAsync();
        int bound = new Uri(app.Urls.First()).Port;
        receiver = new Receiver(app, bound);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Polls a condition until it holds or the time is up; the tests' only way to wait for background delivery.</summary>
internal static class Eventually
{
    public static async Task<bool> HoldsAsync(Func<bool> condition, TimeSpan within, CancellationToken cancellationToken = default)
    {
        DateTimeOffset deadline = DateTimeOffset.UtcNow + within;
        while (DateTimeOffset.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(50, cancellationToken);
        }

        return condition();
    }
}
