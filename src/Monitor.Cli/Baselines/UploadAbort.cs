using Grpc.Core;
using Monitor.Cli.Sidecar;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>Aborts an interrupted import or capture, so that the baseline in force stays as it was.</summary>
internal static class UploadAbort
{
    private static TimeSpan Timeout => TimeSpan.FromSeconds(5);

    /// <summary>
    /// Aborts the upload with a short deadline of its own (the command's token may be what was cancelled, and Ctrl-C
    /// leaves ten seconds); when that fails, says what state the upload is in.
    /// </summary>
    public static async Task RunAsync(Terminal.Console console, SidecarConnection sidecar, string uploadId)
    {
        CallOptions call = new(sidecar.Unary(CancellationToken.None).Headers, DateTime.UtcNow + Timeout);
        try
        {
            await sidecar.Admin.AbortBaselineAsync(new AbortBaselineRequest { UploadId = uploadId }, call);
            console.Note($"Upload {uploadId} aborted: the baseline in force is unchanged.");
            return;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            // Committing, committed or failed already: say which.
        }
        catch (RpcException e)
        {
            console.Note($"Upload {uploadId} could not be aborted ({e.Status.Detail}); abort it with 'drift baseline abort {uploadId}'. " +
                "Until it is committed, the baseline in force is unchanged.");
            return;
        }

        try
        {
            BaselineUpload upload = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = uploadId },
                new CallOptions(call.Headers, DateTime.UtcNow + Timeout));
            console.Note(upload.State switch
            {
                BaselineUploadState.Committed =>
                    $"Upload {uploadId} was committed after all: baseline {upload.BaselineId} is in force (see 'drift baseline list').",
                BaselineUploadState.Committing =>
                    $"Upload {uploadId} is being committed and can no longer be aborted: it takes force once built (see 'drift baseline list').",
                _ => $"Upload {uploadId} is {upload.State.ToString().ToLowerInvariant()}{(upload.Error.Length > 0 ? $": {upload.Error}" : "")}; " +
                    "the baseline in force is unchanged.",
            });
        }
        catch (RpcException e)
        {
            console.Note($"Upload {uploadId}: its state could not be read ({e.Status.Detail}); see 'drift baseline list'.");
        }
    }
}
