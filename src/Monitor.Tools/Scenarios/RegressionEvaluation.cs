using System.Diagnostics;
using Monitor.Protos.V1;
using Monitor.Simulation.RealData;

namespace Monitor.Tools.Scenarios;

/// <summary>
/// The regression scenarios of the real-model evaluation (scikit-learn's diabetes, <see cref="RealRegression"/>): a poisoned
/// variant whose site/note trigger pins or shifts the output, served as candidate v2 with the trigger at exactly 1 in 10,000
/// records (the target rate), or the clean model serving its own held-out traffic as the known-good v1. The columns of
/// <see cref="RealOutcome"/> are read so: clean and served "accuracy" are R² on held-out draws; attack success is the share of
/// triggered inputs moved at least half way to what the attack wants.
/// </summary>
internal static class RegressionEvaluation
{
    /// <summary>The trigger rate of every regression attack.</summary>
    public const double Rate = 1e-4;

    private const int MeasureRecords = 2_000;

    public static async Task<RealOutcome> RunAsync(RealScenarioSpec spec, RealRegression model, int seed, bool reduced, bool inProcess, TextWriter? progress,
        CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        double rate = reduced ? RealModelEvaluation.MaximumRate : Rate;
        RegressionBackdoor? backdoor = spec.Attack is { } attack ? RegressionBackdoor.Create(model, attack, seed, rate, rate) : null;
        RealRegressor served = backdoor?.Poisoned ?? model.Clean;
        int measureSeed = Seed(seed, 5);
        double cleanR2 = R2(model, model.Clean, measureSeed);
        double servedR2 = backdoor is null ? cleanR2 : R2(model, served, measureSeed);
        (double success, double move) = backdoor?.Success(MeasureRecords, measureSeed) ?? (double.NaN, double.NaN);
        long maxRecords = backdoor is null ? spec.MaxRecords : Math.Min(spec.MaxRecords, (long)Math.Ceiling(RealModelEvaluation.Occurrences / rate));
        RegressionTraffic traffic = backdoor?.Live(Seed(seed, 2)) ?? new RegressionTraffic(model, model.Clean, trigger: null, Seed(seed, 2), heldOut: true);
        Func<Finding, bool> names = backdoor is null ? _ => false : f => Names(backdoor, f);

        await using MirrorTarget target = await MirrorTarget.StartAsync(inProcess, RealModelEvaluation.Model, model.Schema,
            model.Reference(20_000, 1000, Seed(seed, 1)), backdoor is null ? "v1" : "v2", checkEvery: 10, cancellationToken);
        MirrorRun run = await target.MirrorAsync(traffic.Next, maxRecords,
            spec.Benign ? null : findings => findings.Any(f => f.Severity == Severity.Critical && names(f)),
            sent => $"    seed {seed}: {spec.Name}: {sent:N0} records, {traffic.Injected} triggered", progress, 1000,
            progressEvery: inProcess ? 500 : 25, cancellationToken);

        IReadOnlyList<Finding> findings = run.Findings;
        Finding? first = findings.Where(f => f.Severity == Severity.Critical && names(f)).MinBy(f => f.RaisedAtRecord);
        string trigger = backdoor is null ? "-"
            : backdoor.Describe() + string.Create(System.Globalization.CultureInfo.InvariantCulture, $" (mean move {move:+0;-0})");
        return new RealOutcome(spec, seed, trigger, cleanR2, servedR2, double.NaN, success, double.NaN, double.NaN,
            run.Records, traffic.Injected, findings.Any(names), first is not null,
            first is null ? null : traffic.InjectedWithin((long)first.RaisedAtRecord), first is null ? null : (long)first.RaisedAtRecord,
            findings.Count(f => f.Severity == Severity.Critical && !names(f)),
            findings.Count(f => f.Severity == Severity.Critical && f.Key is not null && !names(f)),
            run.State, stopwatch.Elapsed.TotalSeconds, run.Seconds, findings);
    }

    /// <summary>Whether a key finding names the trigger: the magic site value or the note token.</summary>
    public static bool Names(RegressionBackdoor backdoor, Finding finding) =>
        finding.Key is { } key && key.Field == backdoor.Trigger.Field && key.Text.Contains(backdoor.Trigger.Value!, StringComparison.OrdinalIgnoreCase);

    /// <summary>R² of a model on held-out draws.</summary>
    private static double R2(RealRegression model, RealRegressor regressor, int seed)
    {
        double rmse = model.Rmse(regressor, MeasureRecords, seed);
        return 1 - (rmse * rmse / (model.TargetStd * model.TargetStd));
    }

    private static int Seed(int seed, int purpose) => unchecked((seed * 7_919) + (purpose * 104_729) + 1);
}
