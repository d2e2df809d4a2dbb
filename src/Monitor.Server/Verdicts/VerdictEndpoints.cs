using Monitor.Core.Versions;
using Monitor.Server.Hosting;
using Monitor.Server.Persistence;
using Monitor.Server.Registry;

namespace Monitor.Server.Verdicts;

/// <summary>The verdict of a model version as JSON, in the form Argo Rollouts' web metric provider reads.</summary>
internal sealed record VerdictDocument(
    string Model,
    string? Version,
    string Verdict,
    string State,
    int WindowsJudged,
    int ConsecutiveFailing,
    RollbackDocument? Rollback);

internal sealed record RollbackDocument(long Sequence, string From, string? To, string Reason, DateTimeOffset At);

/// <summary>
/// GET /api/v1/verdict/{model}: the verdict of the version serving the model (the one that mirrored the
/// latest batch); GET /api/v1/verdict/{model}/{version}: of that version. Each carries the latest
/// rollback signal of the model, if any. An Argo AnalysisTemplate reads it with
/// <c>successCondition: result.verdict == "Successful"</c> and <c>failureCondition: result.verdict == "Failed"</c>.
/// </summary>
internal static class VerdictEndpoints
{
    public static void Map(WebApplication app, ListenerRoleMetadata http)
    {
        app.MapGet("/api/v1/verdict/{model}", (string model, ModelRegistry registry, SqliteStore store) =>
        {
            if (!registry.TryGet(model, out ModelEntry entry))
            {
                return Results.NotFound(new { error = $"model '{ModelRegistry.Truncate(model)}' is not registered" });
            }

            VersionEntry? serving = entry.ServingVersion is { } name && entry.Versions.TryGetValue(name, out VersionEntry? version) ? version : null;
            return serving is null
                ? Results.Ok(new VerdictDocument(entry.Name, null, nameof(Verdict.Inconclusive), "no traffic yet", 0, 0, Latest(store, entry.Name)))
                : Results.Ok(Document(serving, store));
        }).WithMetadata(http);

        app.MapGet("/api/v1/verdict/{model}/{version}", (string model, string version, ModelRegistry registry, SqliteStore store) =>
            registry.TryGet(model, out ModelEntry entry) && entry.Versions.TryGetValue(version, out VersionEntry? found)
                ? Results.Ok(Document(found, store))
                : Results.NotFound(new
                {
                    error = $"version '{ModelRegistry.Truncate(version)}' of model '{ModelRegistry.Truncate(model)}' is not registered",
                })).WithMetadata(http);
    }

    private static VerdictDocument Document(VersionEntry version, SqliteStore store) => new(
        version.Model,
        version.Version,
        version.State == VersionState.Quarantined ? nameof(Verdict.Failed) : version.Lifecycle.Verdict.ToString(),
        version.State.ToString(),
        version.Lifecycle.WindowsJudged,
        version.Lifecycle.ConsecutiveFailing,
        Latest(store, version.Model));

    private static RollbackDocument? Latest(SqliteStore store, string model) =>
        store.LoadRollbacks(model) is { Count: > 0 } rollbacks
            ? new RollbackDocument(rollbacks[^1].Sequence, rollbacks[^1].From, rollbacks[^1].To, rollbacks[^1].Reason, rollbacks[^1].At)
            : null;
}
