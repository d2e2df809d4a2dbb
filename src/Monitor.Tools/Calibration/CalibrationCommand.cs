using System.Diagnostics;
using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Tools.Calibration;

/// <summary>
/// The calibration verb: how often windows of clean traffic drift against the stated whole-window false-alarm rate α
/// when the reference is small and a feature heavy-tailed. For each of three heavy-tailed distributions it builds
/// independent baselines, each from its own reference sample, and judges fresh windows drawn from the same true
/// distribution against each; it prints a markdown report with binomial (Wilson) 95% intervals.
/// </summary>
internal static class CalibrationCommand
{

    public static int Run(string[] args, TextWriter output)
    {
        bool reduced = args.Contains("--reduced");
        int references = reduced ? 2 : 5;
        int windows = reduced ? 1000 : 5000;
        int referenceRecords = 20_000;
        int windowRecords = 1000;
        double alpha = 0.01;
        int seed = 1;
        var settings = new BaselineSettings();
        for (int i = 0; i < args.Length - 1; i++)
        {
            string value = args[i + 1];
            switch (args[i])
            {
                case "--references":
                    references = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--windows":
                    windows = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--reference-records":
                    referenceRecords = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--window-records":
                    windowRecords = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--alpha":
                    alpha = double.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--reference-resamples":
                    settings = settings with { ReferenceResamples = int.Parse(value, CultureInfo.InvariantCulture) };
                    break;
                case "--bootstrap-windows":
                    settings = settings with { BootstrapWindows = int.Parse(value, CultureInfo.InvariantCulture) };
                    break;
                case "--seed":
                    seed = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
            }
        }

        output.WriteLine(
            Invariant($"Whole-window false-alarm rate on heavy-tailed features: {references} references of {referenceRecords:N0} records ") +
            Invariant($"per distribution, {windows:N0} fresh windows of {windowRecords:N0} records per reference, α = {alpha:P2}, seed {seed}."));
        output.WriteLine();
        ChannelLayout layout = ChannelLayout.For(HeavyTailTraffic.Schema);
        int statistics = layout.Numeric.Sum(c => c.Statistics.Length) + layout.Categorical.Sum(c => c.Statistics.Length);
        output.WriteLine("Schema: one numeric feature x0 from the distribution and a binary score independent of it (" +
            string.Join(", ", layout.Numeric.Select(c => c.Name).Concat(layout.Categorical.Select(c => c.Name))) +
            Invariant($": {statistics} statistics per window). A window drifts when any statistic exceeds its calibrated threshold; ") +
            "the last four columns count the statistics that exceeded their thresholds in the drifted windows.");
        output.WriteLine();
        output.WriteLine("| distribution | reference | bootstrap rate | drifted windows | realised rate | 95% interval | " +
            "x0 std_shift | x0 wasserstein | x0, other | output |");
        output.WriteLine("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
        var summary = new List<string>();
        var stopwatch = Stopwatch.StartNew();
        foreach (HeavyTail tail in Enum.GetValues<HeavyTail>())
        {
            int drifted = 0;
            int above = 0;
            double worst = 0;
            for (int r = 0; r < references; r++)
            {
                int referenceSeed = seed * 1_000_003 + (int)tail * 10_007 + r;
                var random = new Random(referenceSeed);
                var batches = new List<RecordBatch>();
                for (int sent = 0; sent < referenceRecords; sent += 1000)
                {
                    batches.Add(HeavyTailTraffic.Batch(tail, Math.Min(1000, referenceRecords - sent), random));
                }

                BaselineProfile profile = ReferenceBaseline.Fit(HeavyTailTraffic.Schema, batches, windowRecords, alpha, settings);
                Count count = CountDrifted(profile, tail, windows, new Random(referenceSeed + 500_000_000));
                drifted += count.Windows;
                double rate = (double)count.Windows / windows;
                worst = Math.Max(worst, rate);
                if (rate > 2 * alpha)
                {
                    above++;
                }

                (double low, double high) = Wilson(count.Windows, windows);
                output.WriteLine(
                    Invariant($"| {HeavyTailTraffic.Describe(tail)} | {r + 1} | {profile.CalibratedFalseAlarmRate:P2} | {count.Windows} of {windows:N0} | ") +
                    Invariant($"{rate:P2} | {low:P2} – {high:P2} | {count.StdShift} | {count.Wasserstein} | {count.OtherInput} | {count.Output} |"));
            }

            int total = references * windows;
            (double lo, double hi) = Wilson(drifted, total);
            bool inside = lo >= 0.7 * alpha && hi <= 1.3 * alpha;
            summary.Add(
                Invariant($"| {HeavyTailTraffic.Describe(tail)} | {drifted} of {total:N0} | {(double)drifted / total:P2} | {lo:P2} – {hi:P2} | ") +
                Invariant($"{(inside ? "yes" : "no")} | {worst:P2} | {above} |"));
        }

        output.WriteLine();
        output.WriteLine(Invariant($"Averaged over the references (target: the 95% interval inside [{0.7 * alpha:P2}, {1.3 * alpha:P2}], ") +
            Invariant($"no reference above {2 * alpha:P2}):"));
        output.WriteLine();
        output.WriteLine("| distribution | drifted windows | realised rate | 95% interval | inside the target | worst reference | " +
            "references above 2α |");
        output.WriteLine("|---|---:|---:|---|---|---:|---:|");
        foreach (string line in summary)
        {
            output.WriteLine(line);
        }

        output.WriteLine();
        output.WriteLine(Invariant($"Intervals: Wilson score, 95%. Took {stopwatch.Elapsed.TotalSeconds:F0} s."));
        if (!reduced)
        {
            BuildCost(settings, windowRecords, alpha, output);
        }

        return 0;
    }

    /// <summary>
    /// What calibrating against resampled references costs: the time to build a baseline of the fraud schema (8 numeric,
    /// 4 categorical, a memo field, a 16-wide embedding, with the detectors' tables) with the resamples configured, and with
    /// one (about what a single profile cost before).
    /// </summary>
    private static void BuildCost(BaselineSettings settings, int windowRecords, double alpha, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine("Baseline build time, fraud schema (8 numeric, 4 categorical, memo, 16-wide embedding; detectors' tables included), " +
            "the fastest of 3 runs after a warm-up build:");
        output.WriteLine();
        output.WriteLine("| reference records | resampled references | seconds |");
        output.WriteLine("|---:|---:|---:|");
        var warmUp = new ScenarioTraffic(seed: 4);
        ReferenceBaseline.Fit(ScenarioTraffic.Schema, [.. Enumerable.Range(0, 5).Select(_ => warmUp.Next(1000))], windowRecords, alpha, settings);
        foreach (int records in new[] { 20_000, 50_000 })
        {
            var traffic = new ScenarioTraffic(seed: 5);
            RecordBatch[] reference = [.. Enumerable.Range(0, records / 1000).Select(_ => traffic.Next(1000))];
            foreach (int resamples in new[] { 1, settings.ReferenceResamples })
            {
                double fastest = double.PositiveInfinity;
                for (int run = 0; run < 3; run++)
                {
                    var stopwatch = Stopwatch.StartNew();
                    ReferenceBaseline.Fit(ScenarioTraffic.Schema, reference, windowRecords, alpha, settings with { ReferenceResamples = resamples });
                    fastest = Math.Min(fastest, stopwatch.Elapsed.TotalSeconds);
                }

                output.WriteLine(Invariant($"| {records:N0} | {resamples} | {fastest:F1} |"));
            }
        }
    }

    private readonly record struct Count(int Windows, int StdShift, int Wasserstein, int OtherInput, int Output);

    /// <summary>Fresh windows of the distribution judged against the baseline, with what made them drift.</summary>
    private static Count CountDrifted(BaselineProfile profile, HeavyTail tail, int windows, Random random)
    {
        var compiled = new CompiledBaseline(profile);
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, historyLimit: 1);
        monitor.UseBaseline(compiled);
        var preparer = new BatchPreparer(compiled);
        var closed = new List<WindowResult>();
        int drifted = 0, stdShift = 0, wasserstein = 0, otherInput = 0, outputs = 0;
        for (int w = 0; w < windows; w++)
        {
            RecordBatch batch = HeavyTailTraffic.Batch(tail, profile.WindowRecords, random);
            monitor.Add(batch, preparer.Prepare(batch), closed);
            foreach (WindowResult window in closed)
            {
                if (!window.Drifted)
                {
                    continue;
                }

                drifted++;
                foreach (ChannelResult channel in window.Channels)
                {
                    for (int s = 0; s < channel.Statistics.Length; s++)
                    {
                        if (!channel.Exceeded[s])
                        {
                            continue;
                        }

                        if (channel.Name == "x0" && channel.Statistics[s] == Statistic.StdShift)
                        {
                            stdShift++;
                        }
                        else if (channel.Name == "x0" && channel.Statistics[s] == Statistic.Wasserstein)
                        {
                            wasserstein++;
                        }
                        else if (channel.Name == "x0")
                        {
                            otherInput++;
                        }
                        else
                        {
                            outputs++;
                        }
                    }
                }
            }

            closed.Clear();
        }

        return new Count(drifted, stdShift, wasserstein, otherInput, outputs);
    }

    /// <summary>Wilson score interval for k successes in n trials.</summary>
    private static (double Low, double High) Wilson(int k, int n) => Monitor.Core.Statistics.Proportions.Wilson(k, n);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
