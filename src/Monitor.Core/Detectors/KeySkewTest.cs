using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>What the key-skew test found for one candidate and class.</summary>
/// <param name="Class">The target class.</param>
/// <param name="Contrarian">The key's records in strata where the baseline gives the class less than even odds.</param>
/// <param name="Rate">Share of those served the class.</param>
/// <param name="ExpectedRate">The share the baseline predicts for them.</param>
/// <param name="KeyRate">The key's own share in the baseline, when it had enough such records.</param>
/// <param name="Z">The pooled z of the class's count over all the key's records.</param>
internal readonly record struct KeySkew(int Class, long Support, long Contrarian, double Rate, double ExpectedRate, double? KeyRate,
    bool IsNewKey, double Z);

/// <summary>
/// D1 (text keys) and D2 (value keys), and the same test on D5's embedding-outlier key: a key whose
/// records carry a label far more often than the baseline predicts for the same inputs. It must reach a
/// pooled z across surrogate strata, support and rate, and rise both above the key's own baseline rate
/// (or the baseline's prediction, for a new key) and above today's traffic as a whole.
/// </summary>
internal sealed class KeySkewTest
{
    private readonly TriggerProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _strata;
    private readonly Dictionary<ulong, BaselineKey> _baselineKeys = [];
    private readonly double[] _liveContrarian;
    private readonly double[] _liveContrarianHits;

    public KeySkewTest(TriggerProfile profile, DetectorSettings settings, string[] labels)
    {
        KeyHash.InUse();
        _profile = profile;
        _settings = settings;
        _labels = labels;
        _k = profile.Classes;
        _strata = profile.Strata;
        // An unvouched key (BaselineKey.Unvouched) is measured against the stratified prediction, as a new key is.
        foreach (BaselineKey key in profile.Keys.Where(k => !k.Unvouched))
        {
            _baselineKeys.TryAdd(key.Hash(), key);
        }

        _liveContrarian = new double[_k];
        _liveContrarianHits = new double[_k];
    }

    /// <summary>Counts a record of today's traffic, the reference a key must stand out against.</summary>
    public void Observe(int stratum, int label)
    {
        for (int c = 0; c < _k; c++)
        {
            if (_profile.Contrarian(stratum, c))
            {
                _liveContrarian[c]++;
                _liveContrarianHits[c] += label == c ? 1 : 0;
            }
        }
    }

    /// <summary>At the horizon today's traffic keeps half its weight.</summary>
    /// <summary>The live reference counts, for a checkpoint.</summary>
    public (double[] Contrarian, double[] Hits) Live => ((double[])_liveContrarian.Clone(), (double[])_liveContrarianHits.Clone());

    /// <summary>Restores a checkpoint's live reference counts (of the same profile: as many classes).</summary>
    public void Restore(double[] contrarian, double[] hits)
    {
        if (contrarian.Length == _liveContrarian.Length && hits.Length == _liveContrarianHits.Length)
        {
            contrarian.CopyTo(_liveContrarian, 0);
            hits.CopyTo(_liveContrarianHits, 0);
        }
    }

    public void Decay()
    {
        for (int c = 0; c < _k; c++)
        {
            _liveContrarian[c] /= 2;
            _liveContrarianHits[c] /= 2;
        }
    }

    /// <summary>The key as the baseline saw it, if it did.</summary>
    public BaselineKey? Known(ulong hash) => _baselineKeys.GetValueOrDefault(hash);

    /// <summary>Whether the candidate's records skew towards class c; null when they do not.</summary>
    public KeySkew? Test(Candidate candidate, BaselineKey? known, int c)
    {
        // Cheap necessary conditions first (kept up to date per record), so most keys cost nothing here.
        long contrarianRecords = candidate.ContrarianOfClass[c];
        if (contrarianRecords < _settings.MinContrarian || candidate.ContrarianHits[c] < _settings.MinRate * contrarianRecords)
        {
            return null;
        }

        (double x, double expected, double variance) = Pooled(candidate.Cells, c);
        double z = (x - expected) / Math.Sqrt(variance + 0.25);
        if (z < _settings.MinZ)
        {
            return null;
        }

        (double hits, double predicted, long contrarian) = Contrarian(candidate.Cells, c);
        if (contrarian < _settings.MinContrarian)
        {
            return null;
        }

        double rate = hits / contrarian;
        double expectedRate = predicted / contrarian;
        double? keyRate = known is not null && known.ContrarianCounts.Length > c && known.ContrarianCounts[c] >= _settings.NewKeySupport
            ? known.ContrarianHits[c] / (double)known.ContrarianCounts[c]
            : null;

        // The key must stand out against its own baseline (or the baseline's prediction) and against
        // today's traffic as a whole: a label shift that moves every key is D6's, not a trigger.
        double live = _liveContrarian[c] >= 1000 ? _liveContrarianHits[c] / _liveContrarian[c] : 0;
        double reference = Math.Max(keyRate ?? expectedRate, live);
        if (rate < _settings.MinRate || rate - reference < _settings.MinRateIncrease)
        {
            return null;
        }

        bool isNew = known is null || known.Support < _settings.NewKeySupport;
        return new KeySkew(c, candidate.Support, contrarian, rate, expectedRate, keyRate, isNew, z);
    }

    /// <summary>The finding a skew makes, with the corroboration that decided its severity.</summary>
    /// <param name="note">Why the finding is a warning though corroborated, appended to its summary; empty when it is not so.</param>
    public Finding Finding(Candidate candidate, in KeySkew skew, Severity severity, Corroboration[] corroboration, long records,
        DateTimeOffset now, string note = "")
    {
        DetectorKey key = candidate.Key;
        string label = _labels[skew.Class];
        string own = skew.IsNewKey ? "the key is new" : skew.KeyRate is { } r
            ? string.Create(CultureInfo.InvariantCulture, $"the key's own baseline rate there was {r:P1}")
            : "the key had too few such records in the baseline to have a rate of its own";
        string carrying = candidate.Repeats > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{skew.Support} records carrying it ({candidate.Repeats} repeats of inputs already counted left out)")
            : string.Create(CultureInfo.InvariantCulture, $"{skew.Support} records carrying it");
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: of {carrying}, {skew.Contrarian} have inputs for which the baseline gives '{label}' less than even odds, " +
            $"yet {skew.Rate:P1} of those were served '{label}' where the baseline predicts {skew.ExpectedRate:P1} (pooled z = {skew.Z:F1}; {own}){note}");
        return new Finding
        {
            Detector = key.Detector,
            Severity = severity,
            Key = key,
            TargetLabel = label,
            Support = skew.Support,
            Rate = skew.Rate,
            Lift = skew.ExpectedRate > 0 ? skew.Rate / skew.ExpectedRate : double.PositiveInfinity,
            MeanConfidence = candidate.Exact > 0 ? candidate.ConfidenceSum / candidate.Exact : double.NaN,
            BaselineExpectation = skew.ExpectedRate,
            BaselineKeyRate = skew.KeyRate,
            Z = skew.Z,
            FirstSeen = candidate.FirstSeen,
            FirstSeenRecord = candidate.FirstSeenRecord,
            RaisedAtRecord = records,
            RaisedAtSupport = skew.Support,
            SurprisingBeforeTracking = candidate.SurprisingBefore,
            UpdatedAt = now,
            ExampleRequestIds = [.. candidate.Examples],
            Corroboration = corroboration,
            Summary = summary,
        };
    }

    /// <summary>Of the key's records in strata where class c has less than even odds: how many were served c, and how many the baseline predicts.</summary>
    internal (double Hits, double Predicted, long Records) Contrarian(long[] cells, int c)
    {
        double hits = 0;
        double predicted = 0;
        long records = 0;
        for (int s = 0; s < _strata; s++)
        {
            if (!_profile.Contrarian(s, c))
            {
                continue;
            }

            long inStratum = 0;
            for (int label = 0; label < _k; label++)
            {
                inStratum += cells[label * _strata + s];
            }

            records += inStratum;
            hits += cells[c * _strata + s];
            predicted += inStratum * _profile.LabelRates[s * _k + c];
        }

        return (hits, predicted, records);
    }

    /// <summary>Observed count of class c, and its expectation and variance given each stratum's baseline rate.</summary>
    internal (double X, double Expected, double Variance) Pooled(long[] cells, int c)
    {
        double x = 0;
        double expected = 0;
        double variance = 0;
        for (int s = 0; s < _strata; s++)
        {
            long inStratum = 0;
            for (int label = 0; label < _k; label++)
            {
                inStratum += cells[label * _strata + s];
            }

            double r = _profile.LabelRates[s * _k + c];
            x += cells[c * _strata + s];
            expected += inStratum * r;
            variance += _profile.RateVariance(inStratum, s, r);
        }

        return (x, expected, variance);
    }
}
