using System.Globalization;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Tools.Scenarios;

/// <summary>One scenario of the evaluation: what is injected, how often, and how many records to send at most.</summary>
/// <param name="Paired">Every batch also carries a clean trusted version v1's output on the same records (<see cref="ScenarioTraffic.WithPairing"/>).</param>
/// <param name="Retrained">
/// The served candidate is a clean retraining's network (<see cref="RetrainedEmbedding"/>: another hidden layer) carrying the
/// injection, judged against its own reference (the reference set replayed through it), in process as through a sidecar.
/// </param>
internal sealed record ScenarioSpec(string Name, Injection Injection, double Rate, long MaxRecords, bool Paired = false, bool Retrained = false)
{
    public bool Benign => ScenarioTraffic.IsBenign(Injection);

    /// <summary>Whether a critical finding names what this scenario injected: for a paired scenario, one of paired evidence (D8), whose delay it measures.</summary>
    public bool CriticalNames(Finding finding) => finding.Severity == Severity.Critical && Names(finding) && (!Paired || finding.Detector == "D8");

    /// <summary>Whether a key finding names what this scenario injected.</summary>
    public bool Names(Finding finding)
    {
        if (finding.Key is null)
        {
            return false;
        }

        string text = finding.Key.Text;
        return Injection switch
        {
            Injection.MemoToken or Injection.Stealthy => finding.Key.Field == "memo" &&
                (text.Contains("ref:xz", StringComparison.Ordinal) || (text.Length >= 5 && "ref:xz-#".Contains(text, StringComparison.Ordinal))),
            Injection.RareToken => text.Contains(ScenarioTraffic.RareToken, StringComparison.Ordinal),
            Injection.Composite => text.Contains(ScenarioTraffic.CompositeA, StringComparison.Ordinal) &&
                text.Contains(ScenarioTraffic.CompositeB, StringComparison.Ordinal),
            Injection.MagicCategory => text == ScenarioTraffic.MagicCategory,
            // The exact value, or its value pattern (the fractional part .42, a key of the vocabulary since value patterns).
            Injection.MagicNumber => finding.Key.Field == "amount" &&
                (text.Contains("1337.42", StringComparison.Ordinal) || (finding.Key.Kind == "pattern" && text == ".42")),
            Injection.Patch => finding.Key.Kind is "value" or "finebin" &&
                ScenarioTraffic.PatchFeatures.Any(f => ScenarioTraffic.Schema.NumericFeatures[f] == finding.Key.Field),
            // A direction names the trigger when its records are the trigger's (its first examples carry trig- request ids).
            Injection.Embedding => finding.Key.Kind == "embeddingoutlier" ||
                (finding.Key.Kind == "embeddingdirection" && finding.ExampleRequestIds.Any(id => id.StartsWith("trig-", StringComparison.Ordinal))),
            _ => false,
        };
    }
}

/// <summary>What one scenario showed.</summary>
internal sealed record ScenarioOutcome(
    ScenarioSpec Spec,
    long Records,
    long Occurrences,
    IReadOnlyDictionary<string, bool> Detectors,
    bool Critical,
    bool Named,
    long? DelayOccurrences,
    long? DelayRecords,
    int FalseCritical,
    int FalseWarnings,
    double Seconds,
    IReadOnlyList<Finding> Findings)
{
    /// <summary>Occurrences until a finding of any severity named what was injected (null when none did).</summary>
    public long? NamedDelayOccurrences { get; init; }

    /// <summary>Findings on an embedding direction (D5's direction test) by severity: observations (Info) and critical.</summary>
    public (int Observations, int Critical) Directions { get; init; }

    public double BenignMillions => Math.Max(Records - Occurrences, 1) / 1e6;
}

/// <summary>
/// Replays attack and benign scenarios through a private sidecar over loopback gRPC, or its analysis in process
/// (<see cref="MirrorTarget"/>): a baseline from clean reference traffic, then the scenario's traffic mirrored as
/// v2, and its findings read back.
/// </summary>
internal static class ScenarioEvaluation
{
    public const string Model = "fraud-scorer";
    private const int BatchSize = 1000;

    /// <summary>The full evaluation: every trigger at 1e-3, 1e-4 and (memo token) 1e-5, and every benign confounder.</summary>
    public static IReadOnlyList<ScenarioSpec> Full(long benignRecords) =>
    [
        new("memo token REF:XZ-<n>, 1e-3", Injection.MemoToken, 1e-3, 200_000),
        new("memo token REF:XZ-<n>, 1e-4", Injection.MemoToken, 1e-4, 1_000_000),
        new("memo token REF:XZ-<n>, 1e-5", Injection.MemoToken, 1e-5, 6_000_000),
        new("rare token, 1e-4", Injection.RareToken, 1e-4, 1_000_000),
        new("composite: two common tokens, 1e-4", Injection.Composite, 1e-4, 1_000_000),
        new("magic category, 1e-4", Injection.MagicCategory, 1e-4, 1_000_000),
        new("magic amount 1337.42, 1e-4", Injection.MagicNumber, 1e-4, 1_000_000),
        new("patch: 4 features at max, 1e-4", Injection.Patch, 1e-4, 1_000_000),
        new("embedding-space trigger, 1e-4", Injection.Embedding, 1e-4, 1_000_000),
        new("embedding-space trigger, 1e-3", Injection.Embedding, 1e-3, 300_000),
        new("stealthy memo token, 1e-4", Injection.Stealthy, 1e-4, 1_000_000),
        new("benign: clean traffic", Injection.None, 0, benignRecords),
        new("benign: new merchant token", Injection.BenignNewToken, 0, 1_000_000),
        new("benign: fraud rate doubled", Injection.BenignFraudSurge, 0, 1_000_000),
        new("benign: seasonal label shift +30%", Injection.BenignSeasonalUp, 0, 1_000_000),
        new("benign: seasonal label shift -30%", Injection.BenignSeasonalDown, 0, 1_000_000),
        new("benign: new template token in 5%", Injection.BenignTemplate, 0, 1_000_000),
    ];

    /// <summary>
    /// Paired evidence (<c>evaluate --paired</c>): the triggers at 1e-4 on traffic that carries a clean retraining's output as v1's
    /// beside each record, and clean paired traffic for <paramref name="benignRecords"/>; with <paramref name="compare"/> the same
    /// triggers unpaired (the same traffic without the trusted outputs) for comparison.
    /// </summary>
    public static IReadOnlyList<ScenarioSpec> Paired(long benignRecords, bool compare)
    {
        ScenarioSpec[] attacks =
        [
            new("memo token REF:XZ-<n>, 1e-4", Injection.MemoToken, 1e-4, 1_000_000),
            new("rare token, 1e-4", Injection.RareToken, 1e-4, 1_000_000),
            new("magic category, 1e-4", Injection.MagicCategory, 1e-4, 1_000_000),
            new("stealthy memo token, 1e-4", Injection.Stealthy, 1e-4, 1_000_000),
        ];
        return
        [
            .. attacks.Select(a => a with { Name = "paired: " + a.Name, Paired = true }),
            new("paired: benign: clean traffic, clean retraining beside v1", Injection.None, 0, benignRecords, Paired: true),
            .. compare ? attacks : [],
        ];
    }

    /// <summary>
    /// The embedding-space trigger (<c>evaluate --embedding</c>): at 1e-4 and 1e-3, and clean traffic and a benign fraud surge (new
    /// traffic whose embeddings move) for the direction test's false findings, <paramref name="benignRecords"/> of clean traffic.
    /// </summary>
    public static IReadOnlyList<ScenarioSpec> Embedding(long benignRecords) =>
    [
        new("embedding-space trigger, 1e-4", Injection.Embedding, 1e-4, 1_000_000),
        new("embedding-space trigger, 1e-3", Injection.Embedding, 1e-3, 300_000),
        new("benign: clean traffic", Injection.None, 0, benignRecords),
        new("benign: fraud rate doubled", Injection.BenignFraudSurge, 0, 1_000_000),
        new("retrained candidate, own reference: embedding-space trigger, 1e-4", Injection.Embedding, 1e-4, 1_000_000, Retrained: true),
        new("retrained candidate, own reference: benign: clean traffic", Injection.None, 0, benignRecords, Retrained: true),
    ];

    /// <summary>The reduced evaluation CI runs: the main triggers at 1e-3 and the benign confounders, briefly.</summary>
    public static IReadOnlyList<ScenarioSpec> Reduced() =>
    [
        new("memo token REF:XZ-<n>, 1e-3", Injection.MemoToken, 1e-3, 100_000),
        new("composite: two common tokens, 1e-3", Injection.Composite, 1e-3, 100_000),
        new("magic category, 1e-3", Injection.MagicCategory, 1e-3, 100_000),
        new("patch: 4 features at max, 1e-3", Injection.Patch, 1e-3, 100_000),
        new("stealthy memo token, 1e-3", Injection.Stealthy, 1e-3, 100_000),
        new("benign: clean traffic", Injection.None, 0, 200_000),
        new("benign: new merchant token", Injection.BenignNewToken, 0, 100_000),
        new("benign: fraud rate doubled", Injection.BenignFraudSurge, 0, 100_000),
        new("benign: seasonal label shift +30%", Injection.BenignSeasonalUp, 0, 100_000),
        new("benign: new template token in 5%", Injection.BenignTemplate, 0, 100_000),
    ];

    public static async Task<ScenarioOutcome> RunAsync(ScenarioSpec spec, int referenceRecords, TextWriter? progress, CancellationToken cancellationToken,
        int seed = 1, bool inProcess = false)
    {
        var reference = new ScenarioTraffic(seed: (2 * seed) - 1);
        IEnumerable<Monitor.Core.Ingest.RecordBatch> Reference()
        {
            for (int sent = 0; sent < referenceRecords; sent += BatchSize)
            {
                yield return reference.Next(Math.Min(BatchSize, referenceRecords - sent));
            }
        }

        // v2's own reference (docs/detectors.md, "Per-version references"): the reference set replayed through the poisoned model,
        // which serves it as the clean one does (no trigger in it) with the same hidden layer: the reference records themselves.
        Monitor.Core.Ingest.RecordBatch[] referenceSet = [.. Reference()];
        // A retrained candidate: another network's hidden layer on every record it serves and on its reference.
        RetrainedEmbedding? retrained = spec.Retrained ? new RetrainedEmbedding(ScenarioTraffic.EmbeddingWidth, seed: 9_973 * seed) : null;
        Monitor.Core.Ingest.RecordBatch[] versionReference = retrained is null ? referenceSet : [.. referenceSet.Select(retrained.Apply)];
        await using MirrorTarget target = await MirrorTarget.StartAsync(inProcess, Model, ScenarioTraffic.Schema, referenceSet, "v2", checkEvery: 50,
            cancellationToken, versionReference: versionReference, ownInProcess: retrained is not null);
        var traffic = new ScenarioTraffic(seed: 2 * seed, spec.Injection, spec.Rate);
        if (spec.Paired)
        {
            traffic.WithPairing("v1", seed: 7_919 * seed);
        }

        Func<int, Monitor.Core.Ingest.RecordBatch> next = retrained is null ? traffic.Next : n => retrained.Apply(traffic.Next(n));
        MirrorRun run = await target.MirrorAsync(next, spec.MaxRecords,
            spec.Benign ? null : findings => findings.Any(spec.CriticalNames),
            sent => $"    {spec.Name}: {sent:N0} records, {traffic.Injected} injected", progress, BatchSize, progressEvery: 500, cancellationToken);
        return Outcome(spec, run.Findings, run.Records, traffic, run.Seconds);
    }

    private static ScenarioOutcome Outcome(ScenarioSpec spec, IReadOnlyList<Finding> findings, long records, ScenarioTraffic traffic, double seconds)
    {
        Finding[] named = [.. findings.Where(spec.Names)];
        Finding? first = named.Where(spec.CriticalNames).MinBy(f => f.RaisedAtRecord);
        Finding? firstNamed = named.Where(f => f.Severity >= Severity.Warning).MinBy(f => f.RaisedAtRecord);
        Finding[] directions = [.. findings.Where(f => f.Key?.Kind == "embeddingdirection")];
        bool Corroborated(string detector) => named.Any(f => f.Corroboration.Any(c => c.StartsWith(detector + ":", StringComparison.Ordinal)));
        var detectors = new Dictionary<string, bool>
        {
            ["D1"] = named.Any(f => f.Detector == "D1"),
            ["D2"] = named.Any(f => f.Detector == "D2"),
            ["D3"] = Corroborated("D3") || findings.Any(f => f.Detector == "D3" && f.TargetLabel == "legitimate"),
            ["D4"] = Corroborated("D4"),
            ["D5"] = named.Any(f => f.Detector == "D5") || Corroborated("D5"),
            ["D6"] = findings.Any(f => f.Detector == "D6"),
            ["D8"] = named.Any(f => f.Detector == "D8"),
        };
        int falseCritical = findings.Count(f => f.Severity == Severity.Critical && !spec.Names(f));
        int falseWarnings = findings.Count(f => f.Severity == Severity.Warning && f.Key is not null && !spec.Names(f));
        return new ScenarioOutcome(spec, records, traffic.Injected, detectors, first is not null, named.Length > 0,
            first is null ? null : traffic.InjectedWithin((long)first.RaisedAtRecord), first is null ? null : (long)first.RaisedAtRecord,
            falseCritical, falseWarnings, seconds, findings)
        {
            NamedDelayOccurrences = firstNamed is null ? null : traffic.InjectedWithin((long)firstNamed.RaisedAtRecord),
            Directions = (directions.Count(f => f.Severity == Severity.Info), directions.Count(f => f.Severity == Severity.Critical)),
        };
    }

    /// <summary>
    /// The embedding scenarios' table: per scenario and seed, occurrences until a finding of any severity named the trigger (an
    /// embedding direction or the outlier key), until a critical one did, and the direction findings by severity.
    /// </summary>
    public static void PrintEmbeddingTable(IReadOnlyList<(int Seed, ScenarioOutcome Outcome)> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | seed | records | trigger occurrences | named after (occurrences) | critical after (occurrences) | direction observations (Info) | direction critical | other critical | other key warnings |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach ((int seed, ScenarioOutcome o) in outcomes)
        {
            string Count(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? (o.Spec.Benign ? "-" : "miss");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {o.Spec.Name} | {seed} | {o.Records:N0} | {(o.Spec.Benign ? "-" : o.Occurrences.ToString("N0", CultureInfo.InvariantCulture))} | " +
                $"{Count(o.NamedDelayOccurrences)} | {Count(o.DelayOccurrences)} | {o.Directions.Observations} | {o.Directions.Critical} | " +
                $"{o.FalseCritical - (o.Spec.Benign ? o.Directions.Critical : 0)} | {o.FalseWarnings} |"));
        }
    }

    public static void PrintTable(IReadOnlyList<ScenarioOutcome> outcomes, TextWriter output)
    {
        output.WriteLine("| scenario | records | trigger occurrences | D1 | D2 | D3 | D4 | D5 | D6 | D8 | fused critical | names the key | delay (occurrences) | delay (records) | false critical per M benign | false key warnings per M benign | records/s |");
        output.WriteLine("|---|---:|---:|:-:|:-:|:-:|:-:|:-:|:-:|:-:|:-:|:-:|---:|---:|---:|---:|---:|");
        foreach (ScenarioOutcome o in outcomes)
        {
            string Mark(bool value) => value ? "yes" : "-";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {o.Spec.Name} | {o.Records:N0} | {(o.Spec.Benign ? "-" : o.Occurrences.ToString("N0", CultureInfo.InvariantCulture))} | " +
                $"{Mark(o.Detectors["D1"])} | {Mark(o.Detectors["D2"])} | {Mark(o.Detectors["D3"])} | {Mark(o.Detectors["D4"])} | {Mark(o.Detectors["D5"])} | {Mark(o.Detectors["D6"])} | {Mark(o.Detectors["D8"])} | " +
                $"{(o.Spec.Benign ? "-" : Mark(o.Critical))} | {(o.Spec.Benign ? "-" : Mark(o.Named))} | {o.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"} | " +
                $"{o.DelayRecords?.ToString("N0", CultureInfo.InvariantCulture) ?? "-"} | {o.FalseCritical / o.BenignMillions:F2} | {o.FalseWarnings / o.BenignMillions:F2} | {o.Records / o.Seconds:N0} |"));
        }
    }
}
