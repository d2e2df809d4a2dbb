using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// The trigger detectors of a regression output (one value per record) against its baseline: per record the surrogate's
/// expected value for its inputs, the residual (served − expected), its stratum and residual bin; keys extracted as for
/// classifiers (<see cref="KeyExtractor"/>), screened on telling records (a residual in the highest or lowest bin of its
/// stratum) and, once promoted, tested exactly by <see cref="RegressionKeyTest"/>: a key whose records' outputs are raised,
/// lowered or pinned into a narrow interval beyond what today's records of their strata show is critical. Repeats of an input
/// count once (D7). Findings, checkpoints and the active span work as <see cref="TriggerDetector"/>'s do. Single-threaded.
/// </summary>
public sealed class RegressionDetector
{
    private static readonly string[] Labels = ["output"];

    private readonly CompiledBaseline _baseline;
    private readonly RegressionProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly TimeProvider _time;
    private readonly KeyExtractor _extractor;
    private readonly IdenticalRequests _identical;
    private readonly CandidateTable _candidates;
    private readonly RegressionKeyTest _test;
    private readonly FindingSet _findings;
    private readonly HashSet<ulong> _raised = [];

    /// <summary>Per candidate: its previous served value, the pinned test's centre.</summary>
    private readonly Dictionary<ulong, double> _centres = [];
    private readonly int[] _active;
    private int _windowsSinceCriticalHit = int.MaxValue / 2;
    private long _turnedAwayReported;

    public RegressionDetector(CompiledBaseline baseline, DetectorSettings settings, TimeProvider time)
    {
        _baseline = baseline;
        _profile = baseline.Profile.Regression ?? throw new ArgumentException("the baseline has no regression profile", nameof(baseline));
        _settings = settings;
        _findings = new FindingSet(FindingSet.Capacity(settings));
        _time = time;
        _extractor = new KeyExtractor(baseline.Profile.Schema, _profile.Values, settings.MaxKeysPerRecord, settings.MaxConjunctionKeysPerRecord,
            _profile.KeyVocabulary, KeyExtractor.PartShares(_profile.Keys, _profile.Records));
        _identical = new IdenticalRequests(baseline.Profile, _profile.Values, settings, Labels);
        _candidates = new CandidateTable(settings, RegressionKeyTest.Tests.Length, _profile.Strata, _identical.Lanes);
        _test = new RegressionKeyTest(_profile, settings);
        _active = new int[_profile.Surrogate.NumericOffsets.Length + _profile.Surrogate.CategoricalOffsets.Length];
    }

    /// <summary>Whether a key found critical was hit within the last <see cref="TriggerDetector.ActiveWindows"/> windows.</summary>
    public bool CriticalActive => _windowsSinceCriticalHit < TriggerDetector.ActiveWindows;

    public long Records { get; private set; }

    public int CandidateCount => _candidates.Count;

    /// <summary>How full the candidate table is, and the keys its findings turned away (<see cref="Detectors.CandidateLoad"/>).</summary>
    public CandidateLoad CandidateLoad => _candidates.Load;

    public bool IsTracked(ulong hash) => _candidates.IsTracked(hash);

    public IReadOnlyList<Finding> Findings => _findings.All;

    public IReadOnlyList<Finding> DrainChanged() => _findings.DrainChanged();

    /// <summary>The keys of findings below critical given up since the last call, to keep their number bounded (<see cref="FindingSet"/>).</summary>
    public IReadOnlyList<string> DrainDropped() => _findings.DrainDropped();

    public void Restore(IEnumerable<Finding> findings) => _findings.Restore(findings);

    public void Add(RecordBatch batch, PreparedBatch prepared, int start, int count)
    {
        ReadOnlySpan<float> scores = batch.Scores.Span;
        for (int i = start; i < start + count; i++)
        {
            Records++;
            if (_candidates.HorizonReached())
            {
                _test.Decay();
                _candidates.RollHorizon(Records);
                PruneCentres();
            }

            double served = scores[i];
            if (!double.IsFinite(served))
            {
                continue;
            }

            double expected = _profile.Expected(_baseline, prepared, i, _active);
            double residual = served - expected;
            int stratum = _profile.StratumOf(expected);
            int bin = _profile.BinOf(stratum, residual);
            bool telling = bin == 0 || bin == RegressionProfile.Bins - 1;
            _test.Observe(stratum, bin);
            IReadOnlyList<KeyOccurrence> keys = _extractor.Extract(batch, i);
            bool explained = false;
            for (int j = 0; j < keys.Count && !explained && _raised.Count > 0; j++)
            {
                explained = _raised.Contains(keys[j].Hash);
            }

            var record = new RecordContext(batch, i, 0, stratum, double.NaN, false, false, false, false, telling, explained, [], [], [], false);
            var value = new Value(served, expected, residual, bin);
            foreach (KeyOccurrence key in keys)
            {
                if (Count(key, record, value))
                {
                    record = record with { Explained = true };
                }
            }

            if (_identical.Report(0, Records, _time.GetUtcNow()) is { } identical)
            {
                _findings.Publish(identical);
            }
        }
    }

    /// <summary>At a window's close: the tests' allowances follow today's traffic.</summary>
    public void CloseWindow()
    {
        _windowsSinceCriticalHit++;
        _test.Refresh();
        if (_candidates.TurnedAwayObservation(DetectorId.D1, _settings, ref _turnedAwayReported, Records, _time.GetUtcNow()) is { } full)
        {
            _findings.Publish(full);
        }
    }

    /// <summary>A record's output as the tests read it.</summary>
    private readonly record struct Value(double Served, double Expected, double Residual, int Bin);

    /// <summary>As <see cref="TriggerDetector"/> counts keys: candidates on every distinct input, other keys screened on telling records.</summary>
    private bool Count(KeyOccurrence key, in RecordContext record, Value value)
    {
        if (_candidates.TryGet(key.Hash, out Candidate? candidate))
        {
            if (record.Explained && !_raised.Contains(key.Hash))
            {
                return false;
            }

            bool critical;
            Finding? raised = candidate.Raised;
            if (_identical.Repeats(candidate, record, _extractor.FineBins))
            {
                critical = _raised.Contains(key.Hash);
            }
            else
            {
                candidate.Count(record.Stratum);
                candidate.ObserveValue(record, value.Residual, _settings.ExampleRequestIds);
                _test.Update(candidate, key.Hash, record.Stratum, value.Bin, value.Served, value.Expected, _centres.GetValueOrDefault(key.Hash, double.NaN));
                _centres[key.Hash] = value.Served;
                critical = Evaluate(key.Hash, candidate);
            }

            if (raised is not null && ReferenceEquals(raised, candidate.Raised))
            {
                candidate.Raised = _findings.Touch(raised.DedupeKey, _time) ?? raised;
            }

            if (critical)
            {
                _windowsSinceCriticalHit = 0;
            }

            return critical;
        }

        if (!record.TailHit || record.Explained)
        {
            return false;
        }

        if (_candidates.Screen(key.Hash, record.Stratum) && _candidates.MakeRoom())
        {
            DetectorKey described = _settings.TextKeys.Protect(_extractor.Describe(key)).Bounded();
            Candidate promoted = _candidates.Promote(key.Hash, described, _time.GetUtcNow(), Records);
            _identical.Remember(promoted, record, _extractor.FineBins);

            // The promoting record was chosen for being telling: it counts for support and gives the pinned test its first centre,
            // but is no evidence in the tests.
            promoted.Count(record.Stratum);
            promoted.ObserveValue(record, value.Residual, _settings.ExampleRequestIds);
            _centres[key.Hash] = value.Served;
            if (_centres.Count > 2 * _settings.Candidates)
            {
                // Evicted candidates leave their centres behind: memory stays fixed by the settings, never by traffic.
                PruneCentres();
            }
        }

        return false;
    }

    /// <summary>Forgets the centres of keys no longer counted exactly.</summary>
    private void PruneCentres()
    {
        foreach (ulong hash in _centres.Keys.ToArray())
        {
            if (!_candidates.TryGet(hash, out _))
            {
                _centres.Remove(hash);
            }
        }
    }

    /// <summary>Tests a candidate on every new record until it is critical, then as its evidence grows by a tenth, to update its finding.</summary>
    private bool Evaluate(ulong hash, Candidate candidate)
    {
        bool critical = _raised.Contains(hash);
        bool due = candidate.Raised is null || candidate.Support >= candidate.LastEvaluated * 1.1;
        if (critical && !due)
        {
            return true;
        }

        bool settled = Records - candidate.FirstSeenRecord >= KeyOutputTest.SettleRecords;
        bool outside = candidate.Key.ReportOnly;
        bool common = settled && KeyOutputTest.Common(candidate, Records);
        double? population = _test.BaselineShare(hash);
        bool reportOnly = outside || common || population is not null;
        if (!settled || (!due && reportOnly))
        {
            return critical;
        }

        for (int t = 0; t < RegressionKeyTest.Tests.Length; t++)
        {
            if (_test.Crossed(candidate, t, out double logE))
            {
                candidate.Raise(_findings.Publish(_test.Finding(candidate, t, logE, Records, _time.GetUtcNow(), outside, common, population)));
                candidate.LastEvaluated = candidate.Support;
                if (!reportOnly)
                {
                    _raised.Add(hash);
                }
            }
        }

        return _raised.Contains(hash);
    }

    /// <summary>The detectors' evidence now, copied: safe to store from another thread.</summary>
    public DetectorState Export() => new()
    {
        BaselineId = _baseline.Profile.Id,
        KeySecretId = KeyHash.SecretId,
        Records = Records,
        Horizon = _candidates.HorizonRecords,
        EvictionDraws = _candidates.Draws,
        CandidatesTurnedAway = [_candidates.Load.Refused, _candidates.Load.WarnedEvicted, _turnedAwayReported],
        WindowsSinceCriticalHit = Math.Min(_windowsSinceCriticalHit, int.MaxValue / 2),
        Raised = [.. _raised],
        RegressionLive = _test.Live,
        RegressionCentreKeys = [.. _centres.Keys],
        RegressionCentres = [.. _centres.Values],
        Candidates = _candidates.Export(),
        HeavyHitters = _candidates.ExportHeavyHitters(),
    };

    /// <summary>Restores a checkpoint taken on this baseline under this process's key secret (after the findings); another is ignored.</summary>
    public void Restore(DetectorState state)
    {
        if (state.BaselineId != _baseline.Profile.Id || state.KeySecretId != KeyHash.SecretId)
        {
            return;
        }

        Records = state.Records;
        _windowsSinceCriticalHit = state.WindowsSinceCriticalHit;
        _turnedAwayReported = state.CandidatesTurnedAway.Length == 3 ? state.CandidatesTurnedAway[2] : 0;
        _raised.Clear();
        _raised.UnionWith(state.Raised);
        _test.Restore(state.RegressionLive);
        _centres.Clear();
        if (state.RegressionCentreKeys.Length == state.RegressionCentres.Length)
        {
            for (int i = 0; i < state.RegressionCentres.Length; i++)
            {
                _centres[state.RegressionCentreKeys[i]] = state.RegressionCentres[i];
            }
        }

        Dictionary<string, Finding> findings = _findings.All.ToDictionary(f => f.DedupeKey, StringComparer.Ordinal);
        _candidates.Restore(state.Horizon, state.EvictionDraws, state.Candidates, state.HeavyHitters, key => findings.GetValueOrDefault(key),
            state.TurnedAway);
    }
}
