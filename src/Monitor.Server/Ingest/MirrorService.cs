using Grpc.Core;
using Monitor.Protos.V1;

namespace Monitor.Server.Ingest;

/// <summary>The gRPC mirror service: unary and streaming ingest of columnar batches.</summary>
internal sealed class MirrorService(IngestGate gate) : Mirror.MirrorBase
{
    public override Task<MirrorAck> Ingest(MirrorBatch request, ServerCallContext context)
    {
        MirrorAck ack = gate.Submit(request, ClientOf(context));
        return ack.ErrorCode == 0
            ? Task.FromResult(ack)
            : throw new RpcException(new Status((StatusCode)ack.ErrorCode, ack.ErrorMessage));
    }

    public override async Task IngestStream(IAsyncStreamReader<MirrorBatch> requestStream,
        IServerStreamWriter<MirrorAck> responseStream, ServerCallContext context)
    {
        string client = ClientOf(context);
        try
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                await responseStream.WriteAsync(gate.Submit(requestStream.Current, client), context.CancellationToken);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && context.CancellationToken.IsCancellationRequested)
        {
            // The client went away; every batch it sent before was acked or never read.
        }
    }

    /// <summary>The rate-limited client: the credential's name, or the remote address in development mode.</summary>
    private static string ClientOf(ServerCallContext context)
    {
        HttpContext http = context.GetHttpContext();
        Security.Caller? caller = Security.AccessControl.CallerOf(http);
        return caller is null || caller.IsDevelopment
            ? http.Connection.RemoteIpAddress?.ToString() ?? "unknown"
            : caller.Name;
    }
}
