namespace Monitor.Core.Detectors;

/// <summary>
/// The rest of a version's own output-shape reference (docs/detectors.md, "Per-version references"), beside D3's percentiles
/// (<see cref="ConfidencePercentiles"/>): the whole-output key test's tails (<see cref="TailProfile"/>, per stratum and class)
/// and D4's residuals (<see cref="Decoupling"/>, per class), measured on the version's outputs on the baseline's reference inputs,
/// each record in the stratum the baseline's surrogate gives its inputs, by the same code that measures the baseline's.
/// </summary>
public sealed record OutputShape
{
    /// <summary>The version's tail thresholds and hit rates, [stratum × classes + class].</summary>
    public required TailProfile Tails { get; init; }

    /// <summary>Per stratum: the reference records behind its tails.</summary>
    public required double[] StratumRecords { get; init; }

    /// <summary>Per class: the mean of (served − surrogate) P(c) over records whose inputs give c less than even odds.</summary>
    public required double[] ResidualMean { get; init; }

    /// <summary>Per class: the spread of those residuals (at least 0.01, as the baseline's).</summary>
    public required double[] ResidualStd { get; init; }

    /// <summary>Per class: the records behind <see cref="ResidualMean"/>.</summary>
    public required double[] ResidualRecords { get; init; }

    /// <summary>A version's own stratum or class is used where its reference put at least this many records there; elsewhere the baseline's.</summary>
    public const int MinOwnRecords = ConfidencePercentiles.MinOwnRecords;

    /// <summary>
    /// Whether every part is there with the profile's shape and sane values (a stored document could be cut short or edited by hand):
    /// thresholds not NaN and at least 0 (+∞ where a stratum had no record), rates in [0, 1], residual means finite, spreads finite
    /// and positive, record counts finite and not negative. One that does not fit is not used: the baseline's are.
    /// </summary>
    public bool Fits(TriggerProfile profile)
    {
        int cells = profile.Strata * profile.Classes;
        return Tails is { Thresholds: { } thresholds, Rates: { } rates } && StratumRecords is not null && ResidualMean is not null
            && ResidualStd is not null && ResidualRecords is not null
            && thresholds.Length == cells && rates.Length == cells && StratumRecords.Length == profile.Strata
            && ResidualMean.Length == profile.Classes && ResidualStd.Length == profile.Classes && ResidualRecords.Length == profile.Classes
            && thresholds.All(t => t >= 0) && rates.All(r => r is >= 0 and <= 1) && ResidualMean.All(double.IsFinite)
            && ResidualStd.All(v => double.IsFinite(v) && v > 0) && StratumRecords.Concat(ResidualRecords).All(n => double.IsFinite(n) && n >= 0);
    }

    /// <summary>
    /// These tails stratum by stratum where the reference put <see cref="MinOwnRecords"/> records or more there, the baseline's
    /// elsewhere: a thin stratum's 99th percentile is about its few records' maximum, and an empty one has none at all.
    /// </summary>
    public TailProfile TailsOver(TailProfile baseline, int classes)
    {
        double[] thresholds = (double[])baseline.Thresholds.Clone();
        double[] rates = (double[])baseline.Rates.Clone();
        for (int s = 0; s < StratumRecords.Length; s++)
        {
            if (StratumRecords[s] >= MinOwnRecords)
            {
                Array.Copy(Tails.Thresholds, s * classes, thresholds, s * classes, classes);
                Array.Copy(Tails.Rates, s * classes, rates, s * classes, classes);
            }
        }

        return new TailProfile { Thresholds = thresholds, Rates = rates };
    }

    /// <summary>D4's residual mean and spread per class: these where they rest on <see cref="MinOwnRecords"/> records or more, the baseline's elsewhere.</summary>
    public (double[] Mean, double[] Std, bool[] Own) ResidualsOver(TriggerProfile baseline)
    {
        double[] mean = (double[])baseline.ResidualMean.Clone();
        double[] std = (double[])baseline.ResidualStd.Clone();
        var own = new bool[mean.Length];
        for (int c = 0; c < ResidualRecords.Length && c < mean.Length; c++)
        {
            if (ResidualRecords[c] >= MinOwnRecords)
            {
                (mean[c], std[c], own[c]) = (ResidualMean[c], ResidualStd[c], true);
            }
        }

        return (mean, std, own);
    }

    /// <summary>Strata whose tails are the version's own (<see cref="TailsOver"/>).</summary>
    public int OwnStrata => StratumRecords.Count(r => r >= MinOwnRecords);

    /// <summary>Classes whose residuals are the version's own (<see cref="ResidualsOver"/>).</summary>
    public int OwnResidualClasses => ResidualRecords.Count(r => r >= MinOwnRecords);
}
