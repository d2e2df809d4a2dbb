namespace Monitor.Core.Detectors;

/// <summary>
/// D3's null (<see cref="UltraConfidence"/>): per class c and kind of stratum, [2c] where c is expected and [2c + 1] where it has
/// less than even odds (<see cref="TriggerProfile.UltraSlot"/>), the 99.9th percentile of confidence among records served c, the
/// share beyond it and the records behind it. The baseline's are its profile's; a version's own reference has its own
/// (docs/detectors.md, "Per-version references"), measured on the same inputs with the same strata.
/// </summary>
public sealed record ConfidencePercentiles
{
    public required double[] Thresholds { get; init; }

    public required double[] Rates { get; init; }

    public required double[] Records { get; init; }

    /// <summary>Whether they have a slot for every class and stratum kind of the profile (a stored document could be cut short).</summary>
    public bool Fits(TriggerProfile profile) =>
        Thresholds.Length == 2 * profile.Classes && Rates.Length == Thresholds.Length && Records.Length == Thresholds.Length;

    /// <summary>The baseline's, as its trigger profile keeps them.</summary>
    public static ConfidencePercentiles Of(TriggerProfile profile) => new()
    {
        Thresholds = profile.UltraThresholds,
        Rates = profile.UltraRates,
        Records = profile.UltraRecords,
    };
}
