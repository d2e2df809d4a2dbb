using Grpc.Core;

namespace Monitor.Server.Security;

/// <summary>Who an admin action is recorded as: the actor the request names, and the credential that made it.</summary>
internal static class Audit
{
    /// <summary>
    /// Checks that the request names an actor and returns the audited name: "alice (key ops-admin)" when a
    /// credential made the call, the actor alone in development mode.
    /// </summary>
    public static string Actor(string actor, string what, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(actor))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"actor: say who {what}"));
        }

        Caller? caller = AccessControl.CallerOf(context.GetHttpContext());
        return caller is null || caller.IsDevelopment ? actor : $"{actor} (key {caller.Name})";
    }
}
