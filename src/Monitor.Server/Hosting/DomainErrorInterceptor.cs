using Grpc.Core;
using Grpc.Core.Interceptors;
using Monitor.Core;

namespace Monitor.Server.Hosting;

/// <summary>
/// The service edge: a <see cref="MonitorException"/> thrown by the domain (registry, baseline uploads, pipelines)
/// becomes the gRPC status of its kind, with its message. The domain knows nothing of gRPC.
/// </summary>
internal sealed class DomainErrorInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (MonitorException ex)
        {
            throw ErrorStatus.ToRpc(ex);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (MonitorException ex)
        {
            throw ErrorStatus.ToRpc(ex);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (MonitorException ex)
        {
            throw ErrorStatus.ToRpc(ex);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (MonitorException ex)
        {
            throw ErrorStatus.ToRpc(ex);
        }
    }
}
