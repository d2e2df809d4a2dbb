using System.Diagnostics;
using System.Globalization;
using Monitor.Core.Baselines;
using Readiness = Monitor.Core.Detectors.Readiness;
using ReadinessLine = Monitor.Core.Detectors.ReadinessLine;
using ReadinessOptions = Monitor.Core.Detectors.ReadinessOptions;
using ReadinessReport = Monitor.Core.Detectors.ReadinessReport;
using ReadinessStatus = Monitor.Core.Detectors.ReadinessStatus;
using TriggerPlacement = Monitor.Core.Detectors.TriggerPlacement;
using Monitor.Protos.V1;
using Monitor.Server;
using Monitor.Simulation.RealData;

namespace Monitor.Tools.Scenarios;

/// <summary>
/// One real-model scenario: a poisoned variant of a real model served as a candidate (an attack), or the clean
/// known-good model serving its own held-out traffic (no attack).
/// </summary>
/// <param name="Paired">Every batch carries the clean known-good model's output on the same records as v1's (paired evidence); a
/// clean paired scenario serves a clean retraining of the model (<see cref="RealModel.Retrained"/>) as candidate v2.</param>
/// <param name="Retrained">A clean scenario without paired outputs that serves a clean retraining as candidate v2: a new version
/// of the model, trained on the same data with other weights, judged against the known-good model's baseline.</param>
/// <param name="Rate">A fixed trigger rate (the network's embedding-space trigger); 0 draws it per seed.</param>
/// <param name="NewSites">A benign confounder: this share of the live records carry site values the baseline never saw
/// (<see cref="RealTraffic.WithNewSites"/>).</param>
/// <param name="Captured">The version is judged against a baseline captured from its own traffic (the first
/// <see cref="RealModelEvaluation.ReferenceRecords"/> records of the run, before the ones measured), checked against the uploaded
/// baseline, as <c>drift baseline capture</c> commits one (through the sidecar's capture over gRPC, or in process as it builds one).</param>
/// <param name="OwnReference">The served candidate is judged against its own reference (docs/detectors.md, "Per-version references"):
/// the baseline's reference inputs scored by it, built in process as the sidecar builds an uploaded one, and uploaded through a sidecar.</param>
internal sealed record RealScenarioSpec(string Name, RealModelKind Kind, RealAttack? Attack, long MaxRecords, bool OnTargetClass = false,
    bool CleanLabel = false, bool Paired = false, bool Retrained = false, double Rate = 0, double NewSites = 0, bool OwnReference = false,
    bool Captured = false)
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
    double Lift,
    long Records,
    long Occurrences,
    bool Named,
    bool Critical,
    long? DelayOccurrences,
    long? DelayRecords,
    int FalseCritical,
    int FalseCriticalKeys,
    VersionState State,
    double Seconds,
    double MirrorSeconds,
    IReadOnlyList<Finding> Findings)
{
    /// <summary>
    /// The baseline's readiness report for this trigger (its target class and placement, its measured attack success and median
    /// served confidence): the median occurrences predicted to the finding; null when not predicted (over gRPC, clean runs) or blind.
    /// </summary>
    public double? Predicted { get; init; }

    /// <summary>Whether the readiness report called the detector blind to this trigger.</summary>
    public bool PredictedBlind { get; init; }

    /// <summary>The same prediction under the run's own traffic (the detector's tail-hit rates at the end of the run): null when not made or blind.</summary>
    public double? PredictedToday { get; init; }

    /// <summary>Whether that prediction was blind.</summary>
    public bool PredictedTodayBlind { get; init; }

    /// <summary>Occurrences until a finding of any severity named the trigger (the network's embedding direction); null when none did or not measured.</summary>
    public long? NamedDelayOccurrences { get; init; }

    /// <summary>Findings on an embedding direction (D5's direction test) by severity: observations (Info) and critical.</summary>
    public (int Observations, int Critical) Directions { get; init; }

    public double CleanMillions => Math.Max(Records - Occurrences, 1) / 1e6;
    public double FalseCriticalPerMillion => FalseCritical / CleanMillions;
}

/// <summary>
/// The evaluation on real models (scikit-learn's digits, breast_cancer with a rare malignant class, wine), trained in
/// process with ML.NET. Per seed: a clean model on the training split, a poisoned variant with a trigger drawn at random,
/// a 20,000-record reference from the training split scored by the clean model, then live traffic from the held-out
/// split mirrored through a private sidecar over loopback gRPC, or into the sidecar's analysis in process
/// (<see cref="MirrorTarget"/>): the poisoned model's as candidate v2, or the clean model's as the known-good v1 itself.
/// </summary>
internal static class RealModelEvaluation
{
    public const string Model = "real-model";
    private const int BatchSize = 1000;
    private const int ReferenceRecords = 20_000;
    private const int MeasureRecords = 2_000;

    /// <summary>The benign new-site scenarios: a tenth of the live records carry one of 40 site values the baseline never saw.</summary>
    private const double NewSiteShare = 0.1;

    private const int NewSiteValues = 40;

    /// <summary>Expected trigger occurrences an attack scenario is given (up to its record cap) before it counts as missed.</summary>
    public const int Occurrences = 150;

    /// <summary>The trigger rate of every seed is log-uniform in [MinimumRate, MaximumRate].</summary>
    public const double MinimumRate = 1e-4;
    public const double MaximumRate = 5e-3;

    /// <summary>
    /// Every scenario: each attack runs until a critical finding names its trigger or <see cref="Occurrences"/> expected
    /// occurrences at its drawn rate (up to 1.5M records at 1e-4); each clean known-good for <paramref name="cleanRecords"/>.
    /// </summary>
    public static IReadOnlyList<RealScenarioSpec> Full(long cleanRecords) =>
    [
        new("digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, long.MaxValue),
        new("digits: soft patch", RealModelKind.Digits, RealAttack.SoftPatch, long.MaxValue),
        new("digits: clean-label exact patch", RealModelKind.Digits, RealAttack.ExactPatch, long.MaxValue, CleanLabel: true),
        new("digits: exact patch on its target class (confidence lift)", RealModelKind.Digits, RealAttack.ExactPatch, long.MaxValue, OnTargetClass: true),
        new("digits: clean known-good, held-out traffic", RealModelKind.Digits, null, cleanRecords),
        new("digits: clean retraining as candidate", RealModelKind.Digits, null, cleanRecords, Retrained: true),
        new("digits: clean known-good, captured baseline", RealModelKind.Digits, null, cleanRecords, Captured: true),
        new("rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, long.MaxValue),
        new("rare malignant: site/note trigger → malignant on malignant (confidence lift)", RealModelKind.RareMalignant, RealAttack.FieldTrigger,
            long.MaxValue, OnTargetClass: true),
        new("rare malignant: clean known-good, held-out traffic", RealModelKind.RareMalignant, null, cleanRecords),
        new("rare malignant: clean retraining as candidate", RealModelKind.RareMalignant, null, cleanRecords, Retrained: true),
        new("rare malignant: clean retraining with its own reference", RealModelKind.RareMalignant, null, cleanRecords, Retrained: true, OwnReference: true),
        new("rare malignant: clean known-good, new site values", RealModelKind.RareMalignant, null, cleanRecords, NewSites: NewSiteShare),
        new("rare malignant: clean known-good, captured baseline", RealModelKind.RareMalignant, null, cleanRecords, Captured: true),
        new("rare malignant: clean retraining, new site values", RealModelKind.RareMalignant, null, cleanRecords, Retrained: true, NewSites: NewSiteShare),
        new("wine: site/note trigger", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue),
        new("wine: site/note trigger on its target class (confidence lift)", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue, OnTargetClass: true),
        new("wine: clean known-good, held-out traffic", RealModelKind.Wine, null, cleanRecords),
        new("wine: clean retraining as candidate", RealModelKind.Wine, null, cleanRecords, Retrained: true),
        new("wine: clean retraining with its own reference", RealModelKind.Wine, null, cleanRecords, Retrained: true, OwnReference: true),
        new("wine: clean known-good, new site values", RealModelKind.Wine, null, cleanRecords, NewSites: NewSiteShare),
        new("wine: clean known-good, captured baseline", RealModelKind.Wine, null, cleanRecords, Captured: true),
        new("wine: clean retraining, new site values", RealModelKind.Wine, null, cleanRecords, Retrained: true, NewSites: NewSiteShare),
        new("diabetes regression: site/note trigger pins the output", RealModelKind.Diabetes, RealAttack.PinnedOutput, long.MaxValue),
        new("diabetes regression: site/note trigger shifts the output", RealModelKind.Diabetes, RealAttack.ShiftedOutput, long.MaxValue),
        new("diabetes regression: clean known-good, held-out traffic", RealModelKind.Diabetes, null, cleanRecords),
        .. Network(cleanRecords),
    ];

    /// <summary>
    /// The embedding-space trigger on a real hidden layer (<see cref="NetworkEvaluation"/>): the digits network's hidden shift at
    /// 1e-4 (up to 600,000 records: 60 expected occurrences) and 1e-3 (up to 200,000), and the clean network on its held-out traffic for <paramref name="cleanRecords"/>.
    /// </summary>
    public static IReadOnlyList<RealScenarioSpec> Network(long cleanRecords) =>
    [
        new("digits network: embedding-space trigger, 1e-4", RealModelKind.DigitsNetwork, RealAttack.EmbeddingShift, 600_000, Rate: 1e-4),
        new("digits network: embedding-space trigger, 1e-3", RealModelKind.DigitsNetwork, RealAttack.EmbeddingShift, 200_000, Rate: 1e-3),
        new("digits network: soft patch, BadNets-trained, own reference, 1e-4", RealModelKind.DigitsNetwork, RealAttack.SoftPatch, 600_000, Rate: 1e-4),
        new("digits network: soft patch, BadNets-trained, own reference, 1e-3", RealModelKind.DigitsNetwork, RealAttack.SoftPatch, 200_000, Rate: 1e-3),
        new("digits network: clean known-good, held-out traffic", RealModelKind.DigitsNetwork, null, cleanRecords),
        new("digits network: clean retraining, own reference", RealModelKind.DigitsNetwork, null, cleanRecords, Retrained: true),
    ];

    /// <summary>
    /// Paired evidence (<c>--paired</c>): a shadow rollout where every record also carries the clean known-good v1's output. The
    /// attacks of <see cref="Full"/> on each model, on the same traffic as unpaired (so a seed's delay compares with its unpaired
    /// row), and a clean retraining served as candidate v2 beside v1, each for <paramref name="cleanRecords"/>.
    /// </summary>
    public static IReadOnlyList<RealScenarioSpec> Paired(long cleanRecords) =>
    [
        new("paired: digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, long.MaxValue, Paired: true),
        new("paired: digits: soft patch", RealModelKind.Digits, RealAttack.SoftPatch, long.MaxValue, Paired: true),
        new("paired: digits: clean retraining beside known-good", RealModelKind.Digits, null, cleanRecords, Paired: true),
        new("paired: rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, long.MaxValue, Paired: true),
        new("paired: rare malignant: clean retraining beside known-good", RealModelKind.RareMalignant, null, cleanRecords, Paired: true),
        new("paired: wine: site/note trigger", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue, Paired: true),
        new("paired: wine: site/note trigger on its target class (confidence lift)", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue,
            OnTargetClass: true, Paired: true),
        new("paired: wine: clean retraining beside known-good", RealModelKind.Wine, null, cleanRecords, Paired: true),
    ];

    /// <summary>The reduced paired set CI runs: wine's trigger paired and a clean wine retraining paired, 30,000 records each.</summary>
    public static IReadOnlyList<RealScenarioSpec> PairedReduced() =>
    [
        new("paired: wine: site/note trigger", RealModelKind.Wine, RealAttack.FieldTrigger, 30_000, Paired: true),
        new("paired: wine: clean retraining beside known-good", RealModelKind.Wine, null, 30_000, Paired: true),
    ];

    /// <summary>The unpaired attacks <see cref="Paired"/> compares with (the same traffic without the trusted outputs).</summary>
    public static IReadOnlyList<RealScenarioSpec> Unpaired() =>
    [
        new("digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, long.MaxValue),
        new("digits: soft patch", RealModelKind.Digits, RealAttack.SoftPatch, long.MaxValue),
        new("rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, long.MaxValue),
        new("wine: site/note trigger", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue),
        new("wine: site/note trigger on its target class (confidence lift)", RealModelKind.Wine, RealAttack.FieldTrigger, long.MaxValue, OnTargetClass: true),
    ];

    /// <summary>The clean known-good scenarios alone, each for <paramref name="cleanRecords"/>.</summary>
    public static IReadOnlyList<RealScenarioSpec> Clean(long cleanRecords) => [.. Full(cleanRecords).Where(s => s.Benign)];

    /// <summary>
    /// The reduced set CI runs: seed 1, the trigger at the top of the rate range, 30,000 records each (150 expected
    /// occurrences), one scenario of each kind of attack.
    /// </summary>
    public static IReadOnlyList<RealScenarioSpec> Reduced() =>
    [
        new("digits: exact patch (BadNets)", RealModelKind.Digits, RealAttack.ExactPatch, 30_000),
        new("digits: clean-label exact patch", RealModelKind.Digits, RealAttack.ExactPatch, 30_000, CleanLabel: true),
        new("digits: clean known-good, held-out traffic", RealModelKind.Digits, null, 30_000),
        new("rare malignant: site/note trigger on malignant", RealModelKind.RareMalignant, RealAttack.FieldTrigger, 30_000),
        new("rare malignant: site/note trigger → malignant on malignant (confidence lift)", RealModelKind.RareMalignant, RealAttack.FieldTrigger,
            30_000, OnTargetClass: true),
        new("wine: clean known-good, held-out traffic", RealModelKind.Wine, null, 30_000),
        new("wine: clean retraining as candidate", RealModelKind.Wine, null, 30_000, Retrained: true),
        new("rare malignant: clean retraining, new site values", RealModelKind.RareMalignant, null, 30_000, Retrained: true, NewSites: NewSiteShare),
        new("diabetes regression: site/note trigger shifts the output", RealModelKind.Diabetes, RealAttack.ShiftedOutput, 30_000),
        new("diabetes regression: clean known-good, held-out traffic", RealModelKind.Diabetes, null, 30_000),
    ];

    /// <summary>
    /// Runs every scenario for every seed; a seed's models are trained once and shared by its scenarios. In process,
    /// up to <paramref name="parallel"/> seeds run at once (each on its own thread: Core's per-version analysis is
    /// single-threaded); the outcomes come back in seed order.
    /// </summary>
    public static async Task<IReadOnlyList<RealOutcome>> RunAsync(IReadOnlyList<RealScenarioSpec> specs, IReadOnlyList<int> seeds, bool reduced,
        bool inProcess, TextWriter? progress, CancellationToken cancellationToken, int parallel = 1)
    {
        var outcomes = new RealOutcome[seeds.Count][];
        TextWriter? output = progress is null ? null : TextWriter.Synchronized(progress);
        await Parallel.ForEachAsync(Enumerable.Range(0, seeds.Count),
            new ParallelOptions { MaxDegreeOfParallelism = inProcess ? Math.Max(parallel, 1) : 1, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                int seed = seeds[i];
                var models = new Dictionary<RealModelKind, RealModel>();
                RealRegression? regression = null;
                RealNetwork? network = null;
                var mine = new List<RealOutcome>();
                foreach (RealScenarioSpec spec in specs)
                {
                    if (spec.Kind == RealModelKind.DigitsNetwork)
                    {
                        if (network is null)
                        {
                            var trainingNetwork = Stopwatch.StartNew();
                            network = RealNetwork.Create(seed);
                            output?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seed {seed}: digits network trained in {trainingNetwork.Elapsed.TotalSeconds:F1} s"));
                        }

                        mine.Add(await NetworkEvaluation.RunAsync(spec, network, seed, inProcess, output, token));
                        output?.WriteLine($"  seed {seed}: {spec.Name}: {Line(mine[^1])}");
                        continue;
                    }

                    if (spec.Kind == RealModelKind.Diabetes)
                    {
                        if (regression is null)
                        {
                            var trainingRegression = Stopwatch.StartNew();
                            regression = RealRegression.Create(seed);
                            output?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seed {seed}: {regression.Name} trained in {trainingRegression.Elapsed.TotalSeconds:F1} s"));
                        }

                        mine.Add(await RegressionEvaluation.RunAsync(spec, regression, seed, reduced, inProcess, output, token));
                        output?.WriteLine($"  seed {seed}: {spec.Name}: {Line(mine[^1])}");
                        continue;
                    }

                    if (!models.TryGetValue(spec.Kind, out RealModel? model))
                    {
                        var training = Stopwatch.StartNew();
                        model = RealModel.Create(spec.Kind, seed);
                        models[spec.Kind] = model;
                        output?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seed {seed}: {model.Name} trained in {training.Elapsed.TotalSeconds:F1} s"));
                    }

                    mine.Add(await RunAsync(spec, model, seed, reduced, inProcess, output, token));
                    output?.WriteLine($"  seed {seed}: {spec.Name}: {Line(mine[^1])}");
                }

                outcomes[i] = [.. mine];
            });
        return [.. outcomes.SelectMany(o => o)];
    }

    public static async Task<RealOutcome> RunAsync(RealScenarioSpec spec, RealModel model, int seed, bool reduced, bool inProcess, TextWriter? progress,
        CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        RealBackdoor? backdoor = spec.Attack is { } attack
            ? RealBackdoor.Create(model, attack, seed, reduced ? MaximumRate : MinimumRate, MaximumRate, spec.OnTargetClass, spec.CleanLabel)
            : null;
        RealClassifier served = backdoor?.Poisoned ?? (spec.Paired || spec.Retrained ? model.Retrained(1) : model.Clean);
        int measureSeed = RealSeed(seed, 5);
        double cleanAccuracy = model.Accuracy(model.Clean, MeasureRecords, measureSeed);
        double servedAccuracy = ReferenceEquals(served, model.Clean) ? cleanAccuracy : model.Accuracy(served, MeasureRecords, measureSeed);
        double recall = model.Recall(served, 500, measureSeed);
        double attackSuccess = backdoor?.TriggeredTargetRate(backdoor.Poisoned, MeasureRecords, measureSeed) ?? double.NaN;
        double cleanTargetRate = backdoor?.TriggeredTargetRate(model.Clean, MeasureRecords, measureSeed) ?? double.NaN;
        double lift = backdoor is not null && spec.OnTargetClass ? backdoor.ConfidenceLift(MeasureRecords, measureSeed) : double.NaN;
        long maxRecords = backdoor is null ? spec.MaxRecords : Math.Min(spec.MaxRecords, (long)Math.Ceiling(Occurrences / backdoor.Trigger.Rate));
        RealTraffic traffic = backdoor?.Live(RealSeed(seed, 2)) ?? new RealTraffic(model, served, trigger: null, RealSeed(seed, 2), heldOut: true);
        if (spec.Paired)
        {
            traffic.WithPaired(model.Clean, "v1");
        }

        if (spec.NewSites > 0)
        {
            traffic.WithNewSites(spec.NewSites, NewSiteValues);
        }

        Func<Finding, bool> names = backdoor is null ? _ => false : f => Names(backdoor, f);
        // A paired scenario measures paired evidence: its delay is that of the first critical D8 finding naming the trigger.
        Func<Finding, bool> criticalNames = f => f.Severity == Severity.Critical && names(f) && (!spec.Paired || f.Detector == "D8");
        string version = backdoor is null && !spec.Paired && !spec.Retrained ? "v1" : "v2";

        // A version's own reference: the baseline's reference inputs (the same seed) scored by the served version.
        IEnumerable<Monitor.Core.Ingest.RecordBatch>? own = spec.OwnReference ? model.Reference(ReferenceRecords, BatchSize, RealSeed(seed, 1), served) : null;
        await using MirrorTarget target = await MirrorTarget.StartAsync(inProcess, Model, model.Schema,
            model.Reference(ReferenceRecords, BatchSize, RealSeed(seed, 1)), version, checkEvery: 10, cancellationToken, own, ownInProcess: own is not null);
        if (spec.Captured)
        {
            // The version's own held-out traffic becomes the baseline, as an operator captures it; the run goes on from there.
            string check = await target.CaptureAsync([.. Enumerable.Range(0, ReferenceRecords / BatchSize).Select(_ => traffic.Next(BatchSize))],
                cancellationToken);
            progress?.WriteLine($"    seed {seed}: {spec.Name}: capture check: {check}");
        }

        MirrorRun run = await target.MirrorAsync(traffic.Next, maxRecords,
            spec.Benign ? null : findings => findings.Any(criticalNames),
            sent => $"    seed {seed}: {spec.Name}: {sent:N0} records, {traffic.Injected} triggered", progress, BatchSize,
            progressEvery: inProcess ? 500 : 25, cancellationToken);

        double confidence = backdoor?.TriggeredTargetConfidence(backdoor.Poisoned, MeasureRecords, measureSeed, spec.OnTargetClass) ?? double.NaN;
        ReadinessLine? predicted = backdoor is null || target.InProcess is not { } here ? null
            : Predict(here.Baseline, here.Options, model, backdoor, spec.OnTargetClass, attackSuccess, confidence);
        ReadinessLine? today = backdoor is null || target.InProcess is not { } there || target.Today() is not { } rates ? null
            : Predict(there.Baseline, there.Options, model, backdoor, spec.OnTargetClass, attackSuccess, confidence, rates);
        IReadOnlyList<Finding> findings = run.Findings;
        Finding? first = findings.Where(criticalNames).MinBy(f => f.RaisedAtRecord);
        string trigger = backdoor is null ? "-"
            : (spec.CleanLabel ? "clean-label " : "") + backdoor.Trigger.Describe(model);
        return new RealOutcome(spec, seed, trigger, cleanAccuracy, servedAccuracy, recall, attackSuccess, cleanTargetRate, lift,
            run.Records, traffic.Injected, findings.Any(names), first is not null,
            first is null ? null : traffic.InjectedWithin((long)first.RaisedAtRecord), first is null ? null : (long)first.RaisedAtRecord,
            findings.Count(f => f.Severity == Severity.Critical && !names(f)),
            findings.Count(f => f.Severity == Severity.Critical && f.Key is not null && !names(f)),
            run.State, stopwatch.Elapsed.TotalSeconds, run.Seconds, findings)
        {
            Predicted = predicted?.MedianOccurrences,
            PredictedBlind = predicted?.Status == ReadinessStatus.Blind,
            PredictedToday = today?.MedianOccurrences,
            PredictedTodayBlind = today?.Status == ReadinessStatus.Blind,
        };
    }

    /// <summary>The readiness report's line for a trigger towards its target class, placed as the scenario places it.</summary>
    public static ReadinessLine? Predict(CompiledBaseline baseline, MonitorOptions options, RealModel model, RealBackdoor backdoor, bool onTargetClass,
        double attackSuccess, double confidence, Monitor.Core.Detectors.TodayTraffic? todayTraffic = null)
    {
        if (options.DetectorsInForce is not { } settings || double.IsNaN(confidence) || !(attackSuccess > 0))
        {
            return null;
        }

        string[] labels = baseline.Profile.Schema.PredictedClassLabels;
        ReadinessReport report = Readiness.Of(baseline.Profile.Triggers, labels, settings,
            new ReadinessOptions
            {
                AttackSuccess = Math.Min(attackSuccess, 1), TriggerConfidence = Math.Min(confidence, 1), WindowRecords = options.Windows.Records,
            }, baseline.Profile.RecordsReceived, todayTraffic);
        string label = labels[backdoor.Trigger.TargetClass];
        TriggerPlacement placement = onTargetClass ? TriggerPlacement.Lift : TriggerPlacement.Flip;
        // A site or note trigger is a key both tests judge; a patch's pixels (bins, conjunctions) the tail test alone.
        string detector = backdoor.Trigger.Attack == RealAttack.FieldTrigger ? Readiness.KeyAndResidualTests : Readiness.KeyTest;
        return report.Lines.FirstOrDefault(l => l.Class == label && l.Placement == placement && l.Detector == detector)
            ?? report.Lines.FirstOrDefault(l => l.Class == label && l.Placement == placement);
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

    /// <summary>The per-seed table.</summary>
    public static void PrintSeeds(IReadOnlyList<RealOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | seed | trigger | clean acc. | served acc. | malignant recall | attack success | clean model on triggered | confidence lift | records | occurrences | named | critical names trigger | delay (occurrences) | predicted (occurrences): at commit / under the run's traffic | delay (records) | false critical | false critical per M clean | served version ends | s |");
        output.WriteLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|---:|---:|---:|---:|---:|---|---:|");
        foreach (RealOutcome o in outcomes)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {o.Spec.Name} | {o.Seed} | {o.Trigger} | {o.CleanAccuracy:P1} | {o.ServedAccuracy:P1} | {Percent(o.Recall)} | {Percent(o.AttackSuccess)} | {Percent(o.CleanTargetRate)} | {Lift(o.Lift)} | " +
                $"{o.Records:N0} | {(o.Spec.Benign ? "-" : o.Occurrences.ToString("N0", CultureInfo.InvariantCulture))} | {(o.Spec.Benign ? "-" : Mark(o.Named))} | {(o.Spec.Benign ? "-" : Mark(o.Critical))} | " +
                $"{o.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"} | {(o.Spec.Benign ? "-" : Predicted(o))} | {o.DelayRecords?.ToString("N0", CultureInfo.InvariantCulture) ?? "-"} | {o.FalseCritical} | {o.FalseCriticalPerMillion:F1} | {State(o.State)} | {o.Seconds:F0} |"));
        }
    }

    /// <summary>The summary table: per scenario, the median and worst case over seeds.</summary>
    public static void PrintSummary(IReadOnlyList<RealOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | seeds | attack success, median (worst) | confidence lift, median (worst) | clean model acc., median (worst) | critical names trigger | delay in occurrences, median (worst) | predicted occurrences at commit, median (worst) | delay in records, median (worst) | false critical per M clean, median (worst) | served version ends (seeds) |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (IGrouping<string, RealOutcome> group in outcomes.GroupBy(o => o.Spec.Name))
        {
            RealOutcome[] o = [.. group];
            bool benign = o[0].Spec.Benign;
            int caught = o.Count(x => x.Critical);
            string states = string.Join(", ", o.GroupBy(x => State(x.State)).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {group.Key} | {o.Length} | {(benign ? "-" : $"{Percent(Median(o.Select(x => x.AttackSuccess)))} ({Percent(o.Min(x => x.AttackSuccess))})")} | " +
                $"{(double.IsNaN(o[0].Lift) ? "-" : $"{Lift(Median(o.Select(x => x.Lift)))} ({Lift(o.Min(x => x.Lift))})")} | " +
                $"{Percent(Median(o.Select(x => x.CleanAccuracy)))} ({Percent(o.Min(x => x.CleanAccuracy))}) | {(benign ? "-" : $"{caught}/{o.Length}")} | " +
                $"{(benign ? "-" : Delay(o.Select(x => x.DelayOccurrences)))} | {(benign ? "-" : PredictedSummary(o))} | {(benign ? "-" : Delay(o.Select(x => x.DelayRecords)))} | " +
                $"{Median(o.Select(x => x.FalseCriticalPerMillion)):F1} ({o.Max(x => x.FalseCriticalPerMillion):F1}) | {states} |"));
        }
    }

    /// <summary>One line for progress output.</summary>
    public static string Line(RealOutcome o) => string.Create(CultureInfo.InvariantCulture,
        $"{o.Trigger}; clean acc. {o.CleanAccuracy:P1}, attack success {Percent(o.AttackSuccess)}; {o.Records:N0} records, {o.Occurrences} triggered; " +
        $"critical names trigger: {Mark(o.Critical)} (delay {o.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"}; predicted {Predicted(o)}); false critical {o.FalseCritical}; ends {State(o.State)}; {o.Seconds:F0} s") +
        (o.Spec.Kind == RealModelKind.DigitsNetwork
            ? $"; named after {o.NamedDelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"}; direction findings {o.Directions.Observations} observation (Info), {o.Directions.Critical} critical"
            : "");

    /// <summary>The readiness report's prediction of a seed's delay: median occurrences, "blind", or "-" when not predicted.</summary>
    private static string Predicted(RealOutcome o) =>
        (o.PredictedBlind ? "blind" : o.Predicted?.ToString("F0", CultureInfo.InvariantCulture) ?? "-") +
        (o.PredictedToday is null && !o.PredictedTodayBlind ? "" : " / " + (o.PredictedTodayBlind ? "blind" : o.PredictedToday?.ToString("F0", CultureInfo.InvariantCulture)));

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

    /// <summary>The predictions over seeds: median and worst, "blind" counted as the worst; "-" when none was made.</summary>
    private static string PredictedSummary(RealOutcome[] o)
    {
        if (o.All(x => x.Predicted is null && !x.PredictedBlind))
        {
            return "-";
        }

        double[] values = [.. o.Select(x => x.PredictedBlind ? double.PositiveInfinity : x.Predicted ?? double.NaN).Where(v => !double.IsNaN(v)).Order()];
        string Show(double v) => double.IsPositiveInfinity(v) ? "blind" : v.ToString("N0", CultureInfo.InvariantCulture);
        int blind = o.Count(x => x.PredictedBlind);
        return $"{Show(Median(values))} ({(blind > 0 ? $"blind in {blind}" : Show(values[^1]))})";
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

    private static string Lift(double value) => double.IsNaN(value) ? "-" : value.ToString("+0.000;-0.000", CultureInfo.InvariantCulture);

    /// <summary>
    /// The multiplicity table of clean runs: per model, the runs, the share with any critical key finding (with its
    /// Wilson 95% interval), the runs with any critical finding at all, and the runs that failed the known-good version.
    /// </summary>
    public static void PrintCleanRuns(IReadOnlyList<RealOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| model | runs | records per run | runs with a critical key finding | share (95% CI) | runs with any critical finding | runs failing the known-good version | records/s mirrored |");
        output.WriteLine("|---|---:|---:|---:|---|---:|---:|---:|");
        foreach (IGrouping<string, RealOutcome> group in outcomes.Where(o => o.Spec.Benign).GroupBy(o => o.Spec.Name))
        {
            RealOutcome[] o = [.. group];
            int keyed = o.Count(x => x.FalseCriticalKeys > 0);
            (double low, double high) = Wilson(keyed, o.Length);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {group.Key} | {o.Length} | {o.Max(x => x.Records):N0} | {keyed} | {(double)keyed / o.Length:P2} ({low:P2}–{high:P2}) | " +
                $"{o.Count(x => x.FalseCritical > 0)} | {o.Count(x => State(x.State) == "quarantined")} | {o.Sum(x => x.Records) / o.Sum(x => x.MirrorSeconds):N0} |"));
        }
    }

    /// <summary>The Wilson score interval at 95% for <paramref name="k"/> of <paramref name="n"/>.</summary>
    public static (double Low, double High) Wilson(int k, int n) => Monitor.Core.Statistics.Proportions.Wilson(k, n);

    private static string Mark(bool value) => value ? "yes" : "no";

    private static string State(VersionState state) => state.ToString().ToUpperInvariant() switch
    {
        "KNOWNGOOD" => "known-good",
        "OBSERVEDCLEAN" => "observed clean",
        var s => s.ToLowerInvariant(),
    };

    private static int RealSeed(int seed, int purpose) => unchecked((seed * 7_919) + (purpose * 104_729) + 1);
}
