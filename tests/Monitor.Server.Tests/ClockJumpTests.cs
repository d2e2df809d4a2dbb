using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// The wall clock jumps (NTP step, VM resume, operator error) while the monotonic clock goes on: ages and waits
/// follow the monotonic clock, so a jump back neither freezes windows nor stalls deliveries, and a jump forward
/// closes nothing early.
/// </summary>
public sealed class ClockJumpTests
{
    [Fact]
    public async Task A_wall_clock_jump_back_freezes_neither_time_closed_windows_nor_delivery_retries()
    {
        using var directory = new TempDirectory();
        var clock = new WallClock();
        int port = Receiver.FreePort();
        var traffic = new FraudTraffic(seed: 51);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")), clock,
            "--Monitor:Windows:MaxAge=00:00:02", "--Monitor:Delivery:Webhooks:0:Name=ops", $"--Monitor:Delivery:Webhooks:0:Url=http://127.0.0.1:{port}/hook",
            "--Monitor:Delivery:Webhooks:0:Secret=0123456789abcdef0123", "--Monitor:Delivery:InitialBackoff=00:00:00.200",
            "--Monitor:Delivery:MaxBackoff=00:00:01");
        await sidecar.RegisterCandidateAsync("v2");

        // A rollback whose delivery fails (nobody listens), so it is scheduled for a retry; then the wall clock goes back an hour.
        await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "ops", Reason = "drill" });
        await Task.Delay(500, TestContext.Current.CancellationToken);
        clock.Jump(TimeSpan.FromHours(-1));
        await using Receiver receiver = await Receiver.StartAsync(port);
        Assert.True(await Eventually.HoldsAsync(() => receiver.Requests.Any(r => r.Headers["Idempotency-Key"] == "rollback-1"), TimeSpan.FromSeconds(20),
            TestContext.Current.CancellationToken), "the retry waited for the wall clock to catch up");

        // A partly filled window still closes after MaxAge of monotonic time.
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 40));
        clock.Jump(TimeSpan.FromHours(-1));
        Assert.True(await Eventually.HoldsAsync(() => Closed(sidecar).Any(w => w.Records == 40 && !w.Complete), TimeSpan.FromSeconds(20),
            TestContext.Current.CancellationToken), "the window waited for the wall clock to catch up");

        // A jump forward closes no window early: a window with records, then five hours more on the wall clock; after two
        // of the MaxAge checks (every 500 ms), still less than MaxAge (2 s) of monotonic time has passed, so it is still open.
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 30));
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        clock.Jump(TimeSpan.FromHours(5));
        await Task.Delay(1100, TestContext.Current.CancellationToken);
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.DoesNotContain(Closed(sidecar), w => w.Records == 30);
        Assert.True(await Eventually.HoldsAsync(() => Closed(sidecar).Any(w => w.Records == 30 && !w.Complete), TimeSpan.FromSeconds(20),
            TestContext.Current.CancellationToken), "the window did not close after its MaxAge");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        Assert.Contains(Closed(sidecar), w => w.Records == Sidecar.WindowRecords && w.Complete);
    }

    private static Google.Protobuf.Collections.RepeatedField<WindowReport> Closed(Sidecar sidecar) => sidecar.Reports.GetDriftReport(new DriftReportRequest
    {
        Model = Sidecar.Model, Version = "v1", ClosedWindows = 10,
    }).Closed;

    /// <summary>The system clock with a wall-clock offset a test can step; timestamps (monotonic) and timers are the system's.</summary>
    private sealed class WallClock : TimeProvider
    {
        private long _offsetTicks;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
    }
}
