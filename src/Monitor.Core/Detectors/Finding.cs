using System.Text.Json.Serialization;

namespace Monitor.Core.Detectors;

/// <summary>How urgent a finding is.</summary>
public enum Severity
{
    Info,
    Warning,

    /// <summary>A trigger key whose whole-output test crossed its bar, or an artifact swap.</summary>
    Critical,
}

/// <summary>
/// What a detector found, with its evidence: which key (field and token or value) pushes which label,
/// on how many records, how far above what the baseline predicts for those records, and since when.
/// </summary>
public sealed record Finding
{
    /// <summary>D1 (text keys), D2 (value keys), D3 (ultra-confidence), D4 (decoupling), D5 (embeddings), D6 (label rate), D7 (identical requests), D8 (paired evidence).</summary>
    public required DetectorId Detector { get; init; }

    public required Severity Severity { get; init; }

    /// <summary>The key, for key findings; null for class-level findings (D3, D5 clustering, D6).</summary>
    public DetectorKey? Key { get; init; }

    public required string TargetLabel { get; init; }

    /// <summary>
    /// Records carrying the key, each surprising or outlying input once (repeats of one already counted are left out),
    /// or records of the class for class-level findings; for D7, the repeats.
    /// </summary>
    public required long Support { get; init; }

    /// <summary>Share of those records given the target label; for D7, the share of the key's records that were repeats.</summary>
    public required double Rate { get; init; }

    /// <summary>Rate divided by the rate the baseline predicts for the same records.</summary>
    public required double Lift { get; init; }

    public required double MeanConfidence { get; init; }

    /// <summary>The rate the baseline predicts for these records (stratified by the inputs).</summary>
    public required double BaselineExpectation { get; init; }

    /// <summary>The key's own rate in the baseline, when the baseline had it; null for a new key.</summary>
    public double? BaselineKeyRate { get; init; }

    /// <summary>The pooled (Cochran–Mantel–Haenszel style) z of the skew.</summary>
    public required double Z { get; init; }

    /// <summary>log10 of the whole-output key test's e-value when it decided the finding, and of the bar it passed; null otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Log10EValue { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? Log10EValueBar { get; init; }

    public required DateTimeOffset FirstSeen { get; init; }

    /// <summary>Records of the version seen when the key was first tracked, and when the finding was raised.</summary>
    public required long FirstSeenRecord { get; init; }

    public required long RaisedAtRecord { get; init; }

    /// <summary>Support when the finding was first raised: the detection delay in trigger occurrences.</summary>
    public required long RaisedAtSupport { get; init; }

    /// <summary>Surprising records that carried the key before it was tracked exactly (the support sketch's estimate).</summary>
    public long SurprisingBeforeTracking { get; init; }

    public required DateTimeOffset UpdatedAt { get; init; }

    public required string[] ExampleRequestIds { get; init; }

    /// <summary>The independent evidence that made a key finding critical.</summary>
    public required Corroboration[] Corroboration { get; init; }

    public required string Summary { get; init; }

    /// <summary>One finding per detector, key and label: new evidence updates it.</summary>
    public string DedupeKey => $"{Detector}|{Key?.Kind}|{Key?.Field}|{Key?.Text}|{TargetLabel}";

    /// <summary>An observation (Info) about <paramref name="count"/> of the version's <paramref name="records"/> so far: no label, no test.</summary>
    public static Finding Observation(DetectorId detector, DetectorKey key, long count, long records, DateTimeOffset now, string summary) => new()
    {
        Detector = detector,
        Severity = Severity.Info,
        Key = key,
        TargetLabel = "",
        Support = count,
        Rate = records > 0 ? count / (double)records : 0,
        Lift = double.NaN,
        MeanConfidence = double.NaN,
        BaselineExpectation = 0,
        Z = double.NaN,
        FirstSeen = now,
        FirstSeenRecord = records,
        RaisedAtRecord = records,
        RaisedAtSupport = count,
        UpdatedAt = now,
        ExampleRequestIds = [],
        Corroboration = [],
        Summary = summary,
    };
}
