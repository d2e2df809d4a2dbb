using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// The trigger detectors of a regression output (one value per record) against its baseline: per record the surrogate's
/// expected value for its inputs, the residual (served − expected), its stratum and residual bin; keys extracted as for
/// classifiers (<see cref="KeyExtractor"/>), screened on telling records (a residual in the highest or lowest bin of its
/// stratum) and, once promoted, tested exactly by <see cref="RegressionKeyTest"/> and <see cref="RegressionRankTest"/>: a key
/// whose records' outputs are raised, lowered or pinned into a narrow interval beyond what today's records of their strata show
/// is critical. Repeats of an input
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
    private readonly RegressionRankTest _rank;

    /// <summary>Per categorical feature: the values of the baseline's table (a slot beyond them has no surrogate weight of its own).</summary>
    private readonly int[] _categoryTable;
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
        _candidates = new CandidateTable(settings, RegressionKeyTest.Tests.Length, _profile.Strata, _identical.Lanes, Evidence);
        _test = new RegressionKeyTest(_profile, settings);
        _rank = new RegressionRankTest(_profile, settings);
        _categoryTable = [.. baseline.Profile.Categorical.Where(p => p.Channel.Kind == ChannelKind.Categorical).Select(p => p.Categories.Length)];
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
                _rank.Decay();
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
            double rank = _rank.Observe(stratum, _rank.CellOf(stratum, bin, residual), KeyRankTest.Draw(Records));
            IReadOnlyList<KeyOccurrence> keys = _extractor.Extract(batch, i);
            (double raisedLift, double loweredLift) = RecordLift(keys);
            bool explained = false;
            for (int j = 0; j < keys.Count && !explained && _raised.Count > 0; j++)
            {
                explained = _raised.Contains(keys[j].Hash);
            }

            var record = new RecordContext(batch, i, 0, stratum, double.NaN, false, false, false, false, telling, explained, [], [], [], false);
            var value = new Value(served, expected, residual, bin, rank, raisedLift, loweredLift);
            foreach (KeyOccurrence key in keys)
            {
                if (Count(key, record, value with { Rank = Ranked(key) ? rank : double.NaN }))
                {
                    record = record with { Explained = true };
                }
            }

            if (_identical.Report(0, Records, _time.GetUtcNow()) is { } identical)
            {
                _findings.Publish(identical);
            }

            _candidates.Recycle();
        }
    }

    /// <summary>At a window's close: the tests' allowances follow today's traffic.</summary>
    public void CloseWindow()
    {
        _windowsSinceCriticalHit++;
        _test.Refresh();
        _rank.Refresh();
        if (_candidates.TurnedAwayObservation(DetectorId.D1, _settings, ref _turnedAwayReported, Records, _time.GetUtcNow()) is { } full)
        {
            _findings.Publish(full);
        }
    }

    /// <summary>A record's output as the tests read it.</summary>
    /// <param name="Rank">Its residual's rank among today's records of its stratum, for a key the rank test judges; NaN otherwise.</param>
    /// <param name="RaisedLift">The record's lift for the rank test (<see cref="RecordLift"/>), raised and lowered.</param>
    private readonly record struct Value(double Served, double Expected, double Residual, int Bin, double Rank, double RaisedLift, double LoweredLift);

    /// <summary>
    /// The record's lift for the rank test, raised and lowered: the largest tail lift the baseline measured among its keys of the
    /// kinds the test judges (1 where none). A word the model reads, which the surrogate (numeric and categorical inputs only) does
    /// not expect, lifts every key of its records alike, so each is allowed what the record's most lifting word was.
    /// </summary>
    private (double Raised, double Lowered) RecordLift(IReadOnlyList<KeyOccurrence> keys)
    {
        double raised = 1;
        double lowered = 1;
        foreach (KeyOccurrence key in keys)
        {
            if (RegressionRankTest.Tests(key.Kind) && _test.TailLift(key.Hash) is { } lift)
            {
                raised = Math.Max(raised, lift[0]);
                lowered = Math.Max(lowered, lift[1]);
            }
        }

        return (raised, lowered);
    }

    /// <summary>
    /// Whether the rank test judges this key of the current record (<see cref="RegressionRankTest.Tests"/>): of a categorical
    /// value, only one the surrogate has no weight of its own for (its slot, as the surrogate's expectation of the record set it):
    /// a rare value the surrogate learnt a weight for from a few records moves the expectation of exactly its records.
    /// </summary>
    private bool Ranked(in KeyOccurrence key)
    {
        if (!RegressionRankTest.Tests(key.Kind))
        {
            return false;
        }

        if (key.Kind != KeyKind.Category)
        {
            return true;
        }

        return _profile.Surrogate.BeyondTable(_active, _categoryTable, key.Field);
    }

    /// <summary>
    /// A candidate's evidence for eviction (<see cref="CandidateTable"/>): the largest log-likelihood ratio among its tests'
    /// alternatives, negative for a key whose records have been ordinary, 0 for one just promoted, positive for one gaining
    /// evidence; ties go by the share of its records that were telling. The share alone let a trigger's key that had gained
    /// evidence over a hundred records go for keys promoted a record ago (a third of its records telling, against a half of
    /// theirs by the one that promoted them).
    /// </summary>
    private static double Evidence(Candidate candidate)
    {
        double max = double.NegativeInfinity;
        foreach (double l in candidate.TailLog)
        {
            max = Math.Max(max, l);
        }

        foreach (double l in candidate.RankLog.AsSpan(0, 2 * KeyRankTest.Components))
        {
            max = Math.Max(max, l);
        }

        return max + (1e-3 * candidate.SurpriseShare);
    }

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
                _rank.Update(candidate, value.Rank, value.RaisedLift, value.LoweredLift);
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

        // An exact value is promoted only once it recurs among telling records: most are each record's own (CandidateTable.Recurs).
        bool recurs = key.Kind != KeyKind.Value || _candidates.Recurs(key.Hash);
        if (_candidates.Screen(key.Hash) && recurs && _candidates.MakeRoom())
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
            else if (t != RegressionKeyTest.Pinned && RegressionRankTest.Tests(candidate.Key.Kind) && !outside
                && _rank.Crossed(candidate, t, _test.LogBar, out double rankLogE))
            {
                // The rank test of the same direction: one finding per key and direction, whichever test crossed.
                long? known = _rank.BaselineSupport(hash);
                candidate.Raise(_findings.Publish(_rank.Finding(candidate, t, rankLogE, _test.LogBar, Records, _time.GetUtcNow(), common, population, known)));
                candidate.LastEvaluated = candidate.Support;
                if (!reportOnly && known is null)
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
        CandidatesTurnedAway = [_candidates.Load.Refused, _candidates.Load.WarnedEvicted, _turnedAwayReported, _candidates.Load.CriticalEvicted],
        WindowsSinceCriticalHit = Math.Min(_windowsSinceCriticalHit, int.MaxValue / 2),
        Raised = [.. _raised],
        RegressionLive = _test.Live,
        RegressionRanks = _rank.Live,
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
        _turnedAwayReported = state.CandidatesTurnedAway.Length >= 3 ? state.CandidatesTurnedAway[2] : 0;
        _raised.Clear();
        _raised.UnionWith(state.Raised);
        _test.Restore(state.RegressionLive);
        _rank.Restore(state.RegressionRanks);
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
