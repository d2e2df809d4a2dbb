using System.Collections.Concurrent;
using Grpc.Core;
using Monitor.Core.Baselines;
using Monitor.Core.Windows;
using Monitor.Protos.V1;
using Monitor.Server.Alerting;
using Monitor.Server.Baselines;
using Monitor.Server.Ingest;
using Monitor.Server.Models;

namespace Monitor.Server.Reports;

/// <summary>The gRPC reports service: drift reports and verdicts of a model version.</summary>
internal sealed class ReportService(DriftReports reports, ModelCatalog models, IIncidentStore store) : Protos.V1.Reports.ReportsBase
{
    public override Task<DriftReport> GetDriftReport(DriftReportRequest request, ServerCallContext context) =>
        reports.BuildAsync(request, context.CancellationToken);

    /// <summary>The document the verdict endpoint serves, as a message; an unknown model or version is NOT_FOUND.</summary>
    public override Task<VersionVerdict> GetVerdict(GetVerdictRequest request, ServerCallContext context)
    {
        ModelEntry model = models.Get(request.Model);
        string? name = request.Version.Length > 0 ? request.Version : model.ServingVersion;
        StoredRollback? signal = null;
        Verdicts.VerdictDocument document = name is null
            ? Verdicts.VerdictEndpoints.NoTraffic(model)
            : Verdicts.VerdictEndpoints.Document(models.GetVersion(request.Model, name), store, out signal);
        var verdict = new VersionVerdict
        {
            Model = document.Model,
            Version = document.Version ?? "",
            Verdict = document.Verdict,
            State = document.State,
            WindowsJudged = (uint)document.WindowsJudged,
            ConsecutiveFailing = (uint)document.ConsecutiveFailing,
            LatestWindowInconclusive = document.LatestWindowInconclusive,
            Rollback = document.Rollback,
            RollbackRecommended = document.RollbackRecommended,
            LatestSignal = signal is null ? null : RollbackSignalHub.ToProto(signal),
            RecordsJudged = (ulong)Math.Max(document.RecordsJudged, 0),
            RecordsRequired = (ulong)Math.Max(document.RecordsRequired, 0),
            Waiting = document.Waiting ?? "",
            EmbeddingEvidence = document.EmbeddingEvidence ?? "",
            ConfidenceEvidence = document.ConfidenceEvidence ?? "",
        };
        if (document.WindowFalseAlarmRate is double rate)
        {
            verdict.WindowFalseAlarmRate = rate;
        }

        return Task.FromResult(verdict);
    }
}

/// <summary>Builds drift reports of a model version (for the gRPC service and the dashboard).</summary>
internal sealed class DriftReports(ModelCatalog models, ModelPipelines pipelines, IBaselineStore store)
{
    private const int DefaultClosedWindows = 10;
    private readonly ConcurrentDictionary<long, BaselineProfile?> _profiles = new();

    /// <summary>The report; an unknown model or version throws NOT_FOUND.</summary>
    public async Task<DriftReport> BuildAsync(DriftReportRequest request, CancellationToken cancellationToken)
    {
        VersionEntry version = models.GetVersion(request.Model, request.Version);
        ModelEntry model = models.Get(request.Model);
        int closedWindows = request.ClosedWindows == 0 ? DefaultClosedWindows : (int)Math.Min(request.ClosedWindows, 10_000);
        VersionSnapshot snapshot = await pipelines.Of(model).SnapshotAsync(version, closedWindows, cancellationToken);
        var report = new DriftReport
        {
            Model = model.Name,
            Version = version.Version,
            RecordsAccepted = (ulong)version.RecordsAccepted,
            RecordsDigestMismatch = (ulong)version.RecordsDigestMismatch,
        };
        if (snapshot.Baseline is { } baseline)
        {
            report.BaselineId = baseline.Profile.Id;
            report.WindowRecords = (uint)baseline.Profile.WindowRecords;
            report.FalseAlarmRate = baseline.Profile.FalseAlarmRate;
            report.WindowsJudgedAgainstBaseline = (uint)snapshot.Fit.Judged;
            report.WindowsDriftedAgainstBaseline = (uint)snapshot.Fit.Drifted;
            report.ReferenceWarning = snapshot.Fit.Warning(model.Name, version.Version, version.State, baseline.Profile) ?? "";
            report.EmbeddingEvidence = EmbeddingReferences.Describe(version, baseline);
            report.ConfidenceEvidence = EmbeddingReferences.DescribeConfidence(version, baseline);
        }
        else
        {
            report.Status = $"model '{model.Name}' has no baseline in force: records are counted but not judged " +
                "(upload a reference set with BeginBaseline / AppendBaseline / CommitBaseline)";
        }

        if (snapshot.Current is { } current)
        {
            report.Current = ReportTranslation.ToProto(current, Profile(current, request.IncludeHistograms, snapshot.Baseline));
        }

        foreach (WindowResult window in snapshot.Closed)
        {
            report.Closed.Add(ReportTranslation.ToProto(window, Profile(window, request.IncludeHistograms, snapshot.Baseline)));
        }

        report.Findings.AddRange(snapshot.Findings.Select(ReportTranslation.ToProto));
        if (snapshot.Baseline is not null && snapshot.Closed.Count == 0)
        {
            report.Status = $"no window closed yet: {snapshot.Current?.Records ?? 0} of {report.WindowRecords} records in the open window";
        }

        return report;
    }

    private BaselineProfile? Profile(WindowResult window, bool includeHistograms, CompiledBaseline? inForce)
    {
        if (!includeHistograms)
        {
            return null;
        }

        if (inForce is not null && inForce.Profile.Id == window.BaselineId)
        {
            return inForce.Profile;
        }

        return _profiles.GetOrAdd(window.BaselineId, store.LoadBaseline);
    }
}
