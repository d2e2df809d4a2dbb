using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// A trusted version whose own windows mostly drift says the baseline does not represent its traffic, in its drift report;
/// a candidate's drift says nothing about the baseline.
/// </summary>
public sealed class ReferenceWarningTests
{
    private static readonly FraudDrift Drift = new(AmountScale: 1.6, DistanceLogShift: Math.Log(2));

    [Fact]
    public async Task A_trusted_version_drifting_in_most_of_its_windows_is_told_to_capture_a_new_baseline()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        var traffic = new FraudTraffic(seed: 31);
        await sidecar.SetUpFraudModelAsync(traffic);
        await sidecar.RegisterCandidateAsync("v2");

        // Nine drifting windows are too few to say anything about the reference.
        await sidecar.MirrorWindowsAsync(traffic, "v1", 9, Drift);
        DriftReport early = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(9u, early.WindowsJudgedAgainstBaseline);
        Assert.Equal("", early.ReferenceWarning);

        await sidecar.MirrorWindowsAsync(traffic, "v1", 3, Drift);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 12, Drift);
        DriftReport trusted = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(12u, trusted.WindowsJudgedAgainstBaseline);
        Assert.InRange(trusted.WindowsDriftedAgainstBaseline, 7u, 12u);
        Assert.Contains($"of the last 12 windows of trusted version 'v1' drifted against baseline {trusted.BaselineId}", trusted.ReferenceWarning);
        Assert.Contains($"drift baseline capture -m {Sidecar.Model} --from-version v1", trusted.ReferenceWarning);

        DriftReport candidate = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(12u, candidate.WindowsJudgedAgainstBaseline);
        Assert.Equal("", candidate.ReferenceWarning);

        string metrics = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains($"drift_monitor_reference_mismatch{{model=\"{Sidecar.Model}\",version=\"v1\"}} 1", metrics);
        Assert.Contains($"drift_monitor_reference_mismatch{{model=\"{Sidecar.Model}\",version=\"v2\"}} 0", metrics);
    }

    [Fact]
    public async Task A_trusted_version_whose_windows_are_clean_gets_no_warning()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        var traffic = new FraudTraffic(seed: 32);
        await sidecar.SetUpFraudModelAsync(traffic);

        await sidecar.MirrorWindowsAsync(traffic, "v1", 12);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(12u, report.WindowsJudgedAgainstBaseline);
        Assert.InRange(report.WindowsDriftedAgainstBaseline, 0u, 3u);
        Assert.Equal("", report.ReferenceWarning);
        string metrics = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains($"drift_monitor_reference_mismatch{{model=\"{Sidecar.Model}\",version=\"v1\"}} 0", metrics);
    }
}
