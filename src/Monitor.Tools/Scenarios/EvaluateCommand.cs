using System.Globalization;

namespace Monitor.Tools.Scenarios;

/// <summary>The evaluate verb: replays the attack and benign scenarios and prints the detection table.</summary>
internal static class EvaluateCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        bool reduced = args.Contains("--reduced");
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

        IReadOnlyList<ScenarioSpec> specs = reduced ? ScenarioEvaluation.Reduced() : ScenarioEvaluation.Full(benign);
        if (only is not null)
        {
            specs = [.. specs.Where(s => s.Name.Contains(only, StringComparison.OrdinalIgnoreCase))];
        }

        var outcomes = new List<ScenarioOutcome>();
        foreach (ScenarioSpec spec in specs)
        {
            output.WriteLine($"running: {spec.Name} (up to {spec.MaxRecords:N0} records)");
            outcomes.Add(await ScenarioEvaluation.RunAsync(spec, reference, output, CancellationToken.None, seed));
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
}
