using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Monitor.Client;

/// <summary>The client SDK's log messages, source-generated, with stable event ids.</summary>
internal static partial class ClientLog
{
    [LoggerMessage(1, LogLevel.Information, "Mirroring {Model} {Version} (artifact {Path}, SHA-256 {Digest}) to {Address}")]
    public static partial void Mirroring(ILogger logger, string model, string version, string path, string digest, Uri address);

    [LoggerMessage(2, LogLevel.Error, "Cannot read the model artifact {Path} to compute its SHA-256 ({Error}); records are not sent until it can be read")]
    public static partial void ArtifactUnreadable(ILogger logger, string path, string error);

    [LoggerMessage(3, LogLevel.Debug, "Mirroring {Records} records failed: {Status} {Detail}")]
    public static partial void SendFailed(ILogger logger, int records, StatusCode status, string detail);

    [LoggerMessage(4, LogLevel.Error, "The drift mirror stopped; records are no longer sent")]
    public static partial void Stopped(ILogger logger, Exception exception);
}
