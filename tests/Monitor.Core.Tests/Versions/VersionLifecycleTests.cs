using Monitor.Core.Versions;

namespace Monitor.Core.Tests.Versions;

public sealed class VersionLifecycleTests
{
    private static readonly VersionPolicySettings Settings = new();
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;

    private static WindowMeasurement Clean(ulong i) => new(i, 1000, false, T0, []);

    private static WindowMeasurement Failing(ulong i) => new(i, 1000, true, T0, ["trigger 'ref:xz-#'"]);

    [Fact]
    public void Too_few_windows_are_inconclusive_never_failed()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings);
        Assert.Equal(Verdict.Inconclusive, lifecycle.Verdict);
        lifecycle.Observe(Failing(0));
        Assert.Equal(Verdict.Inconclusive, lifecycle.Verdict);
        Assert.Equal(VersionState.Suspect, lifecycle.State);
    }

    [Fact]
    public void A_candidate_becomes_known_good_after_its_run_of_clean_windows_and_records()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings);
        for (ulong i = 0; i < 19; i++)
        {
            Assert.Equal(VersionState.Candidate, lifecycle.Observe(Clean(i)).To);
        }

        LifecycleChange change = lifecycle.Observe(Clean(19));
        Assert.Equal((VersionState.Candidate, VersionState.KnownGood), (change.From, change.To));
        Assert.Equal(Verdict.Successful, lifecycle.Verdict);
    }

    [Fact]
    public void The_failure_limit_of_consecutive_failing_windows_fails_and_quarantines_once_even_a_known_good_version()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings);
        lifecycle.Observe(Clean(0));
        Assert.False(lifecycle.Observe(Failing(1)).Failed);
        Assert.Equal(VersionState.Suspect, lifecycle.State);
        lifecycle.Observe(Clean(2));
        Assert.False(lifecycle.Observe(Failing(3)).Failed);
        Assert.False(lifecycle.Observe(Failing(4)).Failed);
        LifecycleChange failed = lifecycle.Observe(Failing(5));
        Assert.True(failed.Failed);
        Assert.Equal(VersionState.Quarantined, failed.To);
        Assert.Equal(Verdict.Failed, lifecycle.Verdict);
        Assert.Contains("3 consecutive failing windows", failed.Reason);
        Assert.False(lifecycle.Observe(Failing(6)).Failed);
    }

    [Fact]
    public void A_swapped_artifact_fails_at_once()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings);
        LifecycleChange change = lifecycle.ArtifactMismatch("abc");
        Assert.True(change.Failed);
        Assert.Equal(VersionState.Quarantined, lifecycle.State);
        Assert.Equal(Verdict.Failed, lifecycle.Verdict);
    }

    [Fact]
    public void Rollback_goes_to_the_most_recently_promoted_known_good_version_that_is_not_quarantined()
    {
        VersionRecord[] versions =
        [
            new("v1", VersionState.KnownGood, T0.AddDays(1)),
            new("v2", VersionState.KnownGood, T0.AddDays(5)),
            new("v3", VersionState.Quarantined, T0.AddDays(9)),
            new("v4", VersionState.KnownGood, T0.AddDays(12)),
            new("v5", VersionState.Candidate, null),
        ];
        Assert.Equal("v2", RollbackPlanner.Target(versions, failed: "v4"));
        Assert.Equal("v4", RollbackPlanner.Target(versions, failed: "v5"));
        Assert.Null(RollbackPlanner.Target([new VersionRecord("v1", VersionState.Candidate, null)], failed: "v1"));
    }

    [Fact]
    public void A_window_closed_by_time_is_inconclusive_and_counts_neither_clean_nor_failing()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings);
        for (ulong i = 0; i < 3; i++)
        {
            lifecycle.Observe(Clean(i));
        }

        Assert.Equal(Verdict.Successful, lifecycle.Verdict);
        LifecycleChange change = lifecycle.Observe(new WindowMeasurement(3, 40, false, T0, [], Conclusive: false));
        Assert.Equal(Verdict.Inconclusive, change.Verdict);
        Assert.Contains("too few to judge", change.Reason);
        Assert.Equal((3, 3), (lifecycle.WindowsJudged, lifecycle.ConsecutiveClean));
        lifecycle.Observe(Clean(4));
        Assert.Equal(Verdict.Successful, lifecycle.Verdict);

        // A live trigger still fails a small window: it has evidence of its own.
        Assert.True(lifecycle.Observe(new WindowMeasurement(5, 40, true, T0, ["trigger"], Conclusive: false)) is { To: VersionState.Suspect });
    }

    [Fact]
    public void The_failure_limit_needs_the_minimum_of_evidence_in_records()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings with { MinFailingRecords = 5000 });
        for (ulong i = 0; i < 4; i++)
        {
            Assert.False(lifecycle.Observe(Failing(i)).Failed); // 4 failing windows of 1,000 records: short of 5,000
        }

        Assert.Equal((VersionState.Suspect, Verdict.Inconclusive, 4000L), (lifecycle.State, lifecycle.Verdict, lifecycle.FailingRecords));
        LifecycleChange failed = lifecycle.Observe(Failing(4));
        Assert.True(failed.Failed);
        Assert.Contains("5 consecutive failing windows (limit 3) over 5000 records", failed.Reason);
    }

    [Fact]
    public void An_admin_quarantine_fails_the_version_until_a_promotion()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings);
        LifecycleChange change = lifecycle.Quarantine("quarantine by alice: red-team");
        Assert.Equal((VersionState.KnownGood, VersionState.Quarantined, Verdict.Failed, true), (change.From, change.To, change.Verdict, change.Failed));
        Assert.False(lifecycle.Observe(Clean(0)).Failed);
        Assert.Equal(Verdict.Failed, lifecycle.Verdict);
        lifecycle.Promote(DateTimeOffset.UnixEpoch);
        Assert.Equal(VersionState.KnownGood, lifecycle.State);
    }
}
