using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Monitor.Server.Metrics;

namespace Monitor.Server.Security;

/// <summary>
/// Admits at most <see cref="CallOptions.MaxInFlightPerRole"/> gRPC calls at once for each role a method needs, before
/// the call's message is read (it runs after <see cref="AccessControl"/>, so anonymous calls never get this far). A call
/// beyond is answered RESOURCE_EXHAUSTED naming the setting; a streaming call holds its place until it ends. Watch calls
/// are not counted: Monitor:Watch:MaxWatchers bounds them, and their requests are small.
/// </summary>
internal sealed class CallLimiter(IOptions<MonitorOptions> options, MonitorMetrics metrics)
{
    private readonly int _limit = options.Value.Calls.MaxInFlightPerRole;
    private readonly int[] _inFlight = new int[3];

    /// <summary>Calls being read now that need <paramref name="role"/>.</summary>
    public int InFlight(Roles role) => Volatile.Read(ref _inFlight[Slot(role)]);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is not { } method
            || method.Method.Type == MethodType.ServerStreaming
            || AccessControl.RoleFor(method.Method.ServiceName, method.Method.Name) is not { } role)
        {
            await next(context);
            return;
        }

        int slot = Slot(role);
        if (Interlocked.Increment(ref _inFlight[slot]) > _limit)
        {
            Interlocked.Decrement(ref _inFlight[slot]);
            metrics.LimitBreaches.WithLabels("calls_in_flight").Inc();
            AccessControl.WriteGrpcStatus(context.Response, StatusCode.ResourceExhausted,
                $"{_limit} calls needing the {role.ToString().ToLowerInvariant()} role are in flight (Monitor:Calls:MaxInFlightPerRole); " +
                "this call was not read: retry after a pause");
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight[slot]);
        }
    }

    private static int Slot(Roles role) => role switch
    {
        Roles.Ingest => 0,
        Roles.Read => 1,
        _ => 2,
    };
}
