using Monitor.Core.Alerts;
using Monitor.Core.Detectors;
using Monitor.Core.Schema;
using Monitor.Core.Versions;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Versions;

public sealed class WindowJudgeTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private static readonly HashSet<string> Critical = new(StringComparer.Ordinal) { "amount", "output.class" };

    private static ChannelResult Channel(string name, bool drifted) => new()
    {
        Name = name, Kind = ChannelKind.Numeric, Count = 500, Missing = 0, Mean = 1, Std = 1, BaselineMean = 0, BaselineStd = 1,
        Counts = [250, 250], Statistics = [Statistic.Psi, Statistic.KolmogorovSmirnov], Values = [0.31, 0.05], Thresholds = [0.2, 0.1],
        PValues = [double.NaN, 0.5], Exceeded = [drifted, false],
    };

    private static WindowResult Window(ulong index, bool complete, params ChannelResult[] channels) => new()
    {
        Index = index, BaselineId = 1, OpenedAt = T0, ClosedAt = T0, Records = complete ? 500 : 120, Complete = complete, Channels = channels,
    };

    private static Finding Finding(string key, Severity severity, long support = 40) => new()
    {
        Detector = DetectorId.D1, Severity = severity, Key = new DetectorKey(KeyKind.Token, "memo", key), TargetLabel = "legitimate", Support = support,
        Rate = 1, Lift = 20, MeanConfidence = 0.99, BaselineExpectation = 0.05, Z = 10, FirstSeen = T0, FirstSeenRecord = 1, RaisedAtRecord = 2,
        RaisedAtSupport = 35, UpdatedAt = T0, ExampleRequestIds = [], Corroboration = [], Summary = $"token '{key}' in memo",
    };

    [Fact]
    public void A_critical_output_channel_over_its_threshold_with_no_input_drift_fails_the_window_and_names_the_statistic()
    {
        WindowJudgement judgement = WindowJudge.Judge(Window(4, true, Channel("output.class", true), Channel("hour", false)), T0, false, [], Critical, []);

        Assert.True(judgement.Failing);
        Assert.Equal(["critical output output.class drifted with no input drift to explain it (psi 0.31 > 0.2)"], judgement.Measurement.Reasons);
        Signal signal = Assert.Single(judgement.Signals);
        Assert.Equal((AlertKinds.DriftKey("output.class"), AlertKinds.Drift, Severity.Critical), (signal.DedupeKey, signal.Kind, signal.Severity));
        Assert.Equal("window 4: output.class psi 0.31 > 0.2", signal.Evidence);
    }

    [Fact]
    public void A_critical_input_channel_over_its_threshold_raises_a_critical_alert_but_never_fails_the_window()
    {
        WindowJudgement judgement = WindowJudge.Judge(Window(4, true, Channel("amount", true), Channel("hour", false)), T0, false, [], Critical, []);

        Assert.False(judgement.Failing);
        Assert.Empty(judgement.Measurement.Reasons);
        Signal signal = Assert.Single(judgement.Signals);
        Assert.Equal((AlertKinds.DriftKey("amount"), Severity.Critical), (signal.DedupeKey, signal.Severity));
        Assert.Equal("window 4: amount psi 0.31 > 0.2 (input drift: alerts, never fails a version)", signal.Evidence);
    }

    [Fact]
    public void Output_drift_that_input_drift_in_the_same_window_explains_alerts_without_failing()
    {
        WindowJudgement judgement = WindowJudge.Judge(Window(4, true, Channel("output.class", true), Channel("hour", true)), T0, false, [], Critical, []);

        Assert.False(judgement.Failing);
        Signal output = Assert.Single(judgement.Signals, s => s.DedupeKey == AlertKinds.DriftKey("output.class"));
        Assert.Equal(Severity.Critical, output.Severity);
        Assert.Equal("window 4: output.class psi 0.31 > 0.2 (with input drift in hour: not failing)", output.Evidence);
    }

    [Fact]
    public void Drift_of_another_channel_warns_without_failing()
    {
        WindowJudgement judgement = WindowJudge.Judge(Window(0, true, Channel("hour", true)), T0, false, [], Critical, []);

        Assert.False(judgement.Failing);
        Assert.Equal(Severity.Warning, Assert.Single(judgement.Signals).Severity);
        Assert.True(judgement.Measurement.Conclusive);
    }

    [Fact]
    public void A_window_closed_by_time_is_inconclusive_and_its_drift_is_not_judged()
    {
        WindowJudgement judgement = WindowJudge.Judge(Window(0, false, Channel("amount", true)), T0, false, [], Critical, []);

        Assert.False(judgement.Failing);
        Assert.False(judgement.Measurement.Conclusive);
        Assert.Empty(judgement.Signals);
    }

    [Fact]
    public void A_live_critical_trigger_fails_even_a_window_closed_by_time_with_the_findings_as_reasons()
    {
        Finding[] findings = [Finding("a", Severity.Critical), Finding("b", Severity.Warning), Finding("c", Severity.Critical)];
        WindowJudgement judgement = WindowJudge.Judge(Window(0, false), T0, true, findings, Critical, []);

        Assert.True(judgement.Failing);
        Assert.Equal(["token 'a' in memo", "token 'c' in memo"], judgement.Measurement.Reasons);
    }

    [Fact]
    public void A_finding_is_a_problem_of_the_window_while_its_key_was_hit_within_the_active_span()
    {
        Finding recent = Finding("recent", Severity.Critical);
        Finding stale = Finding("stale", Severity.Warning);
        ulong index = 30;
        LiveFinding[] live = [new(recent, index - TriggerDetector.ActiveWindows + 1), new(stale, index - TriggerDetector.ActiveWindows)];

        WindowJudgement judgement = WindowJudge.Judge(Window(index, true), T0, false, [], Critical, live);

        Signal signal = Assert.Single(judgement.Signals);
        Assert.Equal(AlertKinds.FindingKey(recent.DedupeKey), signal.DedupeKey);
        Assert.Equal("trigger:D1", signal.Kind);
        Assert.False(judgement.Failing); // a finding fails windows through the detector's live-trigger flag, not through its signal
    }

    [Fact]
    public void Key_evidence_fails_a_trusted_version_only_from_min_failing_records_distinct_records_on_one_live_critical_key()
    {
        const long minFailingRecords = 1000;
        ulong index = 30;
        LiveFinding Live(string key, Severity severity, long support, ulong windowsAgo = 0) => new(Finding(key, severity, support), index - windowsAgo);

        // An untrusted version fails on any live critical key; a trusted one not on a dozen records, nor on several small keys together.
        LiveFinding[] small = [Live("a", Severity.Critical, 16), Live("b", Severity.Critical, 999)];
        Assert.True(WindowJudge.TriggerFails(criticalActive: true, trusted: false, index, small, minFailingRecords));
        Assert.False(WindowJudge.TriggerFails(criticalActive: true, trusted: true, index, small, minFailingRecords));

        // One live critical key with that many distinct records does; a warning, a stale finding or an inactive detector does not.
        Assert.True(WindowJudge.TriggerFails(true, true, index, [.. small, Live("c", Severity.Critical, 1000)], minFailingRecords));
        Assert.False(WindowJudge.TriggerFails(true, true, index, [Live("c", Severity.Warning, 5000)], minFailingRecords));
        Assert.False(WindowJudge.TriggerFails(true, true, index, [Live("c", Severity.Critical, 5000, TriggerDetector.ActiveWindows)], minFailingRecords));
        Assert.True(WindowJudge.TriggerFails(true, true, index, [Live("c", Severity.Critical, 5000, TriggerDetector.ActiveWindows - 1)], minFailingRecords));
        Assert.False(WindowJudge.TriggerFails(criticalActive: false, trusted: false, index, [Live("c", Severity.Critical, 5000)], minFailingRecords));
    }
}
