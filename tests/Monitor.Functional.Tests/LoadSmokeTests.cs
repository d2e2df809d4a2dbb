using System.Text.Json;
using Monitor.LoadTests;

namespace Monitor.Functional.Tests;

/// <summary>
/// A few seconds of the load suite against real sidecar processes on loopback: every call answered with a
/// proper status, records counted, reports written. It asserts statuses and counts, never speed.
/// </summary>
public sealed class LoadSmokeTests
{
    [Fact]
    public async Task The_smoke_suite_answers_every_call_and_writes_its_reports()
    {
        using var directory = new TempDirectory();
        using var output = new StringWriter();
        int exit = await LoadCli.RunAsync(["suite", "--smoke", "--seconds", "2", "--report", directory.Path], output, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, output.ToString());

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(directory.File("report.json"), TestContext.Current.CancellationToken));
        JsonElement[] steps = [.. report.RootElement.GetProperty("steps").EnumerateArray()];
        Assert.Equal(["stream", "stream", "reports", "unary", "stream"], steps.Select(s => s.GetProperty("scenario").GetString()));
        foreach (JsonElement step in steps)
        {
            string name = $"{step.GetProperty("server").GetString()} / {step.GetProperty("step").GetString()}";
            Assert.True(step.GetProperty("ok").GetInt64() > 0, $"{name}: no call succeeded");
            foreach (JsonProperty failure in step.GetProperty("failed").EnumerateObject())
            {
                // A full queue under closed load is the sidecar's back-pressure; anything else is a fault.
                Assert.True(failure.Name == "ResourceExhausted" && step.GetProperty("step").GetString() == "maximum rate",
                    $"{name}: {failure.Value} calls failed with {failure.Name}: {step.GetProperty("failure_details").GetProperty(failure.Name).GetString()}");
            }

            if (step.GetProperty("scenario").GetString() != "reports")
            {
                Assert.True(step.GetProperty("records_per_second").GetDouble() > 0, $"{name}: no records accepted");
                Assert.True(step.GetProperty("latency_ms").GetProperty("p99").GetDouble() > 0, $"{name}: no latency recorded");
            }
        }

        Assert.Equal(2, report.RootElement.GetProperty("memory").GetArrayLength());
        Assert.All(report.RootElement.GetProperty("memory").EnumerateArray(), m => Assert.True(m.GetProperty("peak_bytes").GetInt64() > 0));
        string html = await File.ReadAllTextAsync(directory.File("report.html"), TestContext.Current.CancellationToken);
        Assert.Contains("<svg", html);
        Assert.Contains("| parse-only, 64 numeric features, 10 classes | stream | maximum rate |", await File.ReadAllTextAsync(directory.File("report.md"),
            TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_breached_threshold_exits_non_zero_and_a_bad_stage_is_named()
    {
        using var directory = new TempDirectory();
        using var output = new StringWriter();
        int breached = await LoadCli.RunAsync(
            ["run", "--stage", "steady:unary:closed:2:2", "--warmup", "1", "--analysis", "false", "--threshold", "records_per_s>=1e12", "--threshold", "errors<=0",
                "--report", directory.Path], output, TestContext.Current.CancellationToken);
        Assert.Equal(3, breached);
        Assert.Contains("THRESHOLD BREACHED: unary step 'steady': records_per_s = ", output.ToString());
        Assert.DoesNotContain("errors = ", output.ToString());

        using var typo = new StringWriter();
        Assert.Equal(2, await LoadCli.RunAsync(["run", "--stage", "steady:unary:closed:2:2", "--threshold", "p99ms<=10"], typo,
            TestContext.Current.CancellationToken));
        Assert.Contains("error: --threshold 'p99ms<=10': expected errors<=N, p99_ms<=X, p999_ms<=X or records_per_s>=X", typo.ToString());
        Assert.DoesNotContain("step steady", typo.ToString()); // refused before any load

        using var bad = new StringWriter();
        int refused = await LoadCli.RunAsync(["run", "--stage", "steady:unary:sideways:2:2"], bad, TestContext.Current.CancellationToken);
        Assert.Equal(2, refused);
        Assert.Contains("error: --stage 'steady:unary:sideways:2:2': expected NAME:unary|stream:closed:CALLERS[:WINDOW]:SECONDS", bad.ToString());
    }

    [Fact]
    public async Task The_example_apps_latency_is_measured_without_the_mirror_and_with_the_sidecar_up_down_and_overloaded()
    {
        using var directory = new TempDirectory();
        using var output = new StringWriter();
        // Counts and outcomes only: a 2-second run beside the rest of the suite says nothing about latency, so no budget.
        int exit = await LoadCli.RunAsync(["app-latency", "--seconds", "2", "--rate", "100", "--no-budget", "--report", directory.Path], output,
            TestContext.Current.CancellationToken);
        Assert.True(exit == 0, output.ToString());

        using JsonDocument report = JsonDocument.Parse(await File.ReadAllTextAsync(directory.File("report.json"), TestContext.Current.CancellationToken));
        string[] notes = [.. report.RootElement.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!)];
        Assert.Equal(["no mirror", "sidecar up", "sidecar down", "sidecar overloaded"], notes.Select(n => n[..n.IndexOf(':', StringComparison.Ordinal)]));
        Assert.All(notes, n => Assert.Contains("200 requests, 0 errors", n));

        // Sent while the sidecar is up, counted as failed sends while it is down, refused while it is overloaded.
        Assert.DoesNotContain("\"sent\":0,", notes[1]);
        Assert.Matches("\"droppedSendFailed\":[1-9]", notes[2]);
        Assert.Matches("\"rejectedBySidecar\":[1-9]", notes[3]);
    }
}

