using Monitor.Core.Versions;

namespace Monitor.Core.Tests.Versions;

public sealed class VersionLifecycleTests
{
    /// <summary>The default policy but for the evidence rule: a trigger at 1% needs at most 5,000 records (these tests' runs are 20,000).</summary>
    private static readonly VersionPolicySettings Settings = new() { MinTriggerRate = 0.01 };
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
    public void A_candidate_whose_signature_verified_becomes_known_good_after_the_same_run_and_not_before()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings, signatureVerified: true);
        lifecycle.Observe(Failing(0));
        for (ulong i = 1; i < 20; i++)
        {
            Assert.NotEqual(VersionState.KnownGood, lifecycle.Observe(Clean(i)).To);
        }

        DateTimeOffset closed = T0.AddHours(1);
        LifecycleChange change = lifecycle.Observe(new WindowMeasurement(20, 1000, false, closed, []));
        Assert.Equal(VersionState.KnownGood, change.To);
        Assert.Contains("verified artifact signature", change.Reason);
        Assert.True(lifecycle.Trusted);
        Assert.Equal(closed, lifecycle.PromotedAt);
    }

    [Fact]
    public void A_candidate_becomes_observed_clean_after_its_run_of_clean_windows_and_records_never_known_good()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings);
        for (ulong i = 0; i < 19; i++)
        {
            Assert.Equal(VersionState.Candidate, lifecycle.Observe(Clean(i)).To);
        }

        LifecycleChange change = lifecycle.Observe(Clean(19));
        Assert.Equal((VersionState.Candidate, VersionState.ObservedClean), (change.From, change.To));
        Assert.Equal(Verdict.Successful, lifecycle.Verdict);
        Assert.False(lifecycle.Trusted);
        Assert.Null(lifecycle.PromotedAt);
        for (ulong i = 20; i < 200; i++)
        {
            Assert.Equal(VersionState.ObservedClean, lifecycle.Observe(Clean(i)).To);
        }
    }

    [Fact]
    public void One_failing_window_never_demotes_a_known_good_or_observed_clean_version()
    {
        foreach (VersionState trusted in new[] { VersionState.KnownGood, VersionState.ObservedClean })
        {
            var lifecycle = new VersionLifecycle(trusted, Settings);
            for (ulong i = 0; i < 3; i++)
            {
                lifecycle.Observe(Clean(i));
            }

            LifecycleChange change = lifecycle.Observe(Failing(3));
            Assert.Equal((trusted, trusted, false), (change.From, change.To, change.Failed));
            Assert.Equal(Verdict.Inconclusive, lifecycle.Verdict); // a failing run is open
            Assert.Contains("failing window 3 (1 of 3)", change.Reason);
            lifecycle.Observe(Clean(4));
            Assert.Equal((trusted, Verdict.Successful, 0), (lifecycle.State, lifecycle.Verdict, lifecycle.ConsecutiveFailing));
        }
    }

    [Fact]
    public void Counters_given_at_construction_continue_where_they_were()
    {
        var before = new VersionLifecycle(VersionState.Candidate, Settings);
        before.Observe(Failing(0));
        before.Observe(Failing(1));
        var after = new VersionLifecycle(before.State, Settings, counters: before.Counters);
        Assert.Equal((2, 2000L, Verdict.Inconclusive), (after.ConsecutiveFailing, after.FailingRecords, after.Verdict));
        Assert.True(after.Observe(Failing(2)).Failed);
    }

    [Fact]
    public void The_failure_limit_of_consecutive_failing_windows_fails_and_quarantines_once_even_a_known_good_version()
    {
        var lifecycle = new VersionLifecycle(VersionState.KnownGood, Settings);
        lifecycle.Observe(Clean(0));
        Assert.False(lifecycle.Observe(Failing(1)).Failed);
        Assert.Equal(VersionState.KnownGood, lifecycle.State);
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
    public void Rollback_goes_to_the_most_recently_served_known_good_version_never_to_one_that_has_not_served_or_is_only_observed_clean()
    {
        VersionRecord[] versions =
        [
            new("v1", VersionState.KnownGood, T0.AddDays(1), LastServedAt: T0.AddDays(6)),
            new("v2", VersionState.KnownGood, T0.AddDays(5), LastServedAt: T0.AddDays(4)),
            new("v3", VersionState.Quarantined, T0.AddDays(9), LastServedAt: T0.AddDays(9)),
            new("v4", VersionState.KnownGood, T0.AddDays(12), LastServedAt: T0.AddDays(12)),
            new("v5", VersionState.ObservedClean, null, LastServedAt: T0.AddDays(13)),
            new("v6", VersionState.KnownGood, T0.AddDays(14), LastServedAt: null),
            new("v7", VersionState.Candidate, null, LastServedAt: T0.AddDays(14)),
        ];
        Assert.Equal("v1", RollbackPlanner.Target(versions, failed: "v4"));
        Assert.Equal("v4", RollbackPlanner.Target(versions, failed: "v7"));
        Assert.Null(RollbackPlanner.Target([new VersionRecord("v1", VersionState.Candidate, null, T0)], failed: "v1"));
        Assert.Null(RollbackPlanner.Target([new VersionRecord("v1", VersionState.ObservedClean, null, T0)], failed: "v2"));
        Assert.Null(RollbackPlanner.Target([new VersionRecord("v1", VersionState.KnownGood, T0, null)], failed: "v2"));
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

        // A live trigger still counts a small window as failing: it has evidence of its own.
        Assert.True(lifecycle.Observe(new WindowMeasurement(5, 40, true, T0, ["trigger"], Conclusive: false)) is { To: VersionState.KnownGood });
        Assert.Equal(1, lifecycle.ConsecutiveFailing);
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

    [Fact]
    public void A_clean_run_waits_for_the_records_the_readiness_report_needs_inconclusive_with_the_records_still_needed()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings()) { RequiredRecords = 130_000 };
        LifecycleChange change = lifecycle.Observe(Clean(0));
        for (ulong i = 1; i < 129; i++)
        {
            change = lifecycle.Observe(Clean(i));
            Assert.Equal(VersionState.Candidate, change.To);
            Assert.Equal(Verdict.Inconclusive, lifecycle.Verdict);
        }

        // 129 windows of 1,000: the clean run and its records are long enough, the evidence is 1,000 records short.
        Assert.Contains("1,000 more needed", change.Reason);
        Assert.Contains("129,000 of 130,000 records judged", lifecycle.Waiting);
        change = lifecycle.Observe(Clean(129));
        Assert.Equal(VersionState.ObservedClean, change.To);
        Assert.Equal(Verdict.Successful, lifecycle.Verdict);
        Assert.Null(lifecycle.Waiting);
    }

    [Fact]
    public void Without_a_readiness_report_a_candidate_waits_for_fifty_occurrences_at_the_minimum_rate()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings());
        Assert.Equal(500_000, lifecycle.RequiredRecords);
        Assert.Equal(500_000, new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings { MinTriggerRate = 1e-4 }).RequiredRecords);
        Assert.Equal(5_000, new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings { MinTriggerRate = 0.01 }).RequiredRecords);
    }

    [Fact]
    public void A_signed_candidate_waits_for_the_evidence_too_but_an_admins_promotion_does_not()
    {
        var signed = new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings(), signatureVerified: true) { RequiredRecords = 100_000 };
        for (ulong i = 0; i < 50; i++)
        {
            Assert.Equal(VersionState.Candidate, signed.Observe(Clean(i)).To);
        }

        var promoted = new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings()) { RequiredRecords = 100_000 };
        promoted.Observe(Clean(0));
        promoted.Promote(T0);
        for (ulong i = 1; i < 3; i++)
        {
            promoted.Observe(Clean(i));
        }

        Assert.Equal(VersionState.KnownGood, promoted.State);
        Assert.Equal(Verdict.Successful, promoted.Verdict);
        Assert.Null(promoted.Waiting);
    }

    [Fact]
    public void Windows_closed_by_time_before_they_filled_add_no_evidence()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, Settings with { PromoteAfterCleanWindows = 1, PromoteAfterRecords = 0 })
        {
            RequiredRecords = 3000,
        };
        for (ulong i = 0; i < 1000; i++)
        {
            lifecycle.Observe(new WindowMeasurement(i, 10, false, T0, [], Conclusive: false));
        }

        Assert.Equal(0, lifecycle.RecordsJudged);
        Assert.Equal(VersionState.Candidate, lifecycle.State);
        Assert.NotNull(lifecycle.Waiting);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1e-4)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_minimum_trigger_rate_out_of_range_is_a_settings_problem(double rate)
    {
        string problem = Assert.Single(new VersionPolicySettings { MinTriggerRate = rate }.Problems("Monitor:Versions"));
        Assert.Contains("Monitor:Versions:MinTriggerRate must lie in (0, 1]", problem);
    }

    [Fact]
    public void A_suspect_waiting_for_evidence_is_a_candidate_again_after_its_clean_windows()
    {
        var lifecycle = new VersionLifecycle(VersionState.Candidate, new VersionPolicySettings()) { RequiredRecords = 100_000 };
        lifecycle.Observe(Failing(0));
        Assert.Equal(VersionState.Suspect, lifecycle.State);
        LifecycleChange change = default!;
        for (ulong i = 1; i <= 30; i++)
        {
            change = lifecycle.Observe(Clean(i));
        }

        Assert.Equal(VersionState.Candidate, lifecycle.State);
        Assert.Equal(Verdict.Inconclusive, lifecycle.Verdict);
        Assert.Contains("waiting for evidence: 31,000 of 100,000 records judged", change.Reason);
    }
}
