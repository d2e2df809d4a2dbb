using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Monitor.Tests.Shared;

/// <summary>One request a <see cref="Receiver"/> got, and what it answered.</summary>
internal sealed record ReceivedRequest(string Path, IReadOnlyDictionary<string, string> Headers, string Body, int Status, DateTimeOffset At);

/// <summary>
/// A real HTTP receiver on a loopback port: records every request, and answers with whatever
/// <see cref="Answer"/> says (200 by default). Stands for a webhook endpoint or Alertmanager's receiver.
/// </summary>
internal sealed class Receiver : IAsyncDisposable
{
    private WebApplication? _app;
    private int _count;

    private Receiver(Func<int, int> answer) => Answer = answer;

    public int Port { get; private set; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>Chooses the status of each request from its number (1 for the first request received).</summary>
    public Func<int, int> Answer { get; }

    /// <summary>How long the receiver takes before it answers (a slow receiver); zero by default.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>A loopback port nothing listens on (yet).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <param name="answer">The status for the n-th request (from 1); 200 for every one by default.</param>
    public static async Task<Receiver> StartAsync(int port = 0, Func<int, int>? answer = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        WebApplication app = builder.Build();
        var receiver = new Receiver(answer ?? (_ => 200));
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            string body = await reader.ReadToEndAsync();
            if (receiver.Delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(receiver.Delay, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return; // the sender gave up waiting
                }
            }

            int status = receiver.Answer(Interlocked.Increment(ref receiver._count));
            receiver.Requests.Enqueue(new ReceivedRequest(context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(),
                StringComparer.OrdinalIgnoreCase), body, status, DateTimeOffset.UtcNow));
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(status < 300 ? "ok" : "unavailable");
        });
        receiver._app = app;
        await app.StartAsync();
        receiver.Port = new Uri(app.Urls.First()).Port;
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app!.StopAsync();
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
