using Grpc.Core;

namespace Monitor.Server.Security;

/// <summary>Who an admin action is recorded as: the actor the request names, and the credential that made it.</summary>
internal static class Audit
{
    /// <summary>Longest actor name, in UTF-8 bytes.</summary>
    public const int MaxActorBytes = 256;

    /// <summary>Longest reason, in UTF-8 bytes: it travels in every rollback signal and alert that quotes it.</summary>
    public const int MaxReasonBytes = 4096;

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

        TooLong("actor", actor, MaxActorBytes);

        Caller? caller = AccessControl.CallerOf(context.GetHttpContext());
        return caller is null || caller.IsDevelopment ? actor : $"{actor} (key {caller.Name})";
    }

    /// <summary>Checks the length of a reason an admin gives; returns it.</summary>
    public static string Reason(string reason)
    {
        TooLong("reason", reason, MaxReasonBytes);
        return reason;
    }

    private static void TooLong(string field, string text, int limit)
    {
        int bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        if (bytes > limit)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: {bytes} bytes; the limit is {limit}"));
        }
    }
}
