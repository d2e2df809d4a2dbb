using System.Text.Json;
using Monitor.Core.Versions;
using Monitor.Server.Alerting;
using Monitor.Server.Models;

namespace Monitor.Server.Verdicts;

/// <summary>The verdict of a model version as JSON, in the form Argo Rollouts' web metric provider reads.</summary>
/// <param name="Rollback">"issued" (a signal away from this version exists), "held" (waiting for a human), or "none".</param>
/// <param name="RollbackRecommended">True while the version is quarantined and a rollback signal away from it was issued.</param>
/// <param name="WindowFalseAlarmRate">The baseline's whole-window false-alarm rate: a bound on the rate of failing windows on clean traffic from drift.</param>
internal sealed record VerdictDocument(
    string Model,
    string? Version,
    string Verdict,
    string State,
    int WindowsJudged,
    int ConsecutiveFailing,
    bool LatestWindowInconclusive,
    string Rollback,
    bool RollbackRecommended,
    double? WindowFalseAlarmRate,
    RollbackDocument? LatestSignal)
{
    /// <summary>
    /// For the model-level verdict: which version was judged and why that one (the worst of the live versions); null
    /// for a version named in the request.
    /// </summary>
    public string? JudgedBecause { get; init; }

    /// <summary>Records the version has been judged on.</summary>
    public long RecordsJudged { get; init; }

    /// <summary>What the version's embeddings are judged against, or why they are not (docs/detectors.md, "Per-version references"); null when none are judged.</summary>
    public string? EmbeddingEvidence { get; init; }

    /// <summary>Which percentiles of confidence D3 judges the version's outputs against (docs/detectors.md, "Per-version references"); null when D3 does not run.</summary>
    public string? ConfidenceEvidence { get; init; }

    /// <summary>Records it must serve before the policy may promote it or call it Successful (Monitor:Versions:MinTriggerRate).</summary>
    public long RecordsRequired { get; init; }

    /// <summary>While the verdict is Inconclusive for want of that evidence: how many records are still needed; null otherwise.</summary>
    public string? Waiting { get; init; }
}

internal sealed record RollbackDocument(long Sequence, string From, string? To, string Reason, DateTimeOffset At, string Actor, bool Acknowledged);

/// <summary>
/// GET /api/v1/verdict/{model}/{version}: the verdict of that version (what a controller should ask).
/// GET /api/v1/verdict/{model}: the model-level verdict, the worst of its live versions (those that mirrored records
/// within Monitor:Versions:LiveFor): Failed over Inconclusive over Successful, the most recently served first among
/// equals; <c>judgedBecause</c> names the version and why. An Argo AnalysisTemplate reads either with
/// <c>successCondition: result.verdict == "Successful"</c> and <c>failureCondition: result.rollbackRecommended</c>.
/// </summary>
internal static class VerdictEndpoints
{
    public static void Map(WebApplication app, params object[] metadata)
    {
        app.MapGet("/api/v1/verdict/{model}", (string model, ModelCatalog models, IIncidentStore store, TimeProvider time,
            Microsoft.Extensions.Options.IOptions<MonitorOptions> options) =>
            models.TryGet(model, out ModelEntry entry)
                ? Results.Ok(ModelVerdict(entry, store, time.GetUtcNow(), options.Value.Versions.LiveFor))
                : Results.NotFound(new { error = $"model '{ModelCatalog.Truncate(model)}' is not registered" })).WithMetadata(metadata);

        app.MapGet("/api/v1/verdict/{model}/{version}", (string model, string version, ModelCatalog models, IIncidentStore store) =>
            Find(models, model, version, out VersionEntry? found, out IResult? missing) ? Results.Ok(Document(found!, store)) : missing)
            .WithMetadata(metadata);
    }

    /// <summary>
    /// Finds a model's version (or, with <paramref name="version"/> null, the one serving it, null before any
    /// traffic); false with a 404 naming what is not registered.
    /// </summary>
    public static bool Find(ModelCatalog models, string model, string? version, out VersionEntry? found, out IResult? missing)
    {
        found = null;
        missing = null;
        if (!models.TryGet(model, out ModelEntry entry))
        {
            missing = Results.NotFound(new { error = $"model '{ModelCatalog.Truncate(model)}' is not registered" });
            return false;
        }

        string? name = version ?? entry.ServingVersion;
        if (name is null)
        {
            return true;
        }

        if (!entry.Versions.TryGetValue(name, out found))
        {
            missing = Results.NotFound(new
            {
                error = $"version '{ModelCatalog.Truncate(name)}' of model '{ModelCatalog.Truncate(model)}' is not registered",
            });
            return false;
        }

        return true;
    }

    public static VerdictDocument Document(VersionEntry version, IIncidentStore store) => Document(version, store, out _);

    /// <summary>The verdict document, and the latest rollback signal away from the version in full (null when none).</summary>
    public static VerdictDocument Document(VersionEntry version, IIncidentStore store, out StoredRollback? signal)
    {
        VersionVerdict verdict = VerdictOf(version, store, out signal);
        return new VerdictDocument(
            version.Model,
            version.Version,
            verdict.Verdict.ToString(),
            version.State.ToString(),
            version.Lifecycle.WindowsJudged,
            version.Lifecycle.ConsecutiveFailing,
            version.Lifecycle.LatestInconclusive,
            verdict.Rollback.ToString().ToLowerInvariant(),
            verdict.RollbackRecommended,
            version.Monitor.Baseline?.Profile.FalseAlarmRate,
            signal is null ? null : new RollbackDocument(signal.Sequence, signal.From, signal.To, signal.Reason, signal.At, signal.Actor,
                signal.AcknowledgedBy is not null))
        {
            RecordsJudged = version.Lifecycle.RecordsJudged,
            RecordsRequired = version.Lifecycle.RequiredRecords,
            Waiting = verdict.Verdict == Verdict.Inconclusive ? version.Lifecycle.Waiting : null,
            EmbeddingEvidence = EmbeddingReferences.Describe(version, version.Monitor.Baseline) is { Length: > 0 } embedding ? embedding : null,
            ConfidenceEvidence = EmbeddingReferences.DescribeConfidence(version, version.Monitor.Baseline) is { Length: > 0 } confidence ? confidence : null,
        };
    }

    /// <summary>The version's verdict as the policy states it, and the latest rollback signal away from it (null when none).</summary>
    public static VersionVerdict VerdictOf(VersionEntry version, IIncidentStore store, out StoredRollback? signal)
    {
        signal = store.LoadRollbackSignals(version.Model, 0).LastOrDefault(r => r.From == version.Version);
        bool held = store.LoadHeldRollbacks(version.Model, pendingOnly: true).Any(h => h.From == version.Version);
        return VersionVerdict.Of(version.Lifecycle, signal?.At, held);
    }

    /// <summary>The verdict of a model no version of which has mirrored traffic yet.</summary>
    public static VerdictDocument NoTraffic(ModelEntry model) => new(
        model.Name, null, nameof(Verdict.Inconclusive), "no traffic yet", 0, 0, false, "none", false,
        model.Baseline?.Profile.FalseAlarmRate, null);

    /// <summary>
    /// The model-level verdict: the worst of the versions live at <paramref name="now"/> (the most recently served first
    /// among equals), so which version mirrored last cannot change it; Inconclusive when none is live.
    /// </summary>
    public static VerdictDocument ModelVerdict(ModelEntry model, IIncidentStore store, DateTimeOffset now, TimeSpan liveFor)
    {
        List<(VersionEntry Version, VerdictDocument Document)> live = [.. model.LiveVersions(now, liveFor).Select(v => (v, Document(v, store)))];
        if (live.Count == 0)
        {
            return NoTraffic(model) with { JudgedBecause = $"no version mirrored records within {liveFor} (Monitor:Versions:LiveFor)" };
        }

        (VersionEntry worst, VerdictDocument document) = live
            .OrderByDescending(l => Severity(l.Document.Verdict))
            .ThenByDescending(l => l.Version.LastServedAt)
            .First();
        string all = string.Join(", ", live.Select(l => $"{l.Version.Version} {l.Document.Verdict}"));
        return document with
        {
            JudgedBecause = $"the worst of the versions live within {liveFor} (Monitor:Versions:LiveFor): {all}; judged {worst.Version}",
        };
    }

    private static int Severity(string verdict) => verdict switch
    {
        nameof(Verdict.Failed) => 2,
        nameof(Verdict.Inconclusive) => 1,
        _ => 0,
    };
}

/// <summary>
/// POST /api/v1/flagger/rollback[/{model}[/{version}]]: the form of a Flagger <c>rollback</c> webhook. Flagger
/// posts {name, namespace, phase, metadata}; the model and version come from the path or from metadata.model
/// and metadata.version. The version is required: a controller acts on the version it rolls out, never on
/// whichever mirrored last. 200 means roll back (the version is quarantined
/// and a rollback signal away from it was issued); 409 means do not (the body says why, including a rollback
/// held for a human); 404 names what is not registered; 400 a body that is not JSON.
/// </summary>
internal static class FlaggerEndpoints
{
    public static void Map(WebApplication app, params object[] metadata)
    {
        app.MapPost("/api/v1/flagger/rollback", (HttpRequest request, ModelCatalog models, IIncidentStore store) =>
            Decide(request, null, null, models, store)).WithMetadata(metadata);
        app.MapPost("/api/v1/flagger/rollback/{model}", (HttpRequest request, string model, ModelCatalog models, IIncidentStore store) =>
            Decide(request, model, null, models, store)).WithMetadata(metadata);
        app.MapPost("/api/v1/flagger/rollback/{model}/{version}", (HttpRequest request, string model, string version, ModelCatalog models,
            IIncidentStore store) => Decide(request, model, version, models, store)).WithMetadata(metadata);
    }

    /// <summary>A string property, or null when absent; a property of another type is a bad request naming it.</summary>
    private static string? Text(JsonElement element, string name, string prefix = "")
    {
        if (!element.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"{prefix}{name} must be a string, got {value.ValueKind.ToString().ToLowerInvariant()}");
        }

        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            throw new FormatException($"{prefix}{name} is not valid Unicode text (it holds an unpaired surrogate)");
        }
    }

    private static async Task<IResult> Decide(HttpRequest request, string? model, string? version, ModelCatalog models, IIncidentStore store)
    {
        string? canary = null;
        if (request.ContentLength is null or > 0)
        {
            try
            {
                using JsonDocument body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
                if (body.RootElement.ValueKind == JsonValueKind.Object)
                {
                    canary = Text(body.RootElement, "name");
                    if (body.RootElement.TryGetProperty("metadata", out JsonElement metadata) && metadata.ValueKind == JsonValueKind.Object)
                    {
                        model ??= Text(metadata, "model", "metadata.");
                        version ??= Text(metadata, "version", "metadata.");
                    }
                }
            }
            catch (JsonException ex)
            {
                return Results.BadRequest(new { error = $"the body is not JSON: {ex.Message}" });
            }
            catch (FormatException ex)
            {
                return Results.BadRequest(new { error = ex.Message });
            }
        }

        if (string.IsNullOrEmpty(model))
        {
            return Results.BadRequest(new { error = "no model: put it in the path (/api/v1/flagger/rollback/{model}) or in metadata.model" });
        }

        if (string.IsNullOrEmpty(version))
        {
            return !models.TryGet(model, out _)
                ? Results.NotFound(new { error = $"model '{ModelCatalog.Truncate(model)}' is not registered" })
                : Results.BadRequest(new
            {
                error = "no version: name the canary's version in the path (/api/v1/flagger/rollback/{model}/{version}) or in metadata.version",
            });
        }

        if (!VerdictEndpoints.Find(models, model, version, out VersionEntry? found, out IResult? missing))
        {
            return missing!;
        }

        VerdictDocument verdict = VerdictEndpoints.Document(found!, store);
        return verdict.RollbackRecommended
            ? Results.Ok(new { rollback = true, canary, verdict })
            : Results.Conflict(new
            {
                rollback = false,
                canary,
                reason = verdict.Rollback == "held" ? "the rollback is held for a human's decision" : $"verdict is {verdict.Verdict}",
                verdict,
            });
    }
}
