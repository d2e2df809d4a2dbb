using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// The database on a small tmpfs that a test fills up or remounts read-only: health turns NOT_SERVING with the
/// reason, requests that must write get UNAVAILABLE, policy incidents wait instead of being lost, and all of it
/// recovers when the storage does.
/// </summary>
public sealed class StorageFaultTests
{
    private static readonly FraudDrift OutputsMoved = new(FraudLogitShift: 3);

    [Fact]
    public async Task A_full_disk_is_reported_defers_the_rollback_and_recovers_when_space_returns()
    {
        using SmallFileSystem disk = SmallFileSystem.Mount(megabytes: 32);
        var traffic = new FraudTraffic(seed: 31);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(disk.File("monitor.db"), 6000, "output.class"),
            "--Monitor:Database:ProbeInterval=00:00:00.2");
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 2);
        var health = new Health.HealthClient(sidecar.Channel);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);

        // Fill the file system, then keep mirroring: window storage soon needs space it cannot get.
        disk.Fill();
        for (int i = 0; i < 400 && (await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.Serving; i++)
        {
            await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        }

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest())).Status);
        HttpResponseMessage healthz = await sidecar.Http.GetAsync("/healthz", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, healthz.StatusCode);
        Assert.Matches(@"^Unhealthy: store: the database cannot be written since .*: database or disk is full \(SQLite error 13\)$",
            await healthz.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        // A request that must write is refused with the reason; ingest itself goes on.
        RpcException refused = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.RegisterCandidateAsync("v3"));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("the database cannot be written (database or disk is full", refused.Status.Detail);

        // v2 fails while the disk is full: its rollback waits; nobody hears of it before it is durable.
        await sidecar.MirrorWindowsAsync(traffic, "v2", 4, OutputsMoved);
        Assert.Equal(Core.Versions.VersionState.Quarantined, sidecar.Registry.GetVersion(Sidecar.Model, "v2").State);
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = Sidecar.Model })).Signals);

        // Space returns: the probe notices, the rollback is committed and published, health is SERVING again.
        disk.Free();
        Assert.True(await Eventually.HoldsAsync(() => health.Check(new HealthCheckRequest()).Status == HealthCheckResponse.Types.ServingStatus.Serving,
            TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "health did not return to SERVING");
        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = Sidecar.Model })).Signals);
        Assert.Equal(("v2", "v1"), (signal.FromVersion, signal.ToVersion));
        Assert.Contains("critical output output.class drifted", signal.Reason);
        await sidecar.RegisterCandidateAsync("v3");
        string metrics = await sidecar.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("drift_monitor_store_writable 1", metrics);
        Assert.Contains("drift_monitor_store_write_failures_total{what=\"windows\"}", metrics);
    }

    [Fact]
    public async Task On_a_read_only_file_system_the_sidecar_refuses_to_start_naming_the_database_and_starts_once_it_is_writable()
    {
        using SmallFileSystem disk = SmallFileSystem.Mount(megabytes: 32);
        await FraudModel.DatabaseAsync(disk.File("monitor.db"));

        disk.Remount(readOnly: true);
        using Process process = SidecarProcess.Launch("--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={disk.File("monitor.db")}");
        Task<string> error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Task<string> output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(1, process.ExitCode);
        string said = await error + await output;
        Assert.True(said.Contains($"Cannot use the database {disk.File("monitor.db")}: unable to open database file (SQLite error 14); its directory refuses new files: Read-only file system", StringComparison.Ordinal), said);

        disk.Remount(readOnly: false);
        await using Sidecar second = await Sidecar.StartAsync(disk.File("monitor.db"));
        Assert.Single((await second.Admin.ListModelsAsync(new ListModelsRequest())).Models);
        await second.RegisterCandidateAsync("v2");
    }
}

/// <summary>
/// A small tmpfs mounted for one test (needs root or CAP_SYS_ADMIN). Without the privilege the test is skipped with
/// that message, except under CI=true, where it fails.
/// </summary>
internal sealed class SmallFileSystem : IDisposable
{
    private SmallFileSystem(string path) => Path = path;

    public string Path { get; }

    private string Filler => System.IO.Path.Combine(Path, "filler");

    public static SmallFileSystem Mount(int megabytes)
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "monitor-fs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        (int code, string output) = Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path);
        if (code != 0)
        {
            Directory.Delete(path);
            string message = $"this test mounts a {megabytes} MiB tmpfs to fill it, which needs root (or CAP_SYS_ADMIN): mount said '{output.Trim()}'";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail(message);
            }

            Assert.Skip(message);
        }

        return new SmallFileSystem(path);
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes a file until the file system is full.</summary>
    public void Fill()
    {
        var chunk = new byte[64 * 1024];
        Random.Shared.NextBytes(chunk);
        using var filler = new FileStream(Filler, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough);
        try
        {
            while (true)
            {
                filler.Write(chunk);
                filler.Flush();
            }
        }
        catch (IOException)
        {
            // ENOSPC: full.
        }
    }

    public void Free() => System.IO.File.Delete(Filler);

    public void Remount(bool readOnly)
    {
        (int code, string output) = Run("mount", "-o", readOnly ? "remount,ro" : "remount,rw", Path);
        Assert.True(code == 0, $"remount failed: {output}");
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static (int Code, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using Process process = Process.Start(start)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
