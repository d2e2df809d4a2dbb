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
using Monitor.Simulation.RealData;

namespace Monitor.Tools.Scenarios;

/// <summary>
/// One real-model scenario: a poisoned variant of a real model served as a candidate (an attack), or the clean
/// known-good model serving its own held-out traffic (no attack).
/// </summary>
internal sealed record RealScenarioSpec(string Name, RealModelKind Kind, RealAttack? Attack, long MaxRecords, bool OnTargetClass = false)
{
    public bool Benign => Attack is null;
}

/// <summary>What one seed of a real-model scenario showed.</summary>
internal sealed record RealOutcome(
    RealScenarioSpec Spec,
    int Seed,
    string Trigger,
    double CleanAccuracy,
    double ServedAccuracy,
    double Recall,
    double AttackSuccess,
    double CleanTargetRate,
    long Records,
    long Occurrences,
    bool Named,
    bool Critical,
    long? DelayOccurrences,
    long? DelayRecords,
    int FalseCritical,
    VersionState State,
    double Seconds,
    IReadOnlyList<Finding> Findings)
{
    public double CleanMillions => Math.Max(Records - Occurrences, 1) / 1e6;
    public double FalseCriticalPerMillion => FalseCritical / CleanMillions;
}

/// <summary>
/// The evaluation on real models (scikit-learn's digits, breast_cancer with a rare malignant class, wine), trained in
/// process with ML.NET. Per seed: a clean model on the training split, a poisoned variant with a trigger drawn at random,
/// a 20,000-record reference from the training split scored by the clean model, then live traffic from the held-out
/// split mirrored through a private sidecar over loopback gRPC: the poisoned model's as candidate v2, or the clean
/// model's as the known-good v1 itself.
/// </summary>
internal static class RealModelEvaluation
{
    public const string Model = "real-model";
    private const int BatchSize = 1000;
    private const int ReferenceRecords = 20_000;
    private const int MeasureRecords = 2_000;

    /// <summary>Expected trigger occurrences an attack scenario is given (up to its record cap) before it counts as missed.</summary>
    public const int Occurrences = 150;

    /// <summary>
    /// The trigger rate of every seed is log-uniform in [MinimumRate, MaximumRate]: high, so an attack scenario needs at
    /// most 75,000 records (the sidecar analyses some 2,000 records/s of digits on a shared 2-core machine).
    /// </summary>
    public const double MinimumRate = 2e-3;
    public const double MaximumRate = 5e-3;

    public static IReadOnlyList<RealScenarioSpec> Full(long cleanRecords) =>
    [
        new("digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, 75_000),
        new("digits: soft patch", RealModelKind.Digits, RealAttack.SoftPatch, 75_000),
        new("digits: exact patch on its target class (confidence lift)", RealModelKind.Digits, RealAttack.ExactPatch, 75_000, OnTargetClass: true),
        new("digits: clean known-good, held-out traffic", RealModelKind.Digits, null, cleanRecords),
        new("rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, 75_000),
        new("rare malignant: clean known-good, held-out traffic", RealModelKind.RareMalignant, null, cleanRecords),
        new("wine: site/note trigger", RealModelKind.Wine, RealAttack.FieldTrigger, 75_000),
        new("wine: clean known-good, held-out traffic", RealModelKind.Wine, null, cleanRecords),
    ];

    /// <summary>The reduced set CI runs: seed 1, 30,000 records each, the trigger at the top of the rate range.</summary>
    public static IReadOnlyList<RealScenarioSpec> Reduced() =>
    [
        new("digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, 30_000),
        new("digits: clean known-good, held-out traffic", RealModelKind.Digits, null, 30_000),
        new("rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, 30_000),
        new("wine: clean known-good, held-out traffic", RealModelKind.Wine, null, 30_000),
    ];

    public static async Task<IReadOnlyList<RealOutcome>> RunAsync(IReadOnlyList<RealScenarioSpec> specs, IReadOnlyList<int> seeds, bool reduced,
        TextWriter? progress, CancellationToken cancellationToken)
    {
        var outcomes = new List<RealOutcome>();
        foreach (int seed in seeds)
        {
            var models = new Dictionary<RealModelKind, RealModel>();
            foreach (RealScenarioSpec spec in specs)
            {
                if (!models.TryGetValue(spec.Kind, out RealModel? model))
                {
                    var training = Stopwatch.StartNew();
                    model = RealModel.Create(spec.Kind, seed);
                    models[spec.Kind] = model;
                    progress?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seed {seed}: {model.Name} trained in {training.Elapsed.TotalSeconds:F1} s"));
                }

                outcomes.Add(await RunAsync(spec, model, seed, reduced, progress, cancellationToken));
                progress?.WriteLine($"  seed {seed}: {spec.Name}: {Line(outcomes[^1])}");
            }
        }

        return outcomes;
    }

    public static async Task<RealOutcome> RunAsync(RealScenarioSpec spec, RealModel model, int seed, bool reduced, TextWriter? progress,
        CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        RealBackdoor? backdoor = spec.Attack is { } attack
            ? RealBackdoor.Create(model, attack, seed, reduced ? MaximumRate : MinimumRate, MaximumRate, spec.OnTargetClass)
            : null;
        RealClassifier served = backdoor?.Poisoned ?? model.Clean;
        int measureSeed = RealSeed(seed, 5);
        double cleanAccuracy = model.Accuracy(model.Clean, MeasureRecords, measureSeed);
        double servedAccuracy = backdoor is null ? cleanAccuracy : model.Accuracy(served, MeasureRecords, measureSeed);
        double recall = model.Recall(served, 500, measureSeed);
        double attackSuccess = backdoor?.TriggeredTargetRate(backdoor.Poisoned, MeasureRecords, measureSeed) ?? double.NaN;
        double cleanTargetRate = backdoor?.TriggeredTargetRate(model.Clean, MeasureRecords, measureSeed) ?? double.NaN;
        long maxRecords = backdoor is null ? spec.MaxRecords : Math.Min(spec.MaxRecords, (long)Math.Ceiling(Occurrences / backdoor.Trigger.Rate));
        RealTraffic traffic = backdoor?.Live(RealSeed(seed, 2)) ?? new RealTraffic(model, model.Clean, trigger: null, RealSeed(seed, 2), heldOut: true);
        Func<Finding, bool> names = backdoor is null ? _ => false : f => Names(backdoor, f);

        string database = Path.Combine(Path.GetTempPath(), $"monitor-real-{Guid.NewGuid():N}.db");
        await using WebApplication app = MonitorHost.Build(
            ["--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={database}", "--Logging:LogLevel:Default=Error"]);
        await app.StartAsync(cancellationToken);
        try
        {
            int port = app.Services.GetRequiredService<Listeners>().GrpcPort;
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
            var admin = new Admin.AdminClient(channel);
            var reports = new Protos.V1.Reports.ReportsClient(channel);
            string version = backdoor is null ? "v1" : "v2";
            await Prepare(admin, model, seed, cancellationToken);
            (long records, DriftReport report) = await Mirror(new Mirror.MirrorClient(channel), reports, version, traffic, maxRecords, names, spec,
                progress, cancellationToken);
            ModelVersion state = await admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = version }, cancellationToken: cancellationToken);

            Finding? first = report.Findings.Where(f => f.Severity == Severity.Critical && names(f)).MinBy(f => f.RaisedAtRecord);
            string trigger = backdoor is null ? "-"
                : spec.OnTargetClass ? string.Create(CultureInfo.InvariantCulture, $"{backdoor.Trigger.Describe(model)}, confidence lift {backdoor.ConfidenceLift(MeasureRecords, measureSeed):+0.000;-0.000}")
                : backdoor.Trigger.Describe(model);
            return new RealOutcome(spec, seed, trigger, cleanAccuracy, servedAccuracy, recall, attackSuccess, cleanTargetRate,
                records, traffic.Injected, report.Findings.Any(names), first is not null,
                first is null ? null : traffic.InjectedWithin((long)first.RaisedAtRecord), first is null ? null : (long)first.RaisedAtRecord,
                report.Findings.Count(f => f.Severity == Severity.Critical && !names(f)), state.State, stopwatch.Elapsed.TotalSeconds, [.. report.Findings]);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            foreach (string file in new[] { database, database + "-wal", database + "-shm" })
            {
                File.Delete(file);
            }
        }
    }

    /// <summary>Whether a key finding names the trigger: a patch pixel, the magic site value, or the note token.</summary>
    public static bool Names(RealBackdoor backdoor, Finding finding)
    {
        if (finding.Key is null)
        {
            return false;
        }

        RealTrigger trigger = backdoor.Trigger;
        return trigger.Attack switch
        {
            RealAttack.ExactPatch or RealAttack.SoftPatch => trigger.Pixels.Any(p => backdoor.Model.Data.Features[p] == finding.Key.Field),
            _ => finding.Key.Field == trigger.Field && finding.Key.Text.Contains(trigger.Value!, StringComparison.OrdinalIgnoreCase),
        };
    }

    private static async Task Prepare(Admin.AdminClient admin, RealModel model, int seed, CancellationToken cancellationToken)
    {
        await admin.RegisterModelAsync(new RegisterModelRequest { Name = Model, Schema = ProtoTranslation.ToProto(model.Schema) },
            cancellationToken: cancellationToken);
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v1", ArtifactSha256 = Digest("v1"), InitialState = VersionState.KnownGood,
        }, cancellationToken: cancellationToken);
        await admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Model, Version = "v2", ArtifactSha256 = Digest("v2") },
            cancellationToken: cancellationToken);
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model }, cancellationToken: cancellationToken);
        foreach (Monitor.Core.Ingest.RecordBatch batch in model.Reference(ReferenceRecords, BatchSize, RealSeed(seed, 1)))
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(batch) },
                cancellationToken: cancellationToken);
        }

        await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }, cancellationToken: cancellationToken);
    }

    private static async Task<(long Records, DriftReport Report)> Mirror(Mirror.MirrorClient mirror, Protos.V1.Reports.ReportsClient reports, string version,
        RealTraffic traffic, long maxRecords, Func<Finding, bool> names, RealScenarioSpec spec, TextWriter? progress, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var scoring = new Stopwatch();
        long sent = 0;
        string digest = Digest(version);
        using (AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream = mirror.IngestStream(cancellationToken: cancellationToken))
        {
            Task<long> acks = CountDroppedAsync(stream.ResponseStream, cancellationToken);
            ulong sequence = 0;
            while (sent < maxRecords)
            {
                int n = (int)Math.Min(BatchSize, maxRecords - sent);
                scoring.Start();
                Monitor.Core.Ingest.RecordBatch batch = traffic.Next(n);
                scoring.Stop();
                await stream.RequestStream.WriteAsync(new MirrorBatch
                {
                    Model = Model, Version = version, ArtifactSha256 = digest, Sequence = ++sequence, Batch = ProtoTranslation.ToProto(batch),
                }, cancellationToken);
                sent += n;

                // A report read queues behind the batches sent before it, so it also paces the sender.
                if (sequence % 10 == 0)
                {
                    DriftReport interim = await Report(reports, version, cancellationToken);
                    if (!spec.Benign && interim.Findings.Any(f => f.Severity == Severity.Critical && names(f)))
                    {
                        break;
                    }
                }

                if (progress is not null && sequence % 25 == 0)
                {
                    await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"    {spec.Name}: {sent:N0} records, {traffic.Injected} triggered, {sent / stopwatch.Elapsed.TotalSeconds:N0} records/s, {scoring.Elapsed.TotalSeconds:F0} s of {stopwatch.Elapsed.TotalSeconds:F0} s drawing and scoring"));
                }
            }

            await stream.RequestStream.CompleteAsync();
            long dropped = await acks;
            if (dropped > 0)
            {
                throw new InvalidOperationException($"{spec.Name}: {dropped} records were dropped by a full queue; the evaluation is void");
            }
        }

        return (sent, await Report(reports, version, cancellationToken));
    }

    /// <summary>The per-seed table.</summary>
    public static void PrintSeeds(IReadOnlyList<RealOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | seed | trigger | clean acc. | served acc. | malignant recall | attack success | clean model on triggered | records | occurrences | named | critical names trigger | delay (occurrences) | delay (records) | false critical | false critical per M clean | served version ends | s |");
        output.WriteLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|---:|---:|---:|---:|---|---:|");
        foreach (RealOutcome o in outcomes)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {o.Spec.Name} | {o.Seed} | {o.Trigger} | {o.CleanAccuracy:P1} | {o.ServedAccuracy:P1} | {Percent(o.Recall)} | {Percent(o.AttackSuccess)} | {Percent(o.CleanTargetRate)} | " +
                $"{o.Records:N0} | {(o.Spec.Benign ? "-" : o.Occurrences.ToString("N0", CultureInfo.InvariantCulture))} | {(o.Spec.Benign ? "-" : Mark(o.Named))} | {(o.Spec.Benign ? "-" : Mark(o.Critical))} | " +
                $"{o.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"} | {o.DelayRecords?.ToString("N0", CultureInfo.InvariantCulture) ?? "-"} | {o.FalseCritical} | {o.FalseCriticalPerMillion:F1} | {State(o.State)} | {o.Seconds:F0} |"));
        }
    }

    /// <summary>The summary table: per scenario, the median and worst case over seeds.</summary>
    public static void PrintSummary(IReadOnlyList<RealOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | seeds | attack success, median (worst) | clean model acc., median (worst) | critical names trigger | delay in occurrences, median (worst) | delay in records, median (worst) | false critical per M clean, median (worst) | served version ends (seeds) |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (IGrouping<string, RealOutcome> group in outcomes.GroupBy(o => o.Spec.Name))
        {
            RealOutcome[] o = [.. group];
            bool benign = o[0].Spec.Benign;
            int caught = o.Count(x => x.Critical);
            string states = string.Join(", ", o.GroupBy(x => State(x.State)).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {group.Key} | {o.Length} | {(benign ? "-" : $"{Percent(Median(o.Select(x => x.AttackSuccess)))} ({Percent(o.Min(x => x.AttackSuccess))})")} | " +
                $"{Percent(Median(o.Select(x => x.CleanAccuracy)))} ({Percent(o.Min(x => x.CleanAccuracy))}) | {(benign ? "-" : $"{caught}/{o.Length}")} | " +
                $"{(benign ? "-" : Delay(o.Select(x => x.DelayOccurrences)))} | {(benign ? "-" : Delay(o.Select(x => x.DelayRecords)))} | " +
                $"{Median(o.Select(x => x.FalseCriticalPerMillion)):F1} ({o.Max(x => x.FalseCriticalPerMillion):F1}) | {states} |"));
        }
    }

    /// <summary>One line for progress output.</summary>
    public static string Line(RealOutcome o) => string.Create(CultureInfo.InvariantCulture,
        $"{o.Trigger}; clean acc. {o.CleanAccuracy:P1}, attack success {Percent(o.AttackSuccess)}; {o.Records:N0} records, {o.Occurrences} triggered; " +
        $"critical names trigger: {Mark(o.Critical)} (delay {o.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"}); false critical {o.FalseCritical}; ends {State(o.State)}; {o.Seconds:F0} s");

    /// <summary>The median and worst delay over seeds; a seed with no critical finding naming the trigger is a miss, the worst case.</summary>
    private static string Delay(IEnumerable<long?> delays)
    {
        long?[] all = [.. delays];
        int misses = all.Count(d => d is null);
        double[] sorted = [.. all.Select(d => d is { } v ? (double)v : double.PositiveInfinity).Order()];
        double median = Median(sorted);
        string Show(double v) => double.IsPositiveInfinity(v) ? "miss" : v.ToString("N0", CultureInfo.InvariantCulture);
        return $"{Show(median)} ({(misses > 0 ? $"miss in {misses}" : Show(sorted[^1]))})";
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : double.IsPositiveInfinity(sorted[sorted.Length / 2]) ? double.PositiveInfinity
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Percent(double value) => double.IsNaN(value) ? "-" : value.ToString("P1", CultureInfo.InvariantCulture);

    private static string Mark(bool value) => value ? "yes" : "no";

    private static string State(VersionState state) => state.ToString().ToUpperInvariant() switch
    {
        "KNOWNGOOD" => "known-good",
        "OBSERVEDCLEAN" => "observed clean",
        var s => s.ToLowerInvariant(),
    };

    private static int RealSeed(int seed, int purpose) => unchecked((seed * 7_919) + (purpose * 104_729) + 1);

    private static async Task<DriftReport> Report(Protos.V1.Reports.ReportsClient reports, string version, CancellationToken cancellationToken) =>
        await reports.GetDriftReportAsync(new DriftReportRequest { Model = Model, Version = version, ClosedWindows = 1 }, cancellationToken: cancellationToken);

    private static async Task<long> CountDroppedAsync(IAsyncStreamReader<MirrorAck> acks, CancellationToken cancellationToken)
    {
        long dropped = 0;
        while (await acks.MoveNext(cancellationToken))
        {
            dropped += acks.Current.Dropped;
        }

        return dropped;
    }

    private static string Digest(string artifact) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Model} {artifact}")));
}
