using System.Diagnostics;
using System.Globalization;
using Monitor.Protos.V1;
using Monitor.Simulation.RealData;

namespace Monitor.Tools.Scenarios;

/// <summary>
/// The embedding-space trigger on a real hidden layer (<see cref="RealNetwork"/>): a poisoned digits network whose hidden layer
/// shifts along a fixed direction on triggered records (nothing in the inputs) and serves a target class drawn per seed, served as
/// candidate v2 at the scenario's fixed rate; or the clean network on its held-out traffic as the known-good v1. The reference is
/// 20,000 training-split records served by the clean network, its hidden layer mirrored. Columns of <see cref="RealOutcome"/>: the
/// clean and served accuracy are the networks' on untriggered held-out draws; attack success is on triggered ones not of the target.
/// </summary>
internal static class NetworkEvaluation
{
    private const int MeasureRecords = 2_000;

    public static async Task<RealOutcome> RunAsync(RealScenarioSpec spec, RealNetwork clean, int seed, bool inProcess, TextWriter? progress,
        CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        RealNetwork served = spec.Attack switch
        {
            null => spec.Retrained ? clean.Retrain(seed, poisoned: false) : clean,
            RealAttack.SoftPatch => clean.Retrain(seed, poisoned: true),
            _ => clean.Poison(new Random(Seed(seed, 3)).Next(10), seed),
        };
        int target = served.TargetClass;
        int measureSeed = Seed(seed, 5);
        double cleanAccuracy = clean.Accuracy(MeasureRecords, measureSeed);
        double servedAccuracy = served == clean ? cleanAccuracy : served.Accuracy(MeasureRecords, measureSeed);
        double success = spec.Attack is null ? double.NaN : served.AttackSuccess(MeasureRecords, measureSeed);
        var traffic = new NetworkTraffic(served, spec.Attack is null ? 0 : spec.Rate, Seed(seed, 2), heldOut: true);
        Func<Finding, bool> names = spec.Attack is null ? _ => false : served.Patch is { } patch ? f => Names(f) || NamesPatch(served, patch, f) : Names;

        // A retrained network (BadNets-trained or clean) has a hidden layer of its own: it is served as a candidate and judged
        // against its own reference, the baseline's reference inputs served by it (its outputs and embeddings), as an admin
        // would upload it.
        await using MirrorTarget mirror = await MirrorTarget.StartAsync(inProcess, RealModelEvaluation.Model, clean.Schema,
            clean.Reference(20_000, 1000, Seed(seed, 1)), spec.Attack is null && !served.Retrained ? "v1" : "v2", checkEvery: 10, cancellationToken,
            served.Retrained ? served.Reference(20_000, 1000, Seed(seed, 1)) : null, ownInProcess: served.Retrained);
        MirrorRun run = await mirror.MirrorAsync(traffic.Next, spec.MaxRecords,
            spec.Benign ? null : findings => findings.Any(f => f.Severity == Severity.Critical && names(f)),
            sent => $"    seed {seed}: {spec.Name}: {sent:N0} records, {traffic.Injected} triggered", progress, 1000,
            progressEvery: inProcess ? 200 : 25, cancellationToken);

        IReadOnlyList<Finding> findings = run.Findings;
        Finding? first = findings.Where(f => f.Severity == Severity.Critical && names(f)).MinBy(f => f.RaisedAtRecord);
        Finding? named = findings.Where(f => f.Severity >= Severity.Warning && names(f)).MinBy(f => f.RaisedAtRecord);
        Finding[] directions = [.. findings.Where(f => f.Key?.Kind == "embeddingdirection")];
        string trigger = spec.Attack is null ? "-"
            : served.Patch is { } soft ? string.Create(CultureInfo.InvariantCulture,
                $"soft α={soft.Alpha:F2} {soft.Side}×{soft.Side} patch at {served.Data.Features[soft.Pixels[0]]} → '{target}' at {spec.Rate:0.#e0}, own reference")
            : string.Create(CultureInfo.InvariantCulture, $"hidden shift → '{target}' at {spec.Rate:0.#e0}");
        return new RealOutcome(spec, seed, trigger, cleanAccuracy, servedAccuracy, double.NaN, success, double.NaN, double.NaN,
            run.Records, traffic.Injected, findings.Any(names), first is not null,
            first is null ? null : traffic.InjectedWithin((long)first.RaisedAtRecord), first is null ? null : (long)first.RaisedAtRecord,
            findings.Count(f => f.Severity == Severity.Critical && !names(f)),
            findings.Count(f => f.Severity == Severity.Critical && f.Key is not null && !names(f)),
            run.State, stopwatch.Elapsed.TotalSeconds, run.Seconds, findings)
        {
            NamedDelayOccurrences = named is null ? null : traffic.InjectedWithin((long)named.RaisedAtRecord),
            Directions = (directions.Count(f => f.Severity == Severity.Info), directions.Count(f => f.Severity == Severity.Critical)),
        };
    }

    /// <summary>
    /// Whether a finding names the trigger: an embedding direction whose first records are the trigger's (trig- request ids), or the
    /// embedding-outlier key. No input key can: the trigger is not in the inputs.
    /// </summary>
    public static bool Names(Finding finding) => finding.Key is { } key &&
        (key.Kind == "embeddingoutlier" || (key.Kind == "embeddingdirection" && finding.ExampleRequestIds.Any(id => id.StartsWith("trig-", StringComparison.Ordinal))));

    /// <summary>An input key on one of the patch's pixels (alone or in a pair) whose examples are the trigger's.</summary>
    private static bool NamesPatch(RealNetwork network, SoftPatch patch, Finding finding) => finding.Key is { } key &&
        key.Field.Split(" & ").Any(field => patch.Pixels.Any(p => network.Data.Features[p] == field)) &&
        finding.ExampleRequestIds.Any(id => id.StartsWith("trig-", StringComparison.Ordinal));

    private static int Seed(int seed, int purpose) => unchecked((seed * 7_919) + (purpose * 104_729) + 3);
}
