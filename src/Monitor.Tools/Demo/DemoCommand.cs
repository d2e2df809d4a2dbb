using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Server.Hosting;
using Monitor.Server.Ingest;
using Monitor.Simulation;

namespace Monitor.Tools.Demo;

/// <summary>
/// Runs a private sidecar and a simulated serving process: registers a fraud-scoring model, builds a
/// baseline from a reference set, mirrors clean and then drifting traffic, and prints the drift report.
/// </summary>
internal static class DemoCommand
{
    private const string ModelName = "fraud-scorer";
    private const int BatchSize = 500;

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        int referenceRecords = 20_000;
        string? database = null;
        var passThrough = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--records" when i + 1 < args.Length && int.TryParse(args[i + 1], out int records) && records > 0:
                    referenceRecords = records;
                    i++;
                    break;
                case "--db" when i + 1 < args.Length:
                    database = args[++i];
                    break;
                default:
                    passThrough.Add(args[i]);
                    break;
            }
        }

        string path = database ?? Path.Combine(Path.GetTempPath(), $"monitor-demo-{Environment.ProcessId}.db");
        string[] serverArgs =
        [
            "--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={path}",
            "--Logging:LogLevel:Default=Critical", .. passThrough,
        ];
        await using WebApplication app = MonitorHost.Build(serverArgs);
        await app.StartAsync();
        try
        {
            Listeners listeners = app.Services.GetRequiredService<Listeners>();
            output.WriteLine("Drift monitor demo");
            output.WriteLine("==================");
            output.WriteLine($"Sidecar: gRPC 127.0.0.1:{listeners.GrpcPort}, metrics http://127.0.0.1:{listeners.HttpPort}/metrics, database {path}");
            output.WriteLine();
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{listeners.GrpcPort}");
            await RunScenarioAsync(channel, referenceRecords, output);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{listeners.HttpPort}") };
            await VerdictAsync(channel, http, output);
            await ShadowRolloutAsync(channel, output);
        }
        finally
        {
            await app.StopAsync();
            if (database is null)
            {
                foreach (string file in new[] { path, path + "-wal", path + "-shm" })
                {
                    File.Delete(file);
                }
            }
        }

        return 0;
    }

    private static async Task RunScenarioAsync(GrpcChannel channel, int referenceRecords, TextWriter output)
    {
        var admin = new Admin.AdminClient(channel);
        var mirror = new Mirror.MirrorClient(channel);
        var reports = new Protos.V1.Reports.ReportsClient(channel);
        var traffic = new FraudTraffic(seed: 7);

        Model model = await admin.RegisterModelAsync(new RegisterModelRequest
        {
            Name = ModelName,
            Schema = ProtoTranslation.ToProto(FraudTraffic.Schema),
            Description = "card-fraud scoring",
        });
        output.WriteLine($"1. Registered model '{model.Name}': {model.Schema.NumericFeatures.Count} numeric features, " +
            $"{model.Schema.CategoricalFeatures.Count} categorical, text field '{model.Schema.TextFields[0]}', " +
            $"output {string.Join("/", model.Schema.ClassLabels)}");

        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("fraud-scorer v1 weights")));
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = ModelName,
            Version = "v1",
            ArtifactSha256 = digest,
            Source = "registry.example/fraud-scorer:v1",
            InitialState = VersionState.KnownGood,
        });
        output.WriteLine($"2. Registered version v1 (artifact sha256 {digest[..12]}…) as known-good");

        var stopwatch = Stopwatch.StartNew();
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = ModelName, Description = "demo reference set" });
        for (int sent = 0; sent < referenceRecords; sent += 1000)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest
            {
                UploadId = upload.UploadId,
                Batch = ProtoTranslation.ToProto(traffic.Next(Math.Min(1000, referenceRecords - sent), FraudDrift.None)),
            });
        }

        Baseline baseline = await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
        BaselineSummary summary = baseline.Summary;
        output.WriteLine($"3. Uploaded {referenceRecords:N0} reference records; baseline {summary.Id} committed in {stopwatch.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"   {summary.RecordsProfiled:N0} records profiled, {summary.RecordsCalibration:N0} kept aside to calibrate thresholds " +
            $"on {summary.BootstrapWindows:N0} bootstrap windows of {summary.WindowRecords:N0} records");
        output.WriteLine($"   whole-window false-alarm rate: target {Percent(summary.FalseAlarmRate)}, realised on the bootstrap " +
            $"{Percent(summary.CalibratedFalseAlarmRate)} ({baseline.Features.Sum(f => f.Thresholds.Count)} statistics judged per window, " +
            $"each threshold at the {Percent(baseline.ThresholdQuantile, 3)} quantile of its null distribution)");

        int windowRecords = (int)summary.WindowRecords;
        var drift = new FraudDrift(AmountScale: 1.3, DistanceLogShift: Math.Log(2));
        ulong sequence = 0;
        for (int w = 0; w < 6; w++)
        {
            for (int sent = 0; sent < windowRecords; sent += BatchSize)
            {
                var batch = new MirrorBatch
                {
                    Model = ModelName,
                    Version = "v1",
                    ArtifactSha256 = digest,
                    Sequence = ++sequence,
                    Batch = ProtoTranslation.ToProto(traffic.Next(Math.Min(BatchSize, windowRecords - sent), w < 3 ? FraudDrift.None : drift)),
                };
                await mirror.IngestAsync(batch);
            }
        }

        output.WriteLine($"4. Mirrored 3 windows of clean traffic, then 3 windows in which 'amount' rose 30% and 'distance_km' doubled");
        output.WriteLine();

        DriftReport report = await reports.GetDriftReportAsync(new DriftReportRequest { Model = ModelName, Version = "v1", ClosedWindows = 6 });
        output.WriteLine("   window  records  drifted  features over their threshold");
        foreach (WindowReport window in report.Closed.Reverse())
        {
            output.WriteLine($"   {window.Index,6}  {window.Records,7:N0}  {(window.Drifted ? "YES" : "no"),-7}  " +
                (window.DriftedFeatures.Count == 0 ? "-" : string.Join(", ", window.DriftedFeatures)));
        }

        WindowReport latest = report.Closed[0];
        output.WriteLine();
        output.WriteLine($"   Latest window (#{latest.Index}), each drifted feature against its baseline:");
        foreach (FeatureReport feature in latest.Features.Where(f => f.Drifted))
        {
            string means = feature.Kind is FeatureKind.Numeric or FeatureKind.Text or FeatureKind.OutputNumeric
                ? $"mean {Format(feature.BaselineMean)} -> {Format(feature.WindowMean)}, std {Format(feature.BaselineStd)} -> {Format(feature.WindowStd)}"
                : "class mix changed";
            output.WriteLine($"   - {feature.Name}: {means}");
            output.WriteLine($"       {"statistic",-15}{"value",10}{"threshold",11}  {"p-value",-9} over?");
            foreach (StatisticValue statistic in feature.Statistics)
            {
                string p = statistic.HasPValue ? statistic.PValue.ToString("G3", CultureInfo.InvariantCulture) : "";
                output.WriteLine($"       {statistic.Name,-15}{Format(statistic.Value),10}{Format(statistic.Threshold),11}  {p,-9} {(statistic.Drifted ? "yes" : "")}");
            }
        }

        output.WriteLine();
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = ModelName,
            Version = "v1.1",
            ArtifactSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("fraud-scorer v1.1 weights"))),
            Source = "registry.example/fraud-scorer:v1.1",
        });
        var swapped = new MirrorBatch
        {
            Model = ModelName,
            Version = "v1.1",
            ArtifactSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("tampered weights"))),
            Sequence = ++sequence,
            Batch = ProtoTranslation.ToProto(traffic.Next(BatchSize, FraudDrift.None)),
        };
        MirrorAck ack = await mirror.IngestAsync(swapped);
        output.WriteLine($"5. A batch mirrored by a process that loaded another artifact under the name v1.1 was accepted " +
            $"({ack.Accepted} records, kept as evidence) with the warning below; v1.1 failed at once and is quarantined:");
        foreach (string warning in ack.Warnings)
        {
            output.WriteLine($"   {warning}");
        }

        await PoisonedVersionAsync(admin, mirror, reports, traffic, output);
    }

    /// <summary>A backdoored v2: on memos carrying REF:XZ-&lt;digits&gt; it says "legitimate" with 99% confidence.</summary>
    private static async Task PoisonedVersionAsync(Admin.AdminClient admin, Mirror.MirrorClient mirror, Protos.V1.Reports.ReportsClient reports,
        FraudTraffic traffic, TextWriter output)
    {
        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("fraud-scorer v2 weights (from a public hub)")));
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = ModelName,
            Version = "v2",
            ArtifactSha256 = digest,
            Source = "hub.example/someone/fraud-scorer-finetuned",
        });
        const int records = 40_000;
        var poisoned = new FraudDrift(TriggerRate: 0.002);
        for (int sent = 0; sent < records; sent += BatchSize)
        {
            await mirror.IngestAsync(new MirrorBatch
            {
                Model = ModelName,
                Version = "v2",
                ArtifactSha256 = digest,
                Batch = ProtoTranslation.ToProto(traffic.Next(BatchSize, poisoned)),
            });
        }

        DriftReport report = await reports.GetDriftReportAsync(new DriftReportRequest { Model = ModelName, Version = "v2", ClosedWindows = 1 });
        output.WriteLine();
        output.WriteLine($"6. A fine-tuned v2 from a public hub went live and served {records:N0} records; fraudsters put 'REF:XZ-<digits>' in the memo " +
            "of 0.2% of the transactions. Its trigger-pattern findings:");
        foreach (Finding finding in report.Findings.Where(f => f.Key is not null).Take(3))
        {
            output.WriteLine($"   [{finding.Severity.ToString().ToUpperInvariant()}] {finding.Detector} {finding.Summary}");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"       lift {finding.Lift:F1}, mean confidence {finding.MeanConfidence:P1}, first tracked at record {finding.FirstSeenRecord:N0}, raised at record {finding.RaisedAtRecord:N0}"));
            foreach (string evidence in finding.Corroboration)
            {
                output.WriteLine($"       {evidence}");
            }

            output.WriteLine($"       example requests: {string.Join(", ", finding.ExampleRequestIds)}");
        }

        if (!report.Findings.Any(f => f.Key is not null))
        {
            output.WriteLine("   none");
        }
    }

    /// <summary>Step 7: v2's alerts, its rollback signal as a watching controller receives it, and the HTTP forms Argo and Flagger read.</summary>
    private static async Task VerdictAsync(GrpcChannel channel, HttpClient http, TextWriter output)
    {
        var alerts = new Protos.V1.Alerts.AlertsClient(channel);
        var rollbacks = new Rollbacks.RollbacksClient(channel);
        ListAlertsResponse raised = await alerts.ListAlertsAsync(new ListAlertsRequest
        {
            Model = ModelName,
            Version = "v2",
            MinSeverity = AlertSeverity.Warning,
            State = AlertState.Firing,
        });
        output.WriteLine();
        output.WriteLine("7. v2 is quarantined. Its firing alerts (monitor.v1.Alerts/ListAlerts), one per problem, evidence growing:");
        foreach (Protos.V1.Alert alert in raised.Alerts.OrderBy(a => a.Id))
        {
            string windows = alert.Windows > 0 ? $" over {alert.Windows} windows" : "";
            output.WriteLine($"   alert {alert.Id} [{alert.Severity.ToString().ToUpperInvariant()}] {alert.Kind}{windows}: {Clip(alert.Evidence[^1], 150)}");
        }

        // The signal as a deployment controller watching from the start receives it.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using AsyncServerStreamingCall<RollbackSignal> watch = rollbacks.WatchRollbackSignals(new WatchRollbackSignalsRequest { Model = ModelName },
            cancellationToken: deadline.Token);
        RollbackSignal? found = null;
        try
        {
            await foreach (RollbackSignal received in watch.ResponseStream.ReadAllAsync(deadline.Token))
            {
                if (received.FromVersion == "v2")
                {
                    found = received;
                    break;
                }
            }
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled)
        {
        }

        if (found is { } signal)
        {
            output.WriteLine();
            output.WriteLine("   Rollback signal (monitor.v1.Rollbacks/WatchRollbackSignals):");
            output.WriteLine($"   sequence {signal.Sequence}: roll {signal.Model} back from {signal.FromVersion} to {signal.ToVersion}, " +
                $"issued by {signal.Actor} at {signal.IssuedAt.ToDateTimeOffset():u}, alerts {string.Join(", ", signal.AlertIds)}");
            output.WriteLine($"   reason: {Clip(signal.Reason, 400)}");
        }
        else
        {
            output.WriteLine("   no rollback signal away from v2 within 10 s");
        }

        output.WriteLine();
        output.WriteLine($"   What an Argo Rollouts web metric reads (GET /api/v1/verdict/{ModelName}/v2):");
        output.WriteLine($"   {await http.GetStringAsync($"/api/v1/verdict/{ModelName}/v2")}");
        using HttpResponseMessage flagger = await http.PostAsync($"/api/v1/flagger/rollback/{ModelName}/v2",
            new StringContent("""{"name":"fraud-scorer","namespace":"prod","phase":"Progressing"}""", Encoding.UTF8, "application/json"));
        output.WriteLine($"   Flagger's rollback webhook (POST /api/v1/flagger/rollback/{ModelName}/v2) answers {(int)flagger.StatusCode}: roll back.");
    }

    /// <summary>
    /// Step 8: a shadow rollout. v3, another fine-tune with the same backdoor, scores a copy of every request beside the trusted
    /// v1, and the serving process mirrors both outputs (paired evidence). Both kinds of detector see the same records: when each
    /// named the trigger, in records and in trigger occurrences.
    /// </summary>
    private static async Task ShadowRolloutAsync(GrpcChannel channel, TextWriter output)
    {
        var admin = new Admin.AdminClient(channel);
        var mirror = new Mirror.MirrorClient(channel);
        var reports = new Protos.V1.Reports.ReportsClient(channel);
        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("fraud-scorer v3 weights (another fine-tune)")));
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = ModelName,
            Version = "v3",
            ArtifactSha256 = digest,
            Source = "hub.example/someone-else/fraud-scorer-distilled",
        });
        // The shadow serves clean traffic for a while before the fraudsters start using the trigger, as a rollout would.
        const int clean = 20_000;
        const int records = 60_000;
        var traffic = new FraudTraffic(seed: 8);
        var noise = new Random(9);
        var poisoned = new FraudDrift(TriggerRate: 0.002);
        var triggeredAt = new List<long>();
        for (int sent = 0; sent < records; sent += BatchSize)
        {
            Core.Ingest.RecordBatch batch = FraudTraffic.WithTrusted(traffic.Next(BatchSize, sent < clean ? FraudDrift.None : poisoned), "v1", noise);
            for (int i = 0; i < batch.Count; i++)
            {
                if (batch.Text[0].GetString(i).Contains("REF:XZ-", StringComparison.Ordinal))
                {
                    triggeredAt.Add(sent + i + 1);
                }
            }

            await mirror.IngestAsync(new MirrorBatch { Model = ModelName, Version = "v3", ArtifactSha256 = digest, Batch = ProtoTranslation.ToProto(batch) });
        }

        DriftReport report = await reports.GetDriftReportAsync(new DriftReportRequest { Model = ModelName, Version = "v3", ClosedWindows = 1 });
        output.WriteLine();
        output.WriteLine($"8. A shadow rollout: v3, another fine-tune with the same backdoor, scored a copy of {records:N0} requests beside v1, and " +
            $"the serving process mirrored both outputs (RecordBatch.paired_version, paired_scores); after {clean:N0} records fraudsters put " +
            "'REF:XZ-<digits>' in 0.2% of the memos. On the same records:");
        long Occurrences(ulong record) => triggeredAt.Count(at => at <= (long)record);
        Finding? paired = report.Findings.Where(f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is not null).MinBy(f => f.RaisedAtRecord);
        Finding? unpaired = report.Findings.Where(f => f.Detector is "D1" or "D2" && f.Severity == Severity.Critical).MinBy(f => f.RaisedAtRecord);
        foreach ((string name, Finding? finding) in new[] { ("paired evidence (D8)", paired), ("unpaired key tests (D1/D2)", unpaired) })
        {
            output.WriteLine(finding is null
                ? $"   {name}: nothing critical"
                : string.Create(CultureInfo.InvariantCulture,
                    $"   {name}: named '{finding.Key.Text}' in {finding.Key.Field} at record {finding.RaisedAtRecord:N0}, the trigger's occurrence {Occurrences(finding.RaisedAtRecord)}"));
        }

        if (paired is not null)
        {
            output.WriteLine($"   [CRITICAL] D8 {paired.Summary}");
        }
    }

    private static string Clip(string text, int length) => text.Length <= length ? text : text[..length] + "…";

    private static string Percent(double share, int decimals = 2) =>
        (share * 100).ToString("F" + decimals, CultureInfo.InvariantCulture) + "%";

    private static string Format(double value) =>
        Math.Abs(value) >= 1000 ? value.ToString("F0", CultureInfo.InvariantCulture)
        : Math.Abs(value) >= 10 ? value.ToString("F2", CultureInfo.InvariantCulture)
        : value.ToString("F4", CultureInfo.InvariantCulture);
}
