using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>A baseline's readiness report as a table: what the trigger detectors can find with it, blind lines first named.</summary>
internal static class ReadinessView
{
    public static void Write(Terminal.Console console, Baseline baseline)
    {
        Readiness? readiness = baseline.Readiness;
        if (readiness is null)
        {
            console.Line("  readiness: none (the sidecar did not report one; it predates the readiness report)");
            return;
        }

        console.Line($"Readiness of baseline {baseline.Summary.Id}: {readiness.Summary}.");
        if (readiness.Lines.Count > 0)
        {
            console.Line($"  stated trigger: served at {Text.Number(readiness.TriggerConfidence)} on {Text.Percent(readiness.AttackSuccess)} of its records; " +
                $"target {readiness.TargetOccurrences} occurrences; occurrences from the first to the finding (median, 90th percentile)");
            var table = new TextTable("detector", "class", "placement", "status", "median", "90th pct", "found", "visible", "reference to fix")
                .Right("median", "90th pct", "found", "visible", "reference to fix");
            foreach (ReadinessLine line in readiness.Lines)
            {
                table.Add(line.Detector, line.ClassLabel, line.Placement, line.Status.ToUpperInvariant(),
                    line.HasMedianOccurrences ? Text.Number(line.MedianOccurrences) : "-",
                    line.HasWorstOccurrences ? Text.Number(line.WorstOccurrences) : "-",
                    Text.Percent(line.Found), Text.Percent(line.VisibleShare),
                    line.HasFixReferenceRecords ? Text.Count(line.FixReferenceRecords) : "-");
            }

            table.WriteTo(console.Out, "  ");
        }

        console.Line($"  a candidate is promoted by the policy only after {Text.Count(readiness.PromotionRecords)} records (Monitor:Versions:MinTriggerRate)");
        foreach (ReadinessLine line in readiness.Lines.Where(l => l.Status != "ready"))
        {
            console.Note($"warning: {line.Detector} {line.ClassLabel} {line.Placement}: {line.Summary}");
        }

        if (readiness.Lines.Count == 0)
        {
            console.Note($"warning: {readiness.Summary}");
        }
    }
}
