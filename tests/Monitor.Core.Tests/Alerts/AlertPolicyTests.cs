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
}
