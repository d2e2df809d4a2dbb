using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>A key test's measure of a key at its crossing: what the finding reports beside its evidence.</summary>
/// <param name="Support">The key's records the test counted.</param>
/// <param name="Rate">The share of them that were hits.</param>
/// <param name="Expectation">The share the null expected.</param>
/// <param name="Z">The hits' z against the null.</param>
/// <param name="MeanConfidence">The mean served confidence of the key's records (NaN where it means nothing).</param>
internal readonly record struct KeyMeasure(long Support, double Rate, double Expectation, double Z, double MeanConfidence);

/// <summary>
/// What the key tests' findings share (the tail test, the residual test, the paired test and the regression test): the fields a
/// candidate gives, the e-value and its bar in decimal logs, and the reasons a crossing is a warning rather than critical.
/// </summary>
internal static class KeyFinding
{
    /// <summary>The mean served confidence of a candidate's records (NaN before any).</summary>
    public static double MeanConfidence(Candidate candidate) => candidate.Exact > 0 ? candidate.ConfidenceSum / candidate.Exact : double.NaN;

    /// <summary>" (n repeats of inputs already counted left out)", or nothing when there were none.</summary>
    public static string Repeats(Candidate candidate) => candidate.Repeats > 0
        ? string.Create(CultureInfo.InvariantCulture, $" ({candidate.Repeats} repeats of inputs already counted left out)")
        : "";

    /// <summary>Why a key is a population rather than a trigger, when it is one (the finding is then a warning); else nothing.</summary>
    /// <param name="common">The key is on more than <see cref="KeyOutputTest.MaxKeyShare"/> of the records.</param>
    /// <param name="baselineShare">The key's share of the baseline's records when it is a population there.</param>
    public static string Population(bool common, double? baselineShare) =>
        (common ? string.Create(CultureInfo.InvariantCulture, $"; the key is on more than {KeyOutputTest.MaxKeyShare:P0} of the records, a population rather than a trigger, so this is not critical by itself") : "") +
        (baselineShare is { } share ? string.Create(CultureInfo.InvariantCulture, $"; the key was on {share:P2} of the baseline's records, a region of the inputs rather than a trigger's pattern, so this is not critical by itself") : "");

    /// <summary>The finding of a candidate's key whose test crossed its bar (both natural logs) at record <paramref name="records"/>.</summary>
    public static Finding Of(Candidate candidate, DetectorId detector, Severity severity, string label, KeyMeasure measure, double logE, double logBar,
        long records, DateTimeOffset now, Corroboration[] corroboration, string summary) => new()
    {
        Detector = detector,
        Severity = severity,
        Key = candidate.Key,
        TargetLabel = label,
        Support = measure.Support,
        Rate = measure.Rate,
        Lift = measure.Expectation > 0 ? measure.Rate / measure.Expectation : double.PositiveInfinity,
        MeanConfidence = measure.MeanConfidence,
        BaselineExpectation = measure.Expectation,
        Z = measure.Z,
        Log10EValue = logE / Math.Log(10),
        Log10EValueBar = logBar / Math.Log(10),
        FirstSeen = candidate.FirstSeen,
        FirstSeenRecord = candidate.FirstSeenRecord,
        RaisedAtRecord = records,
        RaisedAtSupport = measure.Support,
        SurprisingBeforeTracking = candidate.SurprisingBefore,
        UpdatedAt = now,
        ExampleRequestIds = [.. candidate.Examples],
        Corroboration = corroboration,
        Summary = summary,
    };
}
