using System.Globalization;

namespace Monitor.Tools.Scenarios;

/// <summary>The evaluate verb: replays the attack and benign scenarios and prints the detection table.</summary>
internal static class EvaluateCommand
{
    /// <summary>
    /// The key of the detectors' hashes in an evaluation: fixed, so that a seed gives the same findings in every run and on
    /// both targets (a sidecar draws its own per database; the near-repeat test and the sketches depend on it).
    /// </summary>
    public const ulong HashSecret = 0x9E37_79B9_7F4A_7C15;

    /// <summary>The options that stand alone.</summary>
    private static readonly HashSet<string> Flags =
        ["--reduced", "--in-process", "--real", "--paired", "--compare", "--findings", "--embedding"];

    /// <summary>The options that take a value.</summary>
    private static readonly HashSet<string> Valued =
        ["--benign-records", "--reference-records", "--seed", "--only", "--seeds", "--clean-records", "--parallel", "--clean-runs", "--max-records"];

    /// <summary>What is wrong with the arguments (an unknown option, a value missing), or null: checked before anything runs.</summary>
    public static string? Problem(string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (Valued.Contains(arg))
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    return $"{arg} needs a value";
                }

                i++;
            }
            else if (!Flags.Contains(arg) && !(arg.StartsWith("--Monitor:", StringComparison.Ordinal) && arg.Contains('=', StringComparison.Ordinal)))
            {
                return $"unknown option '{arg}'";
            }
        }

        return null;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        if (!Monitor.Core.Detectors.KeyHash.Adopt(HashSecret))
        {
            output.WriteLine("note: the detectors' hash key was already in use; results of a seed may differ from run to run");
        }

        bool reduced = args.Contains("--reduced");
        bool inProcess = args.Contains("--in-process");
        MirrorTarget.Overrides = [.. args.Where(a => a.StartsWith("--Monitor:", StringComparison.Ordinal))];
        long benign = 10_000_000;
        int reference = 20_000;
        string? only = null;
        int seed = 1;
        for (int i = 0; i < args.Length - 1; i++)
        {
            switch (args[i])
            {
                case "--benign-records":
                    benign = long.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--reference-records":
                    reference = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--seed":
                    seed = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--only":
                    only = args[i + 1];
                    break;
            }
        }

        if (args.Contains("--real"))
        {
            return await RunRealAsync(args, reduced, inProcess, only, output);
        }

        if (args.Contains("--embedding"))
        {
            return await RunEmbeddingAsync(args, benign, reference, only, inProcess, output);
        }

        IReadOnlyList<ScenarioSpec> specs = args.Contains("--paired") ? ScenarioEvaluation.Paired(benign, args.Contains("--compare"))
            : reduced ? ScenarioEvaluation.Reduced() : ScenarioEvaluation.Full(benign);
        if (only is not null)
        {
            specs = [.. specs.Where(s => s.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
        }

        var outcomes = new List<ScenarioOutcome>();
        foreach (ScenarioSpec spec in specs)
        {
            output.WriteLine($"running: {spec.Name} (up to {spec.MaxRecords:N0} records)");
            outcomes.Add(await ScenarioEvaluation.RunAsync(spec, reference, output, CancellationToken.None, seed, inProcess));
        }

        if (args.Contains("--findings"))
        {
            foreach (ScenarioOutcome outcome in outcomes)
            {
                output.WriteLine($"findings of '{outcome.Spec.Name}':");
                foreach (Protos.V1.Finding finding in outcome.Findings)
                {
                    output.WriteLine($"  [{finding.Severity}] {finding.Detector} {finding.Summary}");
                    output.WriteLine($"      first tracked at record {finding.FirstSeenRecord:N0}, raised at record {finding.RaisedAtRecord:N0} with support {finding.RaisedAtSupport}");
                    foreach (string evidence in finding.Corroboration)
                    {
                        output.WriteLine($"      {evidence}");
                    }
                }
            }
        }

        output.WriteLine();
        ScenarioEvaluation.PrintTable(outcomes, output);
        return 0;
    }

    /// <summary>
    /// The synthetic embedding-space trigger and its clean runs over several seeds (--embedding --seeds A-B, default 1-3): per seed,
    /// occurrences until a finding named the trigger and the direction test's findings by severity.
    /// </summary>
    private static async Task<int> RunEmbeddingAsync(string[] args, long benign, int reference, string? only, bool inProcess, TextWriter output)
    {
        int seedsAt = Array.IndexOf(args, "--seeds");
        int[] seeds = seedsAt >= 0 && seedsAt + 1 < args.Length ? ParseSeeds(args[seedsAt + 1]) : [1, 2, 3];
        IReadOnlyList<ScenarioSpec> specs = ScenarioEvaluation.Embedding(benign);
        if (only is not null)
        {
            specs = [.. specs.Where(s => s.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
        }

        var outcomes = new List<(int, ScenarioOutcome)>();
        foreach (int seed in seeds)
        {
            foreach (ScenarioSpec spec in specs)
            {
                ScenarioOutcome outcome = await ScenarioEvaluation.RunAsync(spec, reference, null, CancellationToken.None, seed, inProcess);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"seed {seed}: {spec.Name}: {outcome.Records:N0} records, {outcome.Occurrences} injected; named after {outcome.NamedDelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"}, " +
                    $"critical after {outcome.DelayOccurrences?.ToString(CultureInfo.InvariantCulture) ?? "-"}; direction findings {outcome.Directions.Observations} observation (Info), {outcome.Directions.Critical} critical"));
                outcomes.Add((seed, outcome));
                if (args.Contains("--findings"))
                {
                    foreach (Protos.V1.Finding finding in outcome.Findings.Where(f => f.Key?.Kind is "embeddingdirection" or "embeddingoutlier"))
                    {
                        output.WriteLine($"  [{finding.Severity}] {finding.Detector} {finding.Summary}");
                    }
                }
            }
        }

        output.WriteLine();
        ScenarioEvaluation.PrintEmbeddingTable(outcomes, output);
        return 0;
    }

    /// <summary>
    /// The real-model evaluation: --seeds A-B (or a list A,B,C; default 1-3, reduced 1), --clean-records N, --in-process
    /// (Core's analysis called directly instead of a sidecar over gRPC), --parallel N (seeds at once, in process),
    /// --clean-runs N (the clean known-good scenarios alone on N seeds from 1001, and the share of runs with a critical key finding),
    /// --max-records N (every scenario's records capped, e.g. for the gRPC target on digits).
    /// </summary>
    private static async Task<int> RunRealAsync(string[] args, bool reduced, bool inProcess, string? only, TextWriter output)
    {
        int[] seeds = reduced ? [1] : [1, 2, 3];
        long clean = 50_000;
        int parallel = 1;
        int cleanRuns = 0;
        long? maxRecords = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            switch (args[i])
            {
                case "--seeds":
                    seeds = ParseSeeds(args[i + 1]);
                    break;
                case "--clean-records":
                    clean = long.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--parallel":
                    parallel = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--clean-runs":
                    cleanRuns = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--max-records":
                    maxRecords = long.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
            }
        }

        bool paired = args.Contains("--paired");
        IReadOnlyList<RealScenarioSpec> specs = paired
            ? [.. RealModelEvaluation.Paired(clean).Where(s => cleanRuns == 0 || s.Benign), .. args.Contains("--compare") ? RealModelEvaluation.Unpaired() : []]
            : cleanRuns > 0 ? RealModelEvaluation.Clean(clean)
            : reduced ? RealModelEvaluation.Reduced() : RealModelEvaluation.Full(clean);
        if (cleanRuns > 0 && !args.Contains("--seeds"))
        {
            // Seeds of their own, apart from the design (1-3) and held-apart (11-20) seeds.
            seeds = [.. Enumerable.Range(1001, cleanRuns)];
        }

        if (only is not null)
        {
            specs = [.. specs.Where(s => s.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
        }

        if (maxRecords is { } cap)
        {
            // An attack at a low drawn rate then ends before its 150 expected occurrences: a miss that may be the cap's.
            specs = [.. specs.Select(s => s with { MaxRecords = Math.Min(s.MaxRecords, cap) })];
        }

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        output.WriteLine($"real models, {(inProcess ? "in process" : "through a private sidecar over gRPC")}, seeds {Seeds(seeds)}: " +
            string.Join("; ", specs.Select(s => s.Name)));
        IReadOnlyList<RealOutcome> outcomes = await RealModelEvaluation.RunAsync(specs, seeds, reduced, inProcess, output, CancellationToken.None, parallel);
        if (args.Contains("--findings"))
        {
            foreach (RealOutcome outcome in outcomes)
            {
                output.WriteLine($"findings of '{outcome.Spec.Name}', seed {outcome.Seed}:");
                foreach (Protos.V1.Finding finding in outcome.Findings)
                {
                    output.WriteLine($"  [{finding.Severity}] {finding.Detector} {finding.Summary}");
                    output.WriteLine($"      first tracked at record {finding.FirstSeenRecord:N0}, raised at record {finding.RaisedAtRecord:N0} with support {finding.RaisedAtSupport}");
                    foreach (string evidence in finding.Corroboration)
                    {
                        output.WriteLine($"      {evidence}");
                    }
                }
            }
        }

        output.WriteLine();
        RealModelEvaluation.PrintSeeds(outcomes, output);
        output.WriteLine();
        if (cleanRuns > 0)
        {
            RealModelEvaluation.PrintCleanRuns(outcomes, output);
        }
        else
        {
            RealModelEvaluation.PrintSummary(outcomes, output);
        }

        output.WriteLine();
        long records = outcomes.Sum(o => o.Records);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"took {stopwatch.Elapsed.TotalSeconds:F0} s; {records:N0} records mirrored at {records / outcomes.Sum(o => o.MirrorSeconds):N0} records/s per run " +
            $"(drawing and scoring the traffic included; {records / outcomes.Sum(o => o.Seconds):N0} records/s with training and measuring)"));
        return 0;
    }

    private static string Seeds(int[] seeds) => seeds.Length > 3 && seeds[^1] - seeds[0] == seeds.Length - 1
        ? $"{seeds[0]}-{seeds[^1]}"
        : string.Join(',', seeds);

    private static int[] ParseSeeds(string text)
    {
        var seeds = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] range = part.Split('-');
            int from = int.Parse(range[0], CultureInfo.InvariantCulture);
            int to = range.Length > 1 ? int.Parse(range[1], CultureInfo.InvariantCulture) : from;
            for (int seed = from; seed <= to; seed++)
            {
                seeds.Add(seed);
            }
        }

        return [.. seeds];
    }
}
