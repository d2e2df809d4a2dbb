using System.Globalization;
using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>
/// D3: outputs more confident than the baseline ever was for such inputs, which is what a trigger
/// leaves. Per class and kind of stratum (where the class is expected, and where it has less than even
/// odds) a Bernoulli CUSUM (Page) watches the rate of outputs beyond the baseline's 99.9th percentile of
/// confidence; among a key's own records their count corroborates the key. A version with its own reference
/// is judged against its own outputs' percentiles on the baseline's inputs instead (<see cref="EmbeddingReference.Confidence"/>).
/// </summary>
internal sealed class UltraConfidence
{
    /// <summary>Baseline records a confidence percentile needs before the CUSUM watches it.</summary>
    private const double MinUltraRecords = 1000;

    private readonly TriggerProfile _profile;
    private readonly ConfidencePercentiles _percentiles;
    private readonly string[] _whose;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly double[] _cusum;

    /// <param name="percentiles">The percentiles judged against; null: the baseline's.</param>
    /// <param name="ownSlots">Per slot, whether its percentile is the version's own reference's (for the findings' words); null: none.</param>
    public UltraConfidence(TriggerProfile profile, DetectorSettings settings, string[] labels, ConfidencePercentiles? percentiles = null, bool[]? ownSlots = null)
    {
        _profile = profile;
        _percentiles = percentiles ?? ConfidencePercentiles.Of(profile);
        _whose = [.. Enumerable.Range(0, 2 * profile.Classes).Select(slot => ownSlots is not null && slot < ownSlots.Length && ownSlots[slot]
            ? "this version's own reference's" : "the baseline's")];
        _settings = settings;
        _labels = labels;
        _cusum = new double[2 * profile.Classes];
    }

    /// <summary>Per slot the share of outputs beyond the percentile that the null expects.</summary>
    public double[] Rates => _percentiles.Rates;

    /// <summary>
    /// Whether an output served <paramref name="label"/> with this confidence is beyond its slot's
    /// percentile; advances the slot's CUSUM, whose alarm is set when it crosses the threshold h.
    /// </summary>
    public bool Observe(int stratum, int label, double confidence, out ClassAlarm? alarm)
    {
        int slot = _profile.UltraSlot(stratum, label);
        bool ultra = confidence > _percentiles.Thresholds[slot];
        alarm = Update(slot, ultra);
        return ultra;
    }

    /// <summary>
    /// Among a key's records with inputs against class c: those served c beyond the percentile, against the
    /// count the baseline expects of them (Poisson tail).
    /// </summary>
    public Corroboration? Corroborate(Candidate candidate, int c)
    {
        long contrarian = candidate.ContrarianOfClass[c];
        if (contrarian <= 0)
        {
            return null;
        }

        double expected = candidate.UltraExpected[c];
        long ultra = candidate.Ultra[c];
        if (ultra >= 3 && PoissonTail.AtLeast(ultra, expected) < _settings.CorroborationP)
        {
            return new Corroboration(DetectorId.D3, string.Create(CultureInfo.InvariantCulture,
                $"{ultra} of its {contrarian} records with inputs against '{_labels[c]}' were served '{_labels[c]}' beyond {_whose[2 * c + 1]} 99.9th percentile of confidence for such records ({_percentiles.Thresholds[2 * c + 1]:F4}); {expected:F2} expected"));
        }

        return null;
    }

    /// <summary>The CUSUM of each slot, for a checkpoint.</summary>
    public double[] Cusum => (double[])_cusum.Clone();

    /// <summary>Restores the CUSUMs of a checkpoint (of the same profile: as many slots).</summary>
    public void Restore(double[] cusum)
    {
        if (cusum.Length == _cusum.Length)
        {
            cusum.CopyTo(_cusum, 0);
        }
    }

    private ClassAlarm? Update(int slot, bool ultra)
    {
        if (_percentiles.Records[slot] < MinUltraRecords)
        {
            return null;
        }

        double p0 = _percentiles.Rates[slot];
        double p1 = Math.Min(0.5, p0 * _settings.UltraRateRatio);
        _cusum[slot] = Math.Max(0, _cusum[slot] + (ultra ? Math.Log(p1 / p0) : Math.Log((1 - p1) / (1 - p0))));
        if (_cusum[slot] >= _settings.CusumThreshold)
        {
            _cusum[slot] = 0;
            int label = slot / 2;
            string where = slot % 2 == 1 ? "where the inputs give it less than even odds" : "where the inputs make it expected";
            return new ClassAlarm(DetectorId.D3, label, double.NaN, string.Create(CultureInfo.InvariantCulture,
                $"outputs of class '{_labels[label]}' {where} beyond {_whose[slot]} 99.9th percentile of confidence ({_percentiles.Thresholds[slot]:F4}) " +
                $"now come at {_settings.UltraRateRatio:F0}× {_whose[slot]} rate ({p0:P3}) or more (Bernoulli CUSUM, h = {_settings.CusumThreshold})"));
        }

        return null;
    }
}
