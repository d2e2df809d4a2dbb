using Google.Protobuf;
using Monitor.Protos.V1;
using Monitor.Server.Alerting;
using Monitor.Server.Models;
using Monitor.Server.Reports;
using Monitor.Server.Verdicts;

namespace Monitor.Server.Dashboard;

/// <summary>
/// GET /dashboard: a page served by the sidecar itself (no external assets; charts are SVG drawn by its own script),
/// and the two JSON documents it reads, which need the read role: /api/v1/dashboard (models, versions and their
/// verdicts) and /api/v1/dashboard/{model}/{version} (verdict, firing alerts, the drift report with histograms, and the readiness
/// report of the baseline in force).
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using Stream stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Monitor.Server.Dashboard.dashboard.html")
            ?? throw new InvalidOperationException("the dashboard page is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
    private static readonly System.Text.Json.JsonSerializerOptions Web = new(System.Text.Json.JsonSerializerDefaults.Web);

    public static void Map(WebApplication app, object http, object read)
    {
        // The page holds no data; the documents it reads need the read role (it asks for a key when refused).
        app.MapGet("/dashboard", () => Results.Content(Page.Value, "text/html; charset=utf-8")).WithMetadata(http);

        app.MapGet("/api/v1/dashboard", (ModelCatalog models, IIncidentStore store) => Results.Ok(models.Models
            .OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(m => new
            {
                model = m.Name,
                versions = m.Versions.Values.OrderBy(v => v.RegisteredAt).Select(v => VerdictEndpoints.Document(v, store)),
            }))).WithMetadata(http, read);

        app.MapGet("/api/v1/dashboard/{model}/{version}", async (string model, string version, ModelCatalog models, IIncidentStore store,
            DriftReports reports, Readiness.BaselineReadiness readiness, CancellationToken cancellationToken) =>
        {
            if (!VerdictEndpoints.Find(models, model, version, out VersionEntry? found, out IResult? missing))
            {
                return missing!;
            }

            DriftReport report = await reports.BuildAsync(new DriftReportRequest
            {
                Model = model, Version = version, ClosedWindows = 50, IncludeHistograms = true,
            }, cancellationToken);
            var alerts = store.LoadAlerts(model, version, Core.Detectors.Severity.Info, Core.Alerts.AlertState.Firing, 100).Select(a => new
            {
                id = a.Id,
                severity = a.Alert.Severity.ToString(),
                kind = a.Alert.Kind,
                dedupeKey = a.Alert.DedupeKey,
                firstSeen = a.Alert.FirstSeen,
                windows = a.Alert.Windows,
                evidence = a.Alert.Evidence,
            });
            // The readiness of the baseline the version is judged against (the model's in force).
            Core.Baselines.BaselineProfile? baseline = models.Get(model).Baseline?.Profile;
            string ready = baseline is null ? "null" : Json.Format(ReportTranslation.ToProto(readiness.Of(baseline), readiness.RequiredRecords(baseline)));
            string body = $$"""{"verdict":{{System.Text.Json.JsonSerializer.Serialize(VerdictEndpoints.Document(found!, store), Web)}},"alerts":{{System.Text.Json.JsonSerializer.Serialize(alerts, Web)}},"report":{{Json.Format(report)}},"readiness":{{ready}}}""";
            return Results.Content(body, "application/json");
        }).WithMetadata(http, read);
    }
}
