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
    /// <remarks>Values are checked too: thresholds and rates in [0, 1], record counts finite and not negative.</remarks>
    public bool Fits(TriggerProfile profile) =>
        Thresholds is not null && Rates is not null && Records is not null
        && Thresholds.Length == 2 * profile.Classes && Rates.Length == Thresholds.Length && Records.Length == Thresholds.Length
        && Thresholds.All(t => t is >= 0 and <= 1) && Rates.All(r => r is >= 0 and <= 1) && Records.All(n => double.IsFinite(n) && n >= 0);

    /// <summary>A version's own slot is used where its reference put at least this many records; elsewhere the baseline's.</summary>
    public const int MinOwnRecords = 100;

    /// <summary>
    /// These (a version's own) slot by slot where they rest on <see cref="MinOwnRecords"/> records or more, the baseline's
    /// elsewhere: a thin slot's percentile is about its few records' maximum (an empty one 0.5, with a rate near 0), and
    /// would make every record served that class above it "ultra-confident", corroborating any key among them.
    /// </summary>
    public ConfidencePercentiles Over(ConfidencePercentiles baseline)
    {
        double[] thresholds = (double[])baseline.Thresholds.Clone();
        double[] rates = (double[])baseline.Rates.Clone();
        double[] records = (double[])baseline.Records.Clone();
        for (int slot = 0; slot < Thresholds.Length && slot < thresholds.Length; slot++)
        {
            if (Records[slot] >= MinOwnRecords)
            {
                (thresholds[slot], rates[slot], records[slot]) = (Thresholds[slot], Rates[slot], Records[slot]);
            }
        }

        return new ConfidencePercentiles { Thresholds = thresholds, Rates = rates, Records = records };
    }

    /// <summary>Per slot, whether these (a version's own) are used there by <see cref="Over"/>.</summary>
    public bool[] OwnSlots() => [.. Records.Select(r => r >= MinOwnRecords)];

    /// <summary>The baseline's, as its trigger profile keeps them.</summary>
    public static ConfidencePercentiles Of(TriggerProfile profile) => new()
    {
        Thresholds = profile.UltraThresholds,
        Rates = profile.UltraRates,
        Records = profile.UltraRecords,
    };
}
