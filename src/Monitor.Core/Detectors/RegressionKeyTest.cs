using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// The key tests of a regression output: are a key's records served values that are raised, lowered or pinned relative to
/// what their inputs lead the baseline to expect, far more often than today's records of the same stratum? Three
/// anytime-valid e-processes per key over its distinct inputs since promotion (the promoting record left out), each built as
/// <see cref="KeyOutputTest"/>'s is (mixture of the <see cref="KeyOutputTest.Alternatives"/> and the null, Ville's bound):
/// <list type="bullet">
/// <item>Raised / lowered: record i is a hit when its residual (served − expected) lies in the highest / lowest of its stratum's
/// <see cref="RegressionProfile.Bins"/> equal-probability residual bins (a rank, so heavy tails do not matter). The null
/// allows p₀ = min(½, t · max(baseline rate, today's rate) · key lift · recent lift), as for classes.</item>
/// <item>Pinned: record i is a hit when its served value lies within h of the key's previous served value m (h: a quarter of the
/// stratum's residual interquartile range). The null's chance of that is the mass the stratum's residual distribution puts on
/// [m − h − expected, m + h − expected], the baseline's or today's (taken high, as today's tail rates are), whichever is higher,
/// times t: a key whose outputs concentrate in a narrow interval far more than records of their stratum, given each record's
/// expected value, gains evidence.</item>
/// <item>Multiplicity: a = α / (candidate capacity × <see cref="TestCount"/>), Bonferroni over every (key, test) the table can
/// hold, <see cref="RegressionRankTest"/>'s two included; at each horizon
/// the evidence for a key halves on the log scale.</item>
/// </list>
/// </summary>
internal sealed class RegressionKeyTest
{
    /// <summary>The tests, in the order of a candidate's per-"class" arrays.</summary>
    public static readonly string[] Tests = ["raised", "lowered", "pinned"];

    public const int Raised = 0;
    public const int Lowered = 1;
    public const int Pinned = 2;

    /// <summary>The tests of a key that share α: raised, lowered and pinned here, and <see cref="RegressionRankTest"/>'s raised and lowered.</summary>
    public const int TestCount = 5;

    private const double MaxNull = 0.5;

    private readonly RegressionProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly int _strata;
    private readonly int _g = KeyOutputTest.Alternatives.Length;
    private readonly int _bins = RegressionProfile.Bins;
    /// <summary>
    /// Per baseline key, its raised and lowered lift and, where its own records were in a tail far beyond what their strata allow,
    /// that rate's upper bound, a floor of its null (<see cref="KeyOutputTest.KnownTails"/>, as the classifier's whole-output test has them).
    /// </summary>
    private readonly Dictionary<ulong, KnownTail> _known;
    private readonly Dictionary<ulong, double> _populations = [];

    /// <summary>Today's traffic: records per stratum and per (stratum, residual bin), forgetting as <see cref="KeyOutputTest"/>'s do.</summary>
    private readonly double[] _liveRecords;
    private readonly double[] _liveBins;

    /// <summary>Per (stratum, raised/lowered): the null's allowance.</summary>
    private readonly double[] _null;

    /// <summary>Raised and lowered hits and their baseline expectation, in the open window and the last closed one.</summary>
    private readonly double[] _window = new double[8];

    public RegressionKeyTest(RegressionProfile profile, DetectorSettings settings)
    {
        _profile = profile;
        _settings = settings;
        _strata = profile.Strata;
        _liveRecords = new double[_strata];
        _liveBins = new double[_strata * _bins];
        _null = new double[_strata * 2];
        LogBar = Math.Log(settings.Candidates * (double)TestCount / settings.KeyTestAlpha);
        foreach (BaselineKey key in profile.Keys)
        {
            if (profile.Records > 0 && key.Support >= KeyOutputTest.MaxBaselineShare * profile.Records && !key.Unvouched && !key.ShareUnvouched)
            {
                _populations.TryAdd(key.Hash(), key.Support / (double)profile.Records);
            }

        }

        _known = KeyOutputTest.KnownTails(profile.Keys, 2, settings);

        Refresh();
    }

    /// <summary>ln(1/a): the e-value a key must reach.</summary>
    public double LogBar { get; }

    /// <summary>Counts a record of today's traffic.</summary>
    public void Observe(int stratum, int bin)
    {
        _liveRecords[stratum]++;
        _liveBins[stratum * _bins + bin]++;
        _window[1] += _profile.HighRates[stratum];
        _window[3] += _profile.LowRates[stratum];
        _window[0] += bin == _bins - 1 ? 1 : 0;
        _window[2] += bin == 0 ? 1 : 0;
    }

    /// <summary>The version's recent lift of raised (0) or lowered (1) hits over the baseline's rates, this window and the last, at least 1.</summary>
    public double RecentLift(int direction) =>
        Math.Max(1, (_window[2 * direction] + _window[4 + 2 * direction] + 1) / (_window[2 * direction + 1] + _window[4 + 2 * direction + 1] + 1));

    /// <summary>At the horizon today's traffic keeps half its weight.</summary>
    public void Decay()
    {
        for (int i = 0; i < _liveRecords.Length; i++)
        {
            _liveRecords[i] /= 2;
        }

        for (int i = 0; i < _liveBins.Length; i++)
        {
            _liveBins[i] /= 2;
        }
    }

    /// <summary>At each window's close: today's counts forget a tenth, the open window becomes the last, and the allowances follow.</summary>
    public void Refresh()
    {
        _window.AsSpan(0, 4).CopyTo(_window.AsSpan(4));
        _window.AsSpan(0, 4).Clear();
        double keep = 1 - 1.0 / KeyOutputTest.LiveWindows;
        for (int i = 0; i < _liveRecords.Length; i++)
        {
            _liveRecords[i] *= keep;
        }

        for (int i = 0; i < _liveBins.Length; i++)
        {
            _liveBins[i] *= keep;
        }

        Allowances();
    }

    private void Allowances()
    {
        for (int s = 0; s < _strata; s++)
        {
            double n = _liveRecords[s];
            _null[s * 2] = KeyOutputTest.Allowance(_settings, Math.Max(_profile.HighRates[s], KeyOutputTest.LiveRate(_liveBins[s * _bins + _bins - 1], n)));
            _null[s * 2 + 1] = KeyOutputTest.Allowance(_settings, Math.Max(_profile.LowRates[s], KeyOutputTest.LiveRate(_liveBins[s * _bins], n)));
        }
    }

    /// <summary>Today's counts and the recent windows, for a checkpoint: records per stratum, then per (stratum, bin), then the windows.</summary>
    public double[] Live => [.. _liveRecords, .. _liveBins, .. _window];

    /// <summary>Restores a checkpoint's counts when taken on a profile of the same shape; otherwise today's traffic starts afresh.</summary>
    public void Restore(double[] live)
    {
        if (live.Length != _liveRecords.Length + _liveBins.Length + _window.Length)
        {
            return;
        }

        live.AsSpan(0, _liveRecords.Length).CopyTo(_liveRecords);
        live.AsSpan(_liveRecords.Length, _liveBins.Length).CopyTo(_liveBins);
        live.AsSpan(_liveRecords.Length + _liveBins.Length).CopyTo(_window);
        Allowances();
    }

    /// <summary>The baseline's lift of a key's raised and lowered hits over its strata's rates, when above 1 for either; null otherwise.</summary>
    public double[]? TailLift(ulong hash) => _known.GetValueOrDefault(hash).Lift;

    /// <summary>The key's share of the baseline's records when it is at least <see cref="KeyOutputTest.MaxBaselineShare"/>; null otherwise.</summary>
    public double? BaselineShare(ulong hash) => _populations.TryGetValue(hash, out double share) ? share : null;

    /// <summary>
    /// The null's chance that a record of stratum s with expected value <paramref name="expected"/> is served within h of
    /// <paramref name="center"/>: the baseline's or today's mass of that residual interval, whichever is higher.
    /// </summary>
    public double PinMass(int stratum, double expected, double center)
    {
        double h = _profile.PinWidth[stratum];
        double low = center - h - expected;
        double high = center + h - expected;
        double baseline = _profile.Mass(stratum, low, high);
        int first = _profile.BinOf(stratum, low);
        int last = _profile.BinOf(stratum, high);
        double live = 0;
        for (int b = first; b <= last; b++)
        {
            live += _liveBins[stratum * _bins + b] * _profile.Overlap(stratum, b, low, high);
        }

        return Math.Max(baseline, KeyOutputTest.LiveRate(live, _liveRecords[stratum]));
    }

    /// <summary>Adds a record of the key (a distinct input counted as evidence) to its three e-processes.</summary>
    /// <param name="center">The key's previous served value (NaN before it has one): the pinned test's interval is around it.</param>
    public void Update(Candidate candidate, ulong hash, int stratum, int bin, double served, double expected, double center)
    {
        (double[]? lift, double[]? own) = _known.GetValueOrDefault(hash);
        candidate.TailRecords++;
        for (int d = 0; d < 2; d++)
        {
            bool hit = d == Raised ? bin == _bins - 1 : bin == 0;
            candidate.TailExpected[d] += d == Raised ? _profile.HighRates[stratum] : _profile.LowRates[stratum];
            candidate.TailHits[d] += hit ? 1 : 0;
            double p0 = Math.Max(Math.Min(MaxNull, _null[stratum * 2 + d] * (lift is null ? 1 : lift[d]) * RecentLift(d)), own?[d] ?? 0);
            KeyOutputTest.Add(candidate.TailLog.AsSpan(d * _g, _g), hit, p0);
        }

        if (double.IsNaN(center))
        {
            return;
        }

        double mass = PinMass(stratum, expected, center);
        bool pinned = Math.Abs(served - center) <= _profile.PinWidth[stratum];
        candidate.TailExpected[Pinned] += mass;
        candidate.TailHits[Pinned] += pinned ? 1 : 0;
        KeyOutputTest.Add(candidate.TailLog.AsSpan(Pinned * _g, _g), pinned, Math.Min(MaxNull, _settings.TailTolerance * mass));
    }

    /// <summary>Whether the key's test has crossed the bar (and holds enough hits).</summary>
    public bool Crossed(Candidate candidate, int test, out double logE)
    {
        ReadOnlySpan<double> logs = candidate.TailLog.AsSpan(test * _g, _g);
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        logE = max < LogBar ? max : KeyOutputTest.LogMixture(logs);
        return logE >= LogBar && candidate.TailHits[test] >= _settings.MinKeyHits;
    }

    /// <summary>The finding of a key whose test crossed the bar; warnings as <see cref="KeyOutputTest.Finding"/>'s are.</summary>
    public Finding Finding(Candidate candidate, int test, double logE, long records, DateTimeOffset now, bool outsideRange, bool common, double? baselineShare)
    {
        DetectorKey key = candidate.Key;
        long n = Math.Max(candidate.TailRecords, 1);
        long hits = candidate.TailHits[test];
        double expected = candidate.TailExpected[test];
        double rate = hits / (double)n;
        double expectedRate = expected / n;
        double meanResidual = candidate.Exact > 0 ? candidate.ConfidenceSum / candidate.Exact : double.NaN;
        string what = test switch
        {
            Raised => "were served a value above what their inputs lead the baseline to expect by more than its stratum's highest 2% of residuals",
            Lowered => "were served a value below what their inputs lead the baseline to expect by more than its stratum's lowest 2% of residuals",
            _ => "were served a value within a narrow interval of the key's previous one (a quarter of the stratum's residual interquartile range either side), however their inputs differ",
        };
        string repeats = KeyFinding.Repeats(candidate);
        double log10E = logE / Math.Log(10);
        double log10Bar = LogBar / Math.Log(10);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"regression output {Tests[test]}: {key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: {hits} of the {candidate.TailRecords} records carrying it{repeats} " +
            $"{what}, where the records of their strata give {expected:F1} (the test allows up to {_settings.TailTolerance:0.#}× that); mean residual {meanResidual:G4}; " +
            $"e-value 10^{log10E:F1} passed 10^{log10Bar:F1}, the bar for a {_settings.KeyTestAlpha:P0} false-alarm rate over {_settings.Candidates} keys × {TestCount} tests") +
            (outsideRange ? "; its values lie outside the baseline's range, or it is a region that singles out a few inputs, so this is not critical by itself" : "") +
            KeyFinding.Population(common, baselineShare);
                return KeyFinding.Of(candidate, key.Detector, outsideRange || common || baselineShare is not null ? Severity.Warning : Severity.Critical,
            "output " + Tests[test], new KeyMeasure(candidate.Support, rate, expectedRate, (hits - expected) / Math.Sqrt(Math.Max(expected, 1e-9)), double.NaN),
            logE, LogBar, records, now, [], summary);
    }
}
