using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Monitor.Protos.V1;

namespace Monitor.Client;

/// <summary>Mirrors inferences to the drift monitor. <see cref="Record"/> never throws and never waits.</summary>
public interface IDriftMirror
{
    /// <summary>
    /// Queues one inference: its numeric features, output values, categorical values and text (schema order) and an
    /// optional request id. False when it was dropped (queue full, wrong widths, mirror stopped), which is counted.
    /// </summary>
    bool Record(ReadOnlySpan<float> numeric, ReadOnlySpan<float> scores, ReadOnlySpan<string?> categorical = default,
        ReadOnlySpan<string?> text = default, string? requestId = null);

    /// <summary>
    /// Queues one inference of a shadow or canary rollout with the trusted version's output on the same request
    /// (<see cref="DriftMirrorOptions.PairedVersion"/>, in the layout of <paramref name="scores"/>): paired evidence. False when it
    /// was dropped (as <see cref="Record"/>, and when no paired version is configured or the widths differ), which is counted.
    /// </summary>
    bool RecordPaired(ReadOnlySpan<float> numeric, ReadOnlySpan<float> scores, ReadOnlySpan<float> trustedScores,
        ReadOnlySpan<string?> categorical = default, ReadOnlySpan<string?> text = default, string? requestId = null);

    DriftMirrorStats Stats { get; }
}

/// <summary>What the mirror did so far. Every record ends up sent, or in exactly one of the dropped counts.</summary>
public sealed record DriftMirrorStats(long Queued, long Sent, long DroppedQueueFull, long DroppedInvalid, long DroppedSendFailed,
    long RejectedBySidecar, int QueueDepth, long Batches, long FailedSends, string? ArtifactSha256, string? LastError);

public static class DriftMirrorServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="IDriftMirror"/> and its background sender to an ASP.NET Core or generic host. Bad options stop the
    /// host at start, naming each; nothing the mirror does afterwards throws into the application.
    /// </summary>
    public static IServiceCollection AddDriftMirror(this IServiceCollection services, Action<DriftMirrorOptions> configure)
    {
        if (services.Any(d => d.ServiceType == typeof(DriftMirror)))
        {
            throw new InvalidOperationException("AddDriftMirror was called twice; one mirror per process (configure it once)");
        }

        services.AddOptions<DriftMirrorOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DriftMirrorOptions>, DriftMirrorOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<DriftMirror>();
        services.AddSingleton<IDriftMirror>(provider => provider.GetRequiredService<DriftMirror>());
        services.AddHostedService(provider => provider.GetRequiredService<DriftMirror>());
        return services;
    }
}

internal sealed class DriftMirrorOptionsValidator : IValidateOptions<DriftMirrorOptions>
{
    public ValidateOptionsResult Validate(string? name, DriftMirrorOptions options) =>
        options.Validate() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors.Select(e => $"DriftMirror: {e}")) : ValidateOptionsResult.Success;
}
