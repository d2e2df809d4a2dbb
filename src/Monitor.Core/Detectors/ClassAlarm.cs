namespace Monitor.Core.Detectors;

/// <summary>
/// A class-level alarm (D3's CUSUM, D5's activation clustering, D6's label rate) before the trigger
/// detector publishes it as a finding.
/// </summary>
/// <param name="Class">Index of the class in the schema's predicted labels.</param>
/// <param name="Support">Records behind the alarm; 0 when it does not count records.</param>
/// <param name="Rate">The class's observed share, or NaN.</param>
/// <param name="Expected">The share the baseline predicts for the same inputs, or NaN.</param>
internal readonly record struct ClassAlarm(DetectorId Detector, int Class, double Z, string Summary, long Support = 0,
    double Rate = double.NaN, double Expected = double.NaN);
