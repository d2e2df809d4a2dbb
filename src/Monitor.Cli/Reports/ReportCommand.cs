using System.CommandLine;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Reports;

/// <summary><c>drift report</c>: a version's drift report as terminal tables, or as JSON.</summary>
internal static class ReportCommand
{
    private const int BarWidth = 24;

    public static Command Build(CommandContext context)
    {
        Option<string> model = Options.Model();
        Argument<string?> version = Options.Version("The version (default: the one serving the model).");
        var windows = new Option<uint>("--windows") { Description = "How many of the latest closed windows to list.", DefaultValueFactory = _ => 5 };
        var feature = new Option<string?>("--feature") { Description = "Also draw this channel's histogram against the baseline's." };
        var drifted = new Option<bool>("--drifted") { Description = "List only the channels that drifted." };
        Option<bool> json = Options.Json("Print the report as JSON (with histograms when --feature is given).");
        var command = new Command("report", "A version's drift report: its windows, each channel's statistics against its " +
            "calibrated threshold, and what the trigger-pattern detectors found.")
        {
            model, version, windows, feature, drifted, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            string name = parsed.GetValue(model)!;
            string? versionName = parsed.GetValue(version);
            if (versionName is null)
            {
                VersionVerdict serving = await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = name }, sidecar.Unary(cancellationToken));
                versionName = serving.Version.Length > 0
                    ? serving.Version
                    : throw new CliException($"no version of model '{name}' has mirrored traffic yet, so there is nothing to report");
            }

            string? channel = parsed.GetValue(feature);
            DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest
            {
                Model = name,
                Version = versionName,
                ClosedWindows = Math.Max(parsed.GetValue(windows), 1),
                IncludeHistograms = channel is not null,
            }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(report));
                return ExitCodes.Ok;
            }

            Write(context.Terminal, report, channel, parsed.GetValue(drifted));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Write(Terminal.Console console, DriftReport report, string? channel, bool driftedOnly)
    {
        console.Line(report.BaselineId == 0
            ? $"{report.Model} {report.Version}: no baseline in force"
            : $"{report.Model} {report.Version}: baseline {report.BaselineId}, windows of {Text.Count(report.WindowRecords)} records, " +
              $"stated false-alarm rate {Text.Percent(report.FalseAlarmRate)} of clean windows");
        console.Line($"  records accepted {Text.Count(report.RecordsAccepted)}; from another artifact than the registered one " +
            $"{Text.Count(report.RecordsDigestMismatch)}");
        if (report.Status.Length > 0)
        {
            console.Line($"  {report.Status}");
        }

        if (report.ReferenceWarning.Length > 0)
        {
            console.Line($"  warning: {report.ReferenceWarning}");
        }

        console.Line();
        var windows = new TextTable("window", "closed", "records", "judged", "drifted", "channels over their threshold").Right("window", "records");
        if (report.Current is { } open)
        {
            windows.Add($"{open.Index} (open)", "-", Text.Count(open.Records), "not yet", "-", "");
        }

        foreach (WindowReport w in report.Closed)
        {
            windows.Add(w.Index.ToString(Text.Culture), Text.Time(w.ClosedAt), Text.Count(w.Records), w.Complete ? "yes" : "no (closed by age)",
                !w.Complete ? "-" : w.Drifted ? "yes" : "no", string.Join(", ", w.DriftedFeatures));
        }

        console.Line("Windows, newest first:");
        windows.WriteTo(console.Out, "  ");

        WindowReport? shown = report.Closed.Count > 0 ? report.Closed[0] : report.Current;
        if (shown is not null && shown.Features.Count > 0)
        {
            console.Line();
            console.Line($"Window {shown.Index}{(shown == report.Current ? " (open, not judged yet)" : "")}, per channel " +
                "(statistic value / threshold; * = over it):");
            var channels = new TextTable("channel", "kind", "count", "missing", "baseline mean", "window mean", "statistics")
                .Right("count", "missing", "baseline mean", "window mean");
            foreach (FeatureReport f in shown.Features.Where(f => !driftedOnly || f.Drifted))
            {
                channels.Add((f.Drifted ? "* " : "  ") + f.Name, Text.Kind(f.Kind), Text.Count(f.Count), Text.Count(f.Missing),
                    Text.Number(f.BaselineMean), Text.Number(f.WindowMean),
                    string.Join(", ", f.Statistics.Select(s => $"{s.Name} {Text.Number(s.Value)}/{Text.Number(s.Threshold)}{(s.Drifted ? "*" : "")}")));
            }

            channels.WriteTo(console.Out, "  ");
        }

        if (report.Findings.Count > 0)
        {
            console.Line();
            console.Line("Trigger-pattern findings, most severe first:");
            var findings = new TextTable("detector", "severity", "key", "target", "support", "rate", "lift", "summary")
                .Right("support", "rate", "lift");
            foreach (Finding f in report.Findings)
            {
                string key = f.Key is null ? "-" : $"{f.Key.Kind} {f.Key.Field}: {f.Key.Text}";
                findings.Add(f.Detector, f.Severity.ToString().ToLowerInvariant(), key, f.TargetLabel, Text.Count(f.Support), Text.Percent(f.Rate),
                    Text.Number(f.Lift, 2), f.Summary);
            }

            findings.WriteTo(console.Out, "  ");
        }

        if (channel is not null)
        {
            WriteHistogram(console, shown, channel);
        }
    }

    private static void WriteHistogram(Terminal.Console console, WindowReport? window, string channel)
    {
        FeatureReport? feature = window?.Features.FirstOrDefault(f => f.Name == channel);
        if (feature is null)
        {
            throw new CliException(window is null
                ? $"there is no window yet to draw '{channel}' from"
                : $"--feature: the report has no channel '{channel}'; its channels are {string.Join(", ", window.Features.Select(f => f.Name))}");
        }

        Histogram? h = feature.Histogram;
        if (h is null || h.BaselineProbabilities.Count == 0)
        {
            console.Line();
            console.Line($"'{channel}' has no histogram (its window's baseline is no longer stored).");
            return;
        }

        string[] bins = h.Categories.Count > 0 ? h.Categories.ToArray() : NumericBins(h.Edges);
        double total = Math.Max(1, h.WindowCounts.Aggregate(0UL, (a, b) => a + b));
        double top = Math.Max(h.BaselineProbabilities.DefaultIfEmpty(0).Max(), h.WindowCounts.Select(c => c / total).DefaultIfEmpty(0).Max());
        console.Line();
        console.Line($"'{channel}' in window {window!.Index} against the baseline (# window, . baseline):");
        var table = new TextTable("bin", "baseline", "window", "").Right("baseline", "window");
        for (int b = 0; b < bins.Length && b < h.BaselineProbabilities.Count; b++)
        {
            double expected = h.BaselineProbabilities[b];
            double seen = b < h.WindowCounts.Count ? h.WindowCounts[b] / total : 0;
            table.Add(bins[b], Text.Percent(expected), Text.Percent(seen), Bar(seen, expected, top));
        }

        table.WriteTo(console.Out, "  ");
    }

    /// <summary>The window's share as '#', the baseline's as '.' beyond it (or '#' up to it), on one scale.</summary>
    private static string Bar(double seen, double expected, double top)
    {
        int window = (int)Math.Round(seen / top * BarWidth);
        int baseline = (int)Math.Round(expected / top * BarWidth);
        return new string('#', window) + (baseline > window ? new string('.', baseline - window) : "");
    }

    private static string[] NumericBins(Google.Protobuf.Collections.RepeatedField<double> edges)
    {
        var bins = new string[edges.Count + 1];
        for (int b = 0; b <= edges.Count; b++)
        {
            string low = b == 0 ? "-inf" : Text.Number(edges[b - 1]);
            string high = b == edges.Count ? "+inf" : Text.Number(edges[b]);
            bins[b] = $"[{low}, {high})";
        }

        return bins;
    }
}
