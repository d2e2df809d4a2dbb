using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Functional.Tests;

/// <summary>The sidecar's /dashboard rendered by a real headless Chromium: the DOM it builds holds the charts, with data.</summary>
public sealed partial class DashboardTests
{
    [Fact]
    public async Task Headless_chromium_renders_the_verdict_alerts_drift_charts_histogram_and_findings_of_a_poisoned_version()
    {
        string chromium = ExternalProgram.Require("chromium", "chromium", "chromium-browser");
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 8);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), referenceRecords: 20_000),
            "--Monitor:Baselines:ReservoirRecords=50000");
        await sidecar.RegisterCandidateAsync("v2");
        for (int sent = 0; sent < 40_000; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500, new FraudDrift(TriggerRate: 0.002, DistanceLogShift: Math.Log(2)), "v2",
                Sidecar.Digest("v2")));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);

        string dom = await DumpDomAsync(chromium, directory,
            $"http://127.0.0.1:{sidecar.HttpPort}/dashboard?model={Sidecar.Model}&version=v2&feature=distance_km");

        Assert.Matches(@"<span id=""verdict-badge"" class=""badge Failed"">Failed</span>", dom);
        Assert.Contains("roll back", dom);
        Assert.Contains("<table id=\"alert-table\">", dom);
        Assert.Matches(@"class=""critical"">Critical</td><td>verdict</td>", dom);

        // One drift chart per feature and output channel, each with a line over the windows; distance_km over its threshold.
        MatchCollection charts = DriftChart().Matches(dom);
        Assert.True(charts.Count >= 10, $"{charts.Count} drift charts");
        Assert.All(charts, c => Assert.True(int.Parse(c.Groups["points"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 10));
        Assert.Matches(@"distance_km: [1-9]\d* of \d+ windows over threshold", dom);
        Assert.True(Regex.Count(dom, "<polyline fill=\"none\" stroke=\"#2f5d9a\" stroke-width=\"1.5\" points=\"[0-9]") >= charts.Count);

        // The histogram of the chosen feature: baseline and window bars for every bin, with heights drawn from data.
        Match histogram = Histogram().Match(dom);
        Assert.True(histogram.Success, "no histogram");
        Assert.Equal("distance_km", histogram.Groups["feature"].Value);
        int bins = int.Parse(histogram.Groups["bins"].Value, System.Globalization.CultureInfo.InvariantCulture);
        string drawn = dom[histogram.Index..dom.IndexOf("</svg>", histogram.Index, StringComparison.Ordinal)];
        Assert.Equal(bins, Regex.Count(drawn, "class=\"baseline-bar\""));
        Assert.Equal(bins, Regex.Count(drawn, "class=\"window-bar\""));
        Assert.Contains(Regex.Matches(drawn, @"class=""window-bar""[^>]* height=""(?<h>[0-9.]+)""").Select(m => m.Groups["h"].Value), h => h != "0.0");

        // The trigger findings with their evidence.
        Assert.Contains("<table id=\"finding-table\">", dom);
        Assert.Matches(@"<td>D1</td><td class=""critical"">CRITICAL</td>", dom);
        Assert.Contains("ref:xz-#", dom);
    }

    [Fact]
    public async Task Headless_chromium_renders_the_readiness_report_and_the_evidence_a_candidate_still_waits_for()
    {
        string chromium = ExternalProgram.Require("chromium", "chromium", "chromium-browser");
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 9);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Versions:MinTriggerRate=0.001");
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v2", 4);
        Baseline baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });

        string dom = await DumpDomAsync(chromium, directory, $"http://127.0.0.1:{sidecar.HttpPort}/dashboard?model={Sidecar.Model}&version=v2");

        Assert.Matches(@"<span id=""verdict-badge"" class=""badge Inconclusive"">Inconclusive</span>", dom);
        Assert.Matches($@"<p id=""verdict-waiting"" class=""warning"">waiting for evidence: 2,000 of {baseline.Readiness.PromotionRecords:N0} records judged", dom);
        Assert.Contains($"a candidate is promoted by the policy only after {baseline.Readiness.PromotionRecords} records", dom);
        Assert.Contains("<table id=\"readiness-table\">", dom);
        // Rows drawn from data (the page's own script, also in the dump, has the template with "${").
        Assert.Equal(baseline.Readiness.Lines.Count, Regex.Count(dom, "<tr class=\"readiness-line\" data-class=\"[^$]"));
        foreach (ReadinessLine line in baseline.Readiness.Lines)
        {
            Assert.Contains($"data-class=\"{line.ClassLabel}\" data-placement=\"{line.Placement}\" data-status=\"{line.Status}\"", dom);
        }
    }

    [Fact]
    public async Task The_page_is_self_contained_and_its_data_needs_the_read_role()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartWithKeyAsync(directory.File("monitor.db"), null, "reader-key-0123456789",
            "--Monitor:Security:Keys:0:Name=viewer", "--Monitor:Security:Keys:0:Token=reader-key-0123456789", "--Monitor:Security:Keys:0:Roles=read");
        using var anonymous = new HttpClient { BaseAddress = sidecar.Http.BaseAddress };
        string page = await anonymous.GetStringAsync("/dashboard", TestContext.Current.CancellationToken);
        Assert.DoesNotMatch(@"(src|href)=""https?://", page);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/dashboard", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal("[]", await sidecar.Http.GetStringAsync("/api/v1/dashboard", TestContext.Current.CancellationToken));
    }

    private static async Task<string> DumpDomAsync(string chromium, TempDirectory directory, string url)
    {
        var start = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", $"--user-data-dir={directory.File("chromium")}",
            "--virtual-time-budget=10000", "--dump-dom", url,
        })
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90));
        string dom;
        Task<string> error = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            dom = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.True(dom.Contains("</html>", StringComparison.Ordinal), $"chromium printed no page: {await error}");
        return dom;
    }

    [GeneratedRegex(@"<svg class=""drift-chart"" data-feature=""(?<feature>[^""]+)"" data-points=""(?<points>\d+)""")]
    private static partial Regex DriftChart();

    [GeneratedRegex(@"<svg class=""histogram"" data-feature=""(?<feature>[^""]+)"" data-bins=""(?<bins>\d+)""")]
    private static partial Regex Histogram();
}
