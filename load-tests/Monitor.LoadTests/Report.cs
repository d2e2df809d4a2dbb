using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Monitor.LoadTests;

/// <summary>A run's results: a row per step (warm-up steps left out), notes, and the server's memory, written as markdown, JSON and an HTML page with plots.</summary>
internal sealed class Report(string title)
{
    private static readonly double[] Percentiles = [50, 75, 95, 99, 99.9];
    private readonly List<(string Server, StepStats Stats)> _steps = [];
    private readonly List<string> _notes = [];
    private readonly List<(string Server, IReadOnlyList<(TimeSpan At, long Bytes)> Samples, long Peak)> _memory = [];

    public IReadOnlyList<(string Server, StepStats Stats)> Steps => _steps;

    public void Add(string server, StepStats stats)
    {
        if (!stats.Warmup)
        {
            _steps.Add((server, stats));
        }
    }

    public void Note(string line) => _notes.Add(line);

    public void Memory(string server, SidecarProcess sidecar) => _memory.Add((server, sidecar.Samples, sidecar.PeakResidentBytes));

    public static string Row(string server, StepStats s) => string.Create(CultureInfo.InvariantCulture,
        $"| {server} | {s.Scenario} | {s.Step} | {s.Shape} | {s.Ok:N0} | {Failures(s)} | {s.Records / s.Seconds:N0} | {s.Batches / s.Seconds:N0} | " +
        $"{s.Bytes / s.Seconds / 1e6:N1} | {s.MinMs:F2} | {s.MeanMs:F2} | {string.Join(" | ", Percentiles.Select(p => s.LatencyMs(p).ToString("F2", CultureInfo.InvariantCulture)))} | {s.MaxMs:F2} |");

    public const string Header = "| server | scenario | step | load | ok | failed (by status) | records/s | batches/s | MB/s | min ms | mean ms | p50 | p75 | p95 | p99 | p99.9 | max ms |\n" +
        "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    public string Markdown()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# {title}").AppendLine();
        text.AppendLine(Header);
        foreach ((string server, StepStats stats) in _steps)
        {
            text.AppendLine(Row(server, stats));
        }

        text.AppendLine();
        foreach ((string server, var samples, long peak) in _memory)
        {
            string quarters = string.Join(", ", Quarters(samples).Select(b => string.Create(CultureInfo.InvariantCulture, $"{b / 1048576.0:F0} MiB")));
            text.AppendLine(CultureInfo.InvariantCulture, $"- server `{server}`: peak resident memory {peak / 1048576.0:F0} MiB; resident at a quarter, half and the end of its run: {quarters}");
        }

        foreach (string note in _notes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
        }

        return text.ToString();
    }

    public string Json() => JsonSerializer.Serialize(new
    {
        title,
        steps = _steps.Select(s => new
        {
            server = s.Server,
            scenario = s.Stats.Scenario,
            step = s.Stats.Step,
            load = s.Stats.Shape,
            seconds = s.Stats.Seconds,
            ok = s.Stats.Ok,
            failed = s.Stats.Outcomes.Where(o => o.Key != Grpc.Core.StatusCode.OK).ToDictionary(o => o.Key.ToString(), o => o.Value),
            failure_details = s.Stats.FailureDetails.ToDictionary(o => o.Key.ToString(), o => o.Value),
            records_per_second = s.Stats.Records / s.Stats.Seconds,
            batches_per_second = s.Stats.Batches / s.Stats.Seconds,
            bytes_per_second = s.Stats.Bytes / s.Stats.Seconds,
            latency_ms = new
            {
                min = s.Stats.MinMs,
                mean = s.Stats.MeanMs,
                p50 = s.Stats.LatencyMs(50),
                p75 = s.Stats.LatencyMs(75),
                p95 = s.Stats.LatencyMs(95),
                p99 = s.Stats.LatencyMs(99),
                p999 = s.Stats.LatencyMs(99.9),
                max = s.Stats.MaxMs,
            },
            timeline = s.Stats.Timeline.Select(t => new { t.Second, records = t.Records, p50_ms = t.P50, p99_ms = t.P99 }),
        }),
        memory = _memory.Select(m => new { server = m.Server, peak_bytes = m.Peak, samples = m.Samples.Select(x => new { seconds = x.At.TotalSeconds, bytes = x.Bytes }) }),
        notes = _notes,
    }, Indented);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A self-contained page: the table, and per step a plot of records/s and of p50/p99 latency over time (inline SVG).</summary>
    public string Html()
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title>");
        html.Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}" +
            "td:nth-child(-n+4),th{text-align:left}svg{background:#fafafa;margin:4px}</style></head><body>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>{WebUtility.HtmlEncode(title)}</h1><table><tr>");
        foreach (string column in Header.Split('\n')[0].Trim('|').Split('|'))
        {
            html.Append(CultureInfo.InvariantCulture, $"<th>{WebUtility.HtmlEncode(column.Trim())}</th>");
        }

        html.Append("</tr>");
        foreach ((string server, StepStats stats) in _steps)
        {
            html.Append("<tr>");
            foreach (string cell in Row(server, stats).Trim('|').Split('|'))
            {
                html.Append(CultureInfo.InvariantCulture, $"<td>{WebUtility.HtmlEncode(cell.Trim())}</td>");
            }

            html.Append("</tr>");
        }

        html.Append("</table><ul>");
        foreach (string note in _notes)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{WebUtility.HtmlEncode(note)}</li>");
        }

        html.Append("</ul>");
        foreach ((string server, StepStats stats) in _steps)
        {
            var timeline = stats.Timeline;
            html.Append(CultureInfo.InvariantCulture, $"<h3>{WebUtility.HtmlEncode($"{server}: {stats.Scenario}, {stats.Step} ({stats.Shape})")}</h3>");
            html.Append(Plot("records/s", [("records/s", "#2b6cb0", [.. timeline.Select(t => (double)t.Records)])]));
            html.Append(Plot("latency ms", [("p50", "#2f855a", [.. timeline.Select(t => t.P50)]), ("p99", "#c53030", [.. timeline.Select(t => t.P99)])]));
        }

        foreach ((string server, var samples, long peak) in _memory)
        {
            html.Append(CultureInfo.InvariantCulture, $"<h3>{WebUtility.HtmlEncode($"{server}: resident memory (peak {peak / 1048576.0:F0} MiB)")}</h3>");
            html.Append(Plot("MiB", [("resident", "#6b46c1", [.. samples.Select(s => s.Bytes / 1048576.0)])]));
        }

        html.Append("</body></html>");
        return html.ToString();
    }

    public async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "report.md"), Markdown(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "report.json"), Json(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "report.html"), Html(), cancellationToken);
    }

    private static string Failures(StepStats stats) =>
        stats.Failed == 0 ? "0" : string.Join(", ", stats.Outcomes.Where(o => o.Key != Grpc.Core.StatusCode.OK).Select(o => $"{o.Key} {o.Value:N0}"));

    private static IEnumerable<long> Quarters(IReadOnlyList<(TimeSpan At, long Bytes)> samples) =>
        samples.Count == 0 ? [] : [samples[samples.Count / 4].Bytes, samples[samples.Count / 2].Bytes, samples[^1].Bytes];

    private static string Plot(string unit, IReadOnlyList<(string Name, string Colour, double[] Values)> series)
    {
        const int width = 560;
        const int height = 160;
        const int left = 70;
        int points = Math.Max(2, series.Max(s => s.Values.Length));
        double max = Math.Max(1e-9, series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max());
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg width=\"{width}\" height=\"{height + 20}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" stroke=\"#999\"/><line x1=\"{left}\" y1=\"0\" x2=\"{left}\" y2=\"{height}\" stroke=\"#999\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"2\" y=\"12\" font-size=\"11\">{max:G4}</text><text x=\"2\" y=\"{height}\" font-size=\"11\">0 {WebUtility.HtmlEncode(unit)}</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{height + 15}\" font-size=\"11\">0 s</text><text x=\"{width - 40}\" y=\"{height + 15}\" font-size=\"11\">{points - 1} s</text>");
        int legend = left + 10;
        foreach ((string name, string colour, double[] values) in series)
        {
            string path = string.Join(" ", values.Select((v, i) => string.Create(CultureInfo.InvariantCulture,
                $"{left + (i * (width - left) / (double)(points - 1)):F1},{height - (v / max * (height - 5)):F1}")));
            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{path}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{legend}\" y=\"14\" font-size=\"11\" fill=\"{colour}\">{WebUtility.HtmlEncode(name)}</text>");
            legend += 60;
        }

        svg.Append("</svg>");
        return svg.ToString();
    }
}
