using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// D6, the backstop: per class, its count over the last <see cref="DetectorSettings.LabelRateWindows"/>
/// closed windows against Σ n_s r(c|s), the baseline's rate in each surrogate stratum times the records
/// seen there, with the rates' own uncertainty.
/// </summary>
internal sealed class LabelRate
{
    private readonly TriggerProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _strata;
    private readonly Queue<double[]> _windows = new();

    /// <summary>The open window: records per class, then records per stratum.</summary>
    private readonly double[] _window;

    public LabelRate(TriggerProfile profile, DetectorSettings settings, string[] labels)
    {
        _profile = profile;
        _settings = settings;
        _labels = labels;
        _k = profile.Classes;
        _strata = profile.Strata;
        _window = new double[_k + _strata];
    }

    /// <summary>Counts a record served <paramref name="label"/> whose inputs fall in <paramref name="stratum"/>.</summary>
    public void Observe(int label, int stratum)
    {
        _window[label]++;
        _window[_k + stratum]++;
    }

    /// <summary>Closes the open window and tests every class over the windows kept.</summary>
    /// <summary>The recent windows' counts, oldest first, and the open window's, for a checkpoint.</summary>
    public (double[][] Windows, double[] Open) State => ([.. _windows.Select(w => (double[])w.Clone())], (double[])_window.Clone());

    /// <summary>Restores a checkpoint's windows (of the same profile: as many classes and strata).</summary>
    public void Restore(double[][] windows, double[] open)
    {
        if (open.Length != _window.Length || windows.Any(w => w.Length != _window.Length))
        {
            return;
        }

        _windows.Clear();
        foreach (double[] window in windows.TakeLast(_settings.LabelRateWindows))
        {
            _windows.Enqueue((double[])window.Clone());
        }

        open.CopyTo(_window, 0);
    }

    public IReadOnlyList<ClassAlarm> CloseWindow()
    {
        _windows.Enqueue((double[])_window.Clone());
        Array.Clear(_window);
        while (_windows.Count > _settings.LabelRateWindows)
        {
            _windows.Dequeue();
        }

        var sums = new double[_k + _strata];
        foreach (double[] window in _windows)
        {
            for (int j = 0; j < sums.Length; j++)
            {
                sums[j] += window[j];
            }
        }

        double records = 0;
        for (int c = 0; c < _k; c++)
        {
            records += sums[c];
        }

        var alarms = new List<ClassAlarm>();
        for (int c = 0; c < _k; c++)
        {
            double expected = 0;
            double variance = 0;
            for (int s = 0; s < _strata; s++)
            {
                double r = _profile.LabelRates[s * _k + c];
                expected += sums[_k + s] * r;
                variance += _profile.RateVariance(sums[_k + s], s, r);
            }

            double z = (sums[c] - expected) / Math.Sqrt(variance + 0.25);
            if (Math.Abs(z) >= _settings.LabelRateZ)
            {
                alarms.Add(new ClassAlarm(DetectorId.D6, c, z, string.Create(CultureInfo.InvariantCulture,
                    $"class '{_labels[c]}' is predicted for {sums[c] / records:P2} of the last {records:F0} records; the baseline predicts {expected / records:P2} for the same inputs (z = {z:F1})"),
                    (long)records, sums[c] / records, expected / records));
            }
        }

        return alarms;
    }
}
