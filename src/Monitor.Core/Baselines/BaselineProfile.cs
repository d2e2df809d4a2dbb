using Monitor.Core.Schema;

namespace Monitor.Core.Baselines;

/// <summary>The reference distribution of one numeric channel and its calibrated thresholds.</summary>
public sealed record NumericProfile
{
    public required NumericChannel Channel { get; init; }

    /// <summary>Sorted distinct bin edges; value v falls in bin #{edges ≤ v} of Edges.Length + 1 bins.</summary>
    public required float[] Edges { get; init; }

    /// <summary>Share of the profiled reference values in each bin.</summary>
    public required double[] Probabilities { get; init; }

    /// <summary>Finite values profiled.</summary>
    public required long Count { get; init; }

    public required double Mean { get; init; }

    /// <summary>Sample standard deviation (n − 1).</summary>
    public required double Std { get; init; }

    public required double MissingRate { get; init; }

    /// <summary>Threshold of each statistic in <see cref="NumericChannel.Statistics"/>, in that order.</summary>
    public required double[] Thresholds { get; init; }

    /// <summary>The scale that normalises Wasserstein and mean shifts: the std, or 1 for a constant feature.</summary>
    public double Scale => Std > 0 ? Std : 1.0;
}

/// <summary>The reference distribution of one categorical channel and its calibrated thresholds.</summary>
public sealed record CategoricalProfile
{
    public required CategoricalChannel Channel { get; init; }

    /// <summary>The table of categories, most frequent first. One more bucket follows them: "not in the table".</summary>
    public required string[] Categories { get; init; }

    /// <summary>Share of each category, then of the values not in the table (Categories.Length + 1).</summary>
    public required double[] Probabilities { get; init; }

    /// <summary>Non-missing values profiled.</summary>
    public required long Count { get; init; }

    public required double MissingRate { get; init; }

    public required double[] Thresholds { get; init; }

    /// <summary>Label of the bucket after the table.</summary>
    public const string NotInTable = "(not in table)";
}

/// <summary>
/// An immutable reference profile of a model: per-channel distributions of the profiled part of the
/// reference set and per-statistic thresholds calibrated on resamples of the whole set. A new baseline gets a new id.
/// </summary>
public sealed record BaselineProfile
{
    /// <summary>Assigned when the baseline is stored; 0 before.</summary>
    public long Id { get; init; }

    public required string Model { get; init; }
    public required ModelSchema Schema { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>"reference", "reference:&lt;version that scored it&gt;" or "captured:&lt;version&gt;".</summary>
    public required string Source { get; init; }

    public string Description { get; init; } = "";

    /// <summary>Records per window the thresholds were calibrated for.</summary>
    public required int WindowRecords { get; init; }

    /// <summary>Target share of windows of unchanged traffic in which any statistic exceeds its threshold.</summary>
    public required double FalseAlarmRate { get; init; }

    /// <summary>Share of the bootstrap windows that did raise an alarm at the chosen thresholds.</summary>
    public required double CalibratedFalseAlarmRate { get; init; }

    /// <summary>The per-statistic quantile of the bootstrap distribution each threshold sits at.</summary>
    public required double ThresholdQuantile { get; init; }

    public required int BootstrapWindows { get; init; }

    /// <summary>
    /// Resampled references the bootstrap windows were judged against (the two-level bootstrap); 0 for a baseline
    /// calibrated before it, whose windows were drawn from the calibration part and judged against the profile alone.
    /// </summary>
    public int ReferenceResamples { get; init; }
    public required long RecordsReceived { get; init; }
    public required int RecordsProfiled { get; init; }

    /// <summary>The records not profiled (the detectors' surrogate is measured on them).</summary>
    public required int RecordsCalibration { get; init; }

    public required NumericProfile[] Numeric { get; init; }
    public required CategoricalProfile[] Categorical { get; init; }

    /// <summary>The trigger detectors' tables (null for regression outputs).</summary>
    public Detectors.TriggerProfile? Triggers { get; init; }

    /// <summary>The regression key tests' tables (regression outputs only; null in a baseline committed before them).</summary>
    public Detectors.RegressionProfile? Regression { get; init; }

    /// <summary>What checking a captured baseline against the baseline in force found; null for an uploaded reference set.</summary>
    public Detectors.CaptureCheck? CaptureCheck { get; init; }
}
