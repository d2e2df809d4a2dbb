using Grpc.Core;
using Monitor.Core;

namespace Monitor.Server;

/// <summary>The gRPC status of each kind of domain refusal: the one mapping, used by the service edge and by ingest acks.</summary>
internal static class ErrorStatus
{
    /// <summary>The gRPC status code of a domain error kind.</summary>
    public static StatusCode Of(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    public static RpcException ToRpc(MonitorException ex) => new(new Status(Of(ex.Kind), ex.Message));
}
