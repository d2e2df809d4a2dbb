using Grpc.AspNetCore.Server;
using Grpc.Core;
using Monitor.Server.Metrics;

namespace Monitor.Server.Security;

/// <summary>Endpoint metadata: an HTTP endpoint needs this role (endpoints without it are open).</summary>
internal sealed record RequiresRole(Roles Role);

/// <summary>
/// Checks every request's credential against the role its endpoint needs, on gRPC and HTTP alike.
/// A gRPC refusal is a proper gRPC status (UNAUTHENTICATED or PERMISSION_DENIED); an HTTP one is 401 or 403.
/// Refusals are logged and counted; the caller is left in <see cref="HttpContext.Items"/> for later stages.
/// </summary>
internal sealed class AccessControl(Credentials credentials, MonitorMetrics metrics, ILogger<AccessControl> logger)
{
    private static readonly object CallerKey = new();

    /// <summary>The authenticated caller of a request (the development caller in development mode).</summary>
    public static Caller? CallerOf(HttpContext context) => context.Items.TryGetValue(CallerKey, out object? caller) ? caller as Caller : null;

    /// <summary>The role a gRPC method needs, or null for methods anyone may call (health).</summary>
    public static Roles? RoleFor(string service, string method) => service switch
    {
        "grpc.health.v1.Health" => null,
        "monitor.v1.Mirror" => Roles.Ingest,
        "monitor.v1.Reports" or "monitor.v1.Alerts" => Roles.Read,
        "monitor.v1.Admin" => method.StartsWith("Get", StringComparison.Ordinal) || method.StartsWith("List", StringComparison.Ordinal)
            ? Roles.Read
            : Roles.Admin,
        "monitor.v1.Rollbacks" => method.StartsWith("List", StringComparison.Ordinal) || method.StartsWith("Watch", StringComparison.Ordinal)
            ? Roles.Read
            : Roles.Admin,
        _ => Roles.Read,
    };

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        Endpoint? endpoint = context.GetEndpoint();
        bool grpc = context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true;
        Roles? required = Required(endpoint, grpc);
        Caller? caller = credentials.DevelopmentMode ? Credentials.Development : credentials.Find(PresentedKey(context.Request));
        if (caller is not null)
        {
            context.Items[CallerKey] = caller;
        }

        if (required is not { } role || (caller is not null && caller.Has(role)))
        {
            await next(context);
            if (grpc)
            {
                CountOversized(context);
            }

            return;
        }

        bool anonymous = caller is null;
        string reason = !anonymous ? "forbidden" : HasAnyKey(context.Request) ? "invalid" : "missing";
        string name = Name(role);
        string message = reason switch
        {
            "missing" => $"this call needs a credential with the {name} role: send 'authorization: Bearer KEY' or 'x-api-key: KEY'",
            "invalid" => "the credential presented is not known to this sidecar",
            _ => $"credential '{caller!.Name}' lacks the {name} role this call needs",
        };
        metrics.AuthRefusals.WithLabels(reason, name).Inc();
        Log.AccessRefused(logger, context.Request.Path, reason, caller?.Name ?? "-", context.Connection.RemoteIpAddress?.ToString() ?? "-");
        if (grpc)
        {
            WriteGrpcStatus(context.Response, anonymous ? StatusCode.Unauthenticated : StatusCode.PermissionDenied, message);
            return;
        }

        context.Response.StatusCode = anonymous ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden;
        if (anonymous)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        await context.Response.WriteAsJsonAsync(new { error = message });
    }

    /// <summary>Counts the calls the gRPC framework refused for a message above Monitor:Ingest:MaxMessageBytes.</summary>
    private void CountOversized(HttpContext context)
    {
        IHeaderDictionary? trailers = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers;
        string? status = trailers?["grpc-status"];
        if (string.IsNullOrEmpty(status))
        {
            status = context.Response.Headers["grpc-status"];
        }

        if (status == "8" && ((string?)trailers?["grpc-message"] ?? context.Response.Headers["grpc-message"].ToString())
            .Contains("exceeds the maximum", StringComparison.Ordinal))
        {
            metrics.LimitBreaches.WithLabels("message_size").Inc();
        }
    }

    /// <summary>A trailers-only gRPC response carrying <paramref name="code"/>.</summary>
    public static void WriteGrpcStatus(HttpResponse response, StatusCode code, string message)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    private Roles? Required(Endpoint? endpoint, bool grpc)
    {
        if (endpoint?.Metadata.GetMetadata<GrpcMethodMetadata>() is { } method)
        {
            return RoleFor(method.Method.ServiceName, method.Method.Name);
        }

        if (endpoint?.Metadata.GetMetadata<RequiresRole>() is { } http)
        {
            return http.Role;
        }

        // Unmatched gRPC paths answer UNIMPLEMENTED only to someone who may read.
        return grpc ? Roles.Read : null;
    }

    private static ReadOnlySpan<char> PresentedKey(HttpRequest request)
    {
        string? authorization = request.Headers.Authorization;
        if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization.AsSpan(7).Trim();
        }

        string? apiKey = request.Headers["x-api-key"];
        return apiKey is null ? default : apiKey.AsSpan().Trim();
    }

    private static bool HasAnyKey(HttpRequest request) =>
        request.Headers.ContainsKey("authorization") || request.Headers.ContainsKey("x-api-key");

    private static string Name(Roles role) => role switch
    {
        Roles.Ingest => "ingest",
        Roles.Read => "read",
        _ => "admin",
    };
}
