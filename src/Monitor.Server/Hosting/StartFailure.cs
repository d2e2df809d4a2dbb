using Microsoft.Extensions.Options;
using Monitor.Server.Persistence;

namespace Monitor.Server.Hosting;

/// <summary>Why a sidecar could not start, in words a person can act on, and the exit code to end with.</summary>
internal sealed record StartFailure(string Message, int ExitCode)
{
    /// <summary>The failure <paramref name="exception"/> stands for, or null when it is not a known way of failing to start.</summary>
    public static StartFailure? Of(Exception exception)
    {
        if (exception is OptionsValidationException invalid)
        {
            return new StartFailure(string.Join(Environment.NewLine, ["The configuration is invalid:", .. invalid.Failures.Select(f => $"  - {f}")]), 2);
        }

        if (Find<StoreUnavailableException>(exception) is { } store)
        {
            return new StartFailure(store.Message, 1);
        }

        if (Find<System.Net.Sockets.SocketException>(exception) is { } socket)
        {
            string what = exception is IOException io ? $"{io.Message} ({socket.Message})" : socket.Message;
            return new StartFailure(socket.SocketErrorCode switch
            {
                System.Net.Sockets.SocketError.AddressAlreadyInUse => $"Cannot listen: {what}. Another process holds the port; " +
                    "choose others with --Monitor:Grpc:Port=N --Monitor:Http:Port=M.",
                System.Net.Sockets.SocketError.AddressNotAvailable or System.Net.Sockets.SocketError.AddressFamilyNotSupported =>
                    $"Cannot listen: {what}. The address is not one of this host's; set Monitor:Grpc:Address and Monitor:Http:Address " +
                    "to one of its addresses (127.0.0.1, 0.0.0.0 or ::).",
                _ => $"Cannot listen: {what}. Check Monitor:Grpc:Address/Port and Monitor:Http:Address/Port.",
            }, 1);
        }

        if (exception is IOException failed && failed.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            return new StartFailure($"Cannot listen: {failed.Message}. Check Monitor:Grpc:Address/Port and Monitor:Http:Address/Port; " +
                "another process may hold a port.", 1);
        }

        return null;
    }

    /// <summary>The exception of type T in <paramref name="exception"/> or among its inner exceptions.</summary>
    private static T? Find<T>(Exception? exception)
        where T : Exception
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is T found)
            {
                return found;
            }

            if (exception is AggregateException { InnerExceptions: [var only] })
            {
                return Find<T>(only);
            }
        }

        return null;
    }
}
