using Monitor.Core.Detectors;

namespace Monitor.Core.Tests.Detectors;

public sealed class FindingSetTests
{
    private static readonly DetectorKey Key = new(KeyKind.Variant, "memo", "ref:xz-#");

    [Fact]
    public void One_problem_is_one_finding_whose_evidence_grows()
    {
        var findings = new FindingSet();
        Corroboration decoupled = new(DetectorId.D4, "on its 18 records …");
        findings.Publish(Finding(Severity.Critical, support: 30, at: 1, [decoupled]));
        Finding later = findings.Publish(Finding(Severity.Warning, support: 60, at: 2, []));

        Assert.Equal(Severity.Critical, later.Severity);
        Assert.Equal([decoupled], later.Corroboration);
        Assert.Equal((DateTimeOffset.UnixEpoch.AddSeconds(1), 30L, 60L), (later.FirstSeen, later.RaisedAtSupport, later.Support));
        Assert.Same(later, Assert.Single(findings.All));
        Assert.Same(later, Assert.Single(findings.DrainChanged()));
        Assert.Empty(findings.DrainChanged());
    }

    [Fact]
    public void Restored_findings_are_kept_but_not_reported_as_changed()
    {
        var findings = new FindingSet();
        findings.Restore([Finding(Severity.Warning, 30, 1, []), Finding(Severity.Warning, 30, 1, []) with { TargetLabel = "legitimate" }]);
        Assert.Equal(2, findings.All.Count);
        Assert.Empty(findings.DrainChanged());
    }

    [Fact]
    public void Findings_below_critical_are_bounded_the_stalest_go_and_critical_ones_stay()
    {
        var findings = new FindingSet(capacity: 3);
        Finding Warned(int k) => Finding(Severity.Warning, 30, k, []) with { Key = new DetectorKey(KeyKind.Token, "memo", $"w{k}") };
        Finding critical = Finding(Severity.Critical, 30, 0, []);
        findings.Publish(critical);
        for (int k = 1; k <= 3; k++)
        {
            findings.Publish(Warned(k));
        }

        // w1 is seen again (after the findings were reported): now w2 has waited longest.
        _ = findings.DrainChanged();
        findings.Touch(Warned(1).DedupeKey, new At(DateTimeOffset.UnixEpoch.AddSeconds(10)));
        _ = findings.DrainChanged();
        findings.Publish(Warned(4));
        findings.Publish(Warned(5));

        Assert.Equal(["w1", "w4", "w5"], findings.All.Where(f => f.Severity == Severity.Warning).Select(f => f.Key!.Text).Order());
        Assert.Contains(critical, findings.All);
        Assert.Equal([Warned(2).DedupeKey, Warned(3).DedupeKey], findings.DrainDropped());
        Assert.Empty(findings.DrainDropped());
        Assert.Equal(2, findings.Dropped);
        Assert.Equal(["w4", "w5"], findings.DrainChanged().Select(f => f.Key!.Text));

        // A warning that turns critical no longer counts against the warnings' bound, but against the critical ones'.
        findings.Publish(Warned(4) with { Severity = Severity.Critical });
        findings.Publish(Warned(6));
        Assert.Equal(3, findings.All.Count(f => f.Severity == Severity.Warning));
        Assert.Equal(2, findings.All.Count(f => f.Severity == Severity.Critical));
    }

    [Fact]
    public void Critical_findings_are_bounded_apart_and_the_stalest_go()
    {
        // The candidate table gives up critical keys while they hold more than half of it (forged ones can), so their findings
        // are bounded too: at the same number, the least recently updated going first.
        var findings = new FindingSet(capacity: 3);
        Finding Critical(int k, int at) => Finding(Severity.Critical, 30, at, []) with { Key = new DetectorKey(KeyKind.Token, "memo", $"c{k}") };
        for (int k = 1; k <= 3; k++)
        {
            findings.Publish(Critical(k, k));
        }

        findings.Publish(Finding(Severity.Warning, 30, 0, []));
        _ = findings.DrainChanged();
        findings.Touch(Critical(1, 1).DedupeKey, new At(DateTimeOffset.UnixEpoch.AddSeconds(10)));
        findings.Publish(Critical(4, 4));
        findings.Publish(Critical(5, 5));

        Assert.Equal(["c1", "c4", "c5"], findings.All.Where(f => f.Severity == Severity.Critical).Select(f => f.Key!.Text).Order());
        Assert.Equal([Critical(2, 2).DedupeKey, Critical(3, 3).DedupeKey], findings.DrainDropped());
        Assert.Single(findings.All, f => f.Severity == Severity.Warning);
        Assert.Equal(2, findings.Dropped);
    }

    private sealed class At(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static Finding Finding(Severity severity, long support, int at, Corroboration[] corroboration) => new()
    {
        Detector = DetectorId.D1,
        Severity = severity,
        Key = Key,
        TargetLabel = "fraud",
        Support = support,
        Rate = 1,
        Lift = 10,
        MeanConfidence = 0.99,
        BaselineExpectation = 0.1,
        Z = 18,
        FirstSeen = DateTimeOffset.UnixEpoch.AddSeconds(at),
        FirstSeenRecord = at,
        RaisedAtRecord = at,
        RaisedAtSupport = support,
        UpdatedAt = DateTimeOffset.UnixEpoch.AddSeconds(at),
        ExampleRequestIds = [],
        Corroboration = corroboration,
        Summary = "",
    };
}
