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
