using Monitor.Core.Alerts;
using Monitor.Core.Detectors;

namespace Monitor.Core.Tests.Alerts;

public sealed class AlertPolicyTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private static readonly Signal Drift = new("drift|amount", "drift", Severity.Warning, "psi 0.41 > 0.06");
    private static readonly Signal Trigger = new("D1|ref:xz-#|legitimate", "trigger", Severity.Critical, "z = 23.5");

    [Fact]
    public void A_warning_fires_after_two_windows_in_a_row_and_a_critical_at_once()
    {
        var policy = new AlertPolicy("m", "v", new AlertPolicySettings());
        Assert.Empty(policy.Observe([Drift], T0));
        Assert.Single(policy.Observe([Drift], T0.AddMinutes(1)));

        var other = new AlertPolicy("m", "v", new AlertPolicySettings());
        Alert fired = Assert.Single(other.Observe([Trigger], T0));
        Assert.Equal(AlertState.Firing, fired.State);
        Assert.Equal(Severity.Critical, fired.Severity);
    }

    [Fact]
    public void One_problem_is_one_alert_whose_evidence_grows()
    {
        var policy = new AlertPolicy("m", "v", new AlertPolicySettings());
        for (int w = 0; w < 6; w++)
        {
            policy.Observe([Trigger with { Evidence = $"window {w}" }], T0.AddMinutes(w));
        }

        Alert alert = Assert.Single(policy.Alerts.Values);
        Assert.Equal(6, alert.Windows);
        Assert.Equal(T0, alert.FirstSeen);
        Assert.Equal(T0.AddMinutes(5), alert.LastSeen);
        Assert.Equal(["window 0", "window 1", "window 2", "window 3", "window 4", "window 5"], alert.Evidence);
    }

    [Fact]
    public void It_resolves_after_three_clean_windows_and_a_quick_return_reopens_the_same_alert()
    {
        var policy = new AlertPolicy("m", "v", new AlertPolicySettings { Cooldown = TimeSpan.FromMinutes(30) });
        policy.Observe([Trigger], T0);
        Assert.Empty(policy.Observe([], T0.AddMinutes(1)));
        Assert.Empty(policy.Observe([], T0.AddMinutes(2)));
        Alert resolved = Assert.Single(policy.Observe([], T0.AddMinutes(3)));
        Assert.Equal(AlertState.Resolved, resolved.State);

        Alert reopened = Assert.Single(policy.Observe([Trigger], T0.AddMinutes(10)));
        Assert.Equal(AlertState.Firing, reopened.State);
        Assert.Equal(T0, reopened.FirstSeen);

        policy.Observe([], T0.AddMinutes(11));
        policy.Observe([], T0.AddMinutes(12));
        policy.Observe([], T0.AddMinutes(13));
        Alert fresh = Assert.Single(policy.Observe([Trigger], T0.AddHours(2)));
        Assert.Equal(T0.AddHours(2), fresh.FirstSeen);
    }

    [Fact]
    public void A_raised_problem_fires_at_once_lasts_through_clean_windows_and_resolves_only_when_told()
    {
        var policy = new AlertPolicy("m", "v", new AlertPolicySettings { ResolveAfterWindows = 2 });
        var failed = new Signal("verdict-failed", "verdict", Severity.Critical, "3 failing windows");
        Alert raised = policy.Raise(failed, T0);
        Assert.Equal((AlertState.Firing, 1, true, 0), (raised.State, raised.Episode, raised.Raised, raised.Windows));
        for (int w = 1; w <= 5; w++)
        {
            Assert.Empty(policy.Observe([], T0.AddMinutes(w)));
        }

        Assert.Equal(AlertState.Firing, policy.Alerts["verdict-failed"].State);
        Assert.Empty(policy.ResolveRaised(T0.AddMinutes(6), "rollback-held"));
        Alert resolved = Assert.Single(policy.ResolveRaised(T0.AddMinutes(6)));
        Assert.Equal((AlertState.Resolved, T0.AddMinutes(6)), (resolved.State, resolved.ResolvedAt));
    }

    [Fact]
    public void A_window_too_small_to_judge_neither_resolves_nor_interrupts_a_problem()
    {
        var policy = new AlertPolicy("m", "v", new AlertPolicySettings { FireAfterWindows = 2, ResolveAfterWindows = 1 });
        policy.Observe([Drift], T0);
        Assert.Empty(policy.Observe([], T0.AddMinutes(1), countAbsence: false));
        Assert.Single(policy.Observe([Drift], T0.AddMinutes(2))); // the run of two was not broken
        Assert.Empty(policy.Observe([], T0.AddMinutes(3), countAbsence: false));
        Assert.Equal(AlertState.Firing, policy.Alerts[Drift.DedupeKey].State);
        Assert.Equal(AlertState.Resolved, Assert.Single(policy.Observe([], T0.AddMinutes(4))).State);
    }

    [Fact]
    public void A_problem_back_after_the_cooldown_opens_the_next_episode_and_repeated_evidence_is_kept_once()
    {
        var settings = new AlertPolicySettings { ResolveAfterWindows = 1, Cooldown = TimeSpan.FromMinutes(10) };
        var policy = new AlertPolicy("m", "v", settings);
        policy.Observe([Trigger], T0);
        policy.Observe([Trigger], T0.AddMinutes(1));
        Assert.Equal(["z = 23.5"], policy.Alerts[Trigger.DedupeKey].Evidence);
        policy.Observe([], T0.AddMinutes(2));
        Alert back = Assert.Single(policy.Observe([Trigger], T0.AddMinutes(30)));
        Assert.Equal((2, AlertState.Firing, T0.AddMinutes(30)), (back.Episode, back.State, back.FirstSeen));
    }

    [Fact]
    public void Restored_alerts_grow_and_resolve_instead_of_firing_again()
    {
        var before = new AlertPolicy("m", "v", new AlertPolicySettings { ResolveAfterWindows = 2 });
        before.Observe([Drift], T0);
        Alert firing = Assert.Single(before.Observe([Drift], T0.AddMinutes(1)));
        Alert raised = before.Raise(new Signal("artifact-digest", "artifact-digest", Severity.Critical, "swapped"), T0.AddMinutes(1));

        var after = new AlertPolicy("m", "v", new AlertPolicySettings { ResolveAfterWindows = 2 });
        after.Restore([firing, raised]);
        Alert grown = Assert.Single(after.Observe([Drift], T0.AddMinutes(2)));
        Assert.Equal((1, 3), (grown.Episode, grown.Windows));
        after.Observe([], T0.AddMinutes(3));
        Alert resolved = Assert.Single(after.Observe([], T0.AddMinutes(4)));
        Assert.Equal((Drift.DedupeKey, AlertState.Resolved), (resolved.DedupeKey, resolved.State));
        Assert.Equal(AlertState.Firing, after.Alerts["artifact-digest"].State); // raised ones stay until someone acts
    }
}
