using System.Diagnostics.CodeAnalysis;

namespace Monitor.Core.Detectors;

/// <summary>
/// The keys counted exactly (candidates) and the screen that promotes them: on surprising records a
/// count-min sketch of each key's support, one of its (label, stratum) cells, and a Space-Saving table
/// of heavy hitters. A full table evicts by sampling: one with a finding below critical first only beyond
/// <see cref="DetectorSettings.WarnedCandidateShare"/> of the table, otherwise when no other can go (anybody with the ingest key
/// can cause warnings: a table kept full of them would promote nothing again); one with a critical finding only while such
/// candidates hold more than half the table (forged records can make keys critical on a trusted version without failing it,
/// and a table full of them would promote nothing again), the quietest first, its finding kept; at every horizon
/// the sketches restart and the candidates keep half their counts. Each candidate remembers up to <see cref="DetectorSettings.RememberedInputs"/>
/// inputs to count distinct ones. Memory is fixed by the settings, never by traffic.
/// </summary>
internal sealed class CandidateTable
{
    /// <summary>Candidates drawn when one must make room.</summary>
    private const int EvictionSample = 16;

    /// <summary>Eviction's draws start here in splitmix64's sequence, far from the records' tie-breaking draws (<see cref="KeyRankTest.Draw"/>).</summary>
    private const long DrawOffset = 1L << 62;

    /// <summary>
    /// Candidates kept for reuse: a promotion makes room by letting one go, and a record's keys can promote dozens at once (a
    /// 64-pixel image's bins and conjunctions on a busy screen), so a few records' worth.
    /// </summary>
    private const int SpareCapacity = 256;

    /// <summary>Slots of the table of telling records' exact values (<see cref="Recurs"/>): 1 MiB of fingerprints.</summary>
    public const int ValueSlots = 1 << 18;

    private readonly DetectorSettings _settings;
    private readonly int _classes;
    private readonly int _strata;
    private readonly CountMinSketch _support;
    private readonly SpaceSaving _heavy;
    private readonly Dictionary<ulong, Candidate> _candidates = [];

    /// <summary>Candidates let go during the current record: reusable once it is done (<see cref="Recycle"/>).</summary>
    private readonly List<Candidate> _released = [];

    /// <summary>Candidates let go, kept to be reused by promotions (at most <see cref="SpareCapacity"/>).</summary>
    private readonly Stack<Candidate> _spare = new();

    private readonly List<ulong> _candidateKeys = [];

    /// <summary>The exact values of telling records, direct-mapped by key: a fingerprint per slot, the newest kept (allocated on first use).</summary>
    private uint[]? _values;
    private readonly ulong _printLanes;
    private long _horizon;

    /// <summary>
    /// Draws eviction has made: the next draw is a function of this count alone (splitmix64), and a checkpoint carries it with
    /// the candidates in their order, so a restarted table evicts the candidates the table that never stopped would have.
    /// </summary>
    private long _draws;

    /// <summary>Candidates whose finding is below critical, kept by the candidates as their findings change.</summary>
    private readonly Tally _warned = new();

    /// <summary>Candidates whose finding is critical, kept likewise.</summary>
    private readonly Tally _critical = new();

    /// <summary>Promotions refused because every candidate drawn held a critical finding.</summary>
    private long _refused;

    /// <summary>Candidates holding a finding below critical evicted to make room.</summary>
    private long _warnedEvicted;

    /// <summary>Candidates holding a critical finding evicted to make room, while such candidates held more than half the table.</summary>
    private long _criticalEvicted;

    private readonly Func<Candidate, double> _strength;

    /// <param name="printLanes">The lanes of an input print in use (<see cref="InputPrint.Lanes"/>).</param>
    /// <param name="strength">How strong a candidate's case is, for eviction (the weakest of those drawn goes); by default the share of its records that were telling (<see cref="Strength"/> for a classifier's).</param>
    public CandidateTable(DetectorSettings settings, int classes, int strata, ulong printLanes = 0, Func<Candidate, double>? strength = null)
    {
        _strength = strength ?? (c => c.SurpriseShare);
        _settings = settings;
        _classes = classes;
        _strata = strata;
        _printLanes = printLanes;
        _support = new CountMinSketch(settings.SketchWidth, settings.SketchDepth);
        _heavy = new SpaceSaving(settings.HeavyHitters);
    }

    /// <summary>Keys promoted to exact counting now.</summary>
    public int Count => _candidates.Count;

    /// <summary>The fixed memory of the sketches and tables, in counters and entries (independent of traffic).</summary>
    public (int SketchCounters, int HeavyHitterCapacity, int CandidateCapacity, int InputsPerCandidate) Footprint =>
        (_support.Size, _heavy.Capacity, _settings.Candidates, _settings.RememberedInputs);

    /// <summary>How full the table is, and the promotions its bound on warned candidates and its findings cost so far.</summary>
    public CandidateLoad Load => new(_candidates.Count, _warned.Count, _refused, _warnedEvicted, _criticalEvicted);

    /// <summary>
    /// At a window's close, when the table turned keys away (a promotion refused, a warned candidate evicted beyond its share;
    /// reported again as their number grows by a tenth over <paramref name="reported"/>): an observation (Info), so a saturated
    /// table is not silent. Null otherwise.
    /// </summary>
    public Finding? TurnedAwayObservation(DetectorId detector, DetectorSettings settings, ref long reported, long records, DateTimeOffset now)
    {
        CandidateLoad load = Load;
        long turnedAway = load.Refused + load.WarnedEvicted + load.CriticalEvicted;
        if (turnedAway < 10 || turnedAway < reported * 1.1)
        {
            return null;
        }

        reported = turnedAway;
        return Finding.Observation(detector, new DetectorKey(KeyKind.Token, "(all)", "candidate table full"), turnedAway, records, now,
            string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"candidate table full: {load.Refused} keys that earned exact counting were not promoted (every candidate drawn to make room held a critical finding) and {load.WarnedEvicted} candidates holding a finding below critical were evicted to make room, first beyond Monitor:Detectors:WarnedCandidateShare ({settings.WarnedCandidateShare}) of the {settings.Candidates} (now {load.Warned} of {load.Candidates}), and {load.CriticalEvicted} holding a critical finding while such candidates held more than half the table; their findings stay, but many keys warned or critical at once can be a flood meant to crowd out a trigger's key"));
    }

    /// <summary>Warned candidates the table keeps however full it is; beyond them, one drawn makes room first.</summary>
    private int WarnedKept => (int)(_settings.WarnedCandidateShare * _settings.Candidates);

    public bool IsTracked(ulong hash) => _heavy.Contains(hash) || _candidates.ContainsKey(hash);

    public bool TryGet(ulong hash, [MaybeNullWhen(false)] out Candidate candidate) => _candidates.TryGetValue(hash, out candidate);

    /// <summary>Counts a record towards the horizon; true when the horizon is reached (<see cref="RollHorizon"/> is then due).</summary>
    public bool HorizonReached() => ++_horizon > _settings.HorizonRecords;

    /// <summary>
    /// Counts a key of a surprising record in the sketches. Returns whether it has earned exact counting:
    /// on the sketch's count or the table's guaranteed count, whichever is first (the sketch never
    /// undercounts, and on the small surprising stream it overcounts little).
    /// </summary>
    public bool Screen(ulong hash)
    {
        uint estimate = _support.Increment(hash);
        long guaranteed = _heavy.Offer(hash, estimate);
        return Math.Max(guaranteed, estimate) >= _settings.PromoteSupport;
    }

    /// <summary>
    /// Whether an exact value of a telling record recurs: whether the slot its key maps to holds its fingerprint (the key of the
    /// same value of the same feature, seen on a telling record since that slot was last overwritten), after which the slot holds
    /// it. An exact value is promoted only once it recurs (its screens counted as before): a continuous feature gives each record
    /// values of its own, and promoted as they came (the sketch counts every key of every telling record, so on a wide schema its
    /// estimates pass <see cref="DetectorSettings.PromoteSupport"/> for any key), a 64-pixel image's telling records promoted some nine such
    /// one-off keys per record, the table turned over every few hundred records, and a trigger's value arriving every
    /// thousand or so was evicted before its next record. Memory: <see cref="ValueSlots"/> fingerprints, whatever the traffic;
    /// a value still recurs after n further telling values with probability about exp(−n / <see cref="ValueSlots"/>).
    /// </summary>
    public bool Recurs(ulong hash)
    {
        _values ??= new uint[ValueSlots];
        int slot = (int)(hash & (ValueSlots - 1));
        uint print = (uint)(hash >> 32) | 1;
        bool seen = _values[slot] == print;
        _values[slot] = print;
        return seen;
    }

    private void Remember(ulong hash) => Recurs(hash);

    /// <summary>
    /// How strong a candidate's case is, for eviction: the evidence its telling records give against the rate at which records
    /// are telling, n · KL(s / n ‖ rate) (the log-likelihood ratio of its own share against that rate), negative when its share
    /// is below the rate. The share alone, (s + 1) / (n + 2), ranked a key promoted by one telling record (2/3) above a trigger's
    /// value with 11 of its 25 records telling: on a 64-pixel image, where telling records promote keys by the thousand, the
    /// trigger's key was evicted before its evidence counted. Here the one record gives ln(1 / rate) and the 25 several times that.
    /// </summary>
    public static double Strength(long telling, long records, double rate)
    {
        if (records <= 0)
        {
            return 0;
        }

        double p = Math.Clamp(rate, 1e-9, 1 - 1e-9);
        double share = Math.Clamp((double)telling / records, 0, 1);
        double kl = (share > 0 ? share * Math.Log(share / p) : 0) + (share < 1 ? (1 - share) * Math.Log((1 - share) / (1 - p)) : 0);
        return (share >= p ? 1 : -1) * records * kl;
    }

    /// <summary>Whether a key can be promoted: the table has room, or a weak candidate was evicted to make some (else it is counted refused).</summary>
    public bool MakeRoom()
    {
        if (_candidates.Count < _settings.Candidates || EvictWeakest())
        {
            return true;
        }

        _refused++;
        return false;
    }

    /// <summary>A key becomes a candidate with exact counts from now on (the support sketch tells how often it surprised before).</summary>
    public Candidate Promote(ulong hash, DetectorKey key, DateTimeOffset firstSeen, long firstSeenRecord)
    {
        Candidate candidate;
        if (_spare.TryPop(out Candidate? spare))
        {
            spare.Reuse(key, firstSeen, firstSeenRecord);
            candidate = spare;
        }
        else
        {
            candidate = new Candidate(key, _classes, _strata, firstSeen, firstSeenRecord, _settings.RememberedInputs, _printLanes);
        }

        candidate.SurprisingBefore = _support.Estimate(hash);

        Hold(hash, candidate);
        return candidate;
    }

    /// <summary>Records into the current horizon.</summary>
    public long HorizonRecords => _horizon;

    /// <summary>Eviction's draws so far, for a checkpoint.</summary>
    public long Draws => _draws;

    /// <summary>The candidates as a checkpoint holds them, in the order eviction draws them from.</summary>
    public CandidateState[] Export()
    {
        SyncKeys();
        return [.. _candidateKeys.Select(hash => _candidates[hash].Export(hash))];
    }

    /// <summary>
    /// The heavy-hitter entries, most counted first, at most as many as the candidate table holds. Those counted once are
    /// kept too: early in a run they are most of the screen, and a restart that forgot them promoted a trigger's key
    /// occurrences later than a run that never stopped (the count-min sketches themselves are not stored).
    /// </summary>
    public HeavyHitter[] ExportHeavyHitters() => _heavy.Entries(minCount: 1, limit: _settings.Candidates);

    /// <summary>Puts a checkpoint back: the horizon's position, the candidates (as many as fit) and the heavy hitters near promotion.</summary>
    /// <param name="draws">Eviction's draws at the checkpoint (<see cref="Draws"/>).</param>
    /// <param name="turnedAway">Refused promotions, evicted warned and critical candidates at the checkpoint (<see cref="Load"/>); 0 in older checkpoints.</param>
    public void Restore(long horizon, long draws, IEnumerable<CandidateState> candidates, IEnumerable<HeavyHitter> heavyHitters, Func<string, Finding?> finding,
        (long Refused, long WarnedEvicted, long CriticalEvicted) turnedAway = default)
    {
        _horizon = horizon;
        _draws = draws;
        (_refused, _warnedEvicted, _criticalEvicted) = turnedAway;
        foreach (Candidate held in _candidates.Values)
        {
            held.WarnedTally = null;
            held.CriticalTally = null;
        }

        _candidates.Clear();
        _candidateKeys.Clear();
        _warned.Count = 0;
        _critical.Count = 0;
        foreach (CandidateState state in candidates)
        {
            if (_candidates.Count >= _settings.Candidates || _candidates.ContainsKey(state.Hash))
            {
                continue;
            }

            var candidate = new Candidate(state.Key, _classes, _strata, state.FirstSeen, state.FirstSeenRecord, _settings.RememberedInputs, _printLanes);
            if (candidate.Restore(state, finding))
            {
                Hold(state.Hash, candidate);
            }
        }

        _heavy.Restore(heavyHitters);

        // The table of telling records' exact values is not stored: a value screened before the checkpoint is a heavy hitter
        // (those counted once included), so it recurs after it, as in the table that never stopped (unless that table's slot
        // had been taken by another value since).
        foreach (HeavyHitter entry in heavyHitters)
        {
            Remember(entry.Key);
        }
    }

    /// <summary>
    /// Sketches restart; candidates keep half their counts (a decayed memory of the last horizon). One whose key has stopped
    /// arriving (its support halved below the promotion's) goes, unless it holds a critical finding; a finding goes on being
    /// reported, only its key's exact counts stop.
    /// </summary>
    /// <param name="records">The version's records so far (a candidate's live share is counted over them).</param>
    public void RollHorizon(long records)
    {
        _horizon = 0;
        _support.Clear();
        _heavy.Clear();
        foreach ((ulong hash, Candidate candidate) in _candidates.ToArray())
        {
            candidate.Halve(records);
            if (candidate.Support < _settings.PromoteSupport && (candidate.Raised is null || candidate.Warned))
            {
                Release(hash);
                _candidateKeys.Remove(hash);
            }
        }
    }

    /// <summary>
    /// Frees a slot: of a few candidates drawn at random, the one with no finding whose case is weakest goes: by default the one
    /// whose records are least often surprising (a benign key promoted by chance has a low share; a young trigger a high one),
    /// or by the strength the table was given.
    /// While warned candidates hold more than their share of the table, or when none without a finding was drawn, the warned
    /// one drawn with the least support goes (support halves at every horizon: the longest quiet), its finding kept: a flood
    /// of keys with warnings cannot shut out a trigger's key. While candidates with a critical finding hold more than half
    /// the table, the critical one drawn with the least support goes first, its finding kept, likewise for forged critical keys.
    /// Only a draw of critical candidates alone, with at most half the table critical, refuses the promotion.
    /// Sampled eviction takes constant time however many promotions a flood causes.
    /// </summary>
    private bool EvictWeakest()
    {
        SyncKeys();

        bool warnedOver = _warned.Count > WarnedKept;
        int weakest = -1;
        double lowest = double.MaxValue;
        int weakestWarned = -1;
        long leastSupport = long.MaxValue;
        int weakestCritical = -1;
        long leastCriticalSupport = long.MaxValue;
        for (int draw = 0; draw < EvictionSample; draw++)
        {
            int index = (int)(KeyRankTest.Draw(DrawOffset + _draws++) * _candidateKeys.Count);
            if (!_candidates.TryGetValue(_candidateKeys[index], out Candidate? candidate))
            {
                continue;
            }

            double strength = candidate.Raised is null ? _strength(candidate) : double.MaxValue;
            if (candidate.Raised is null && strength < lowest)
            {
                lowest = strength;
                weakest = index;
            }
            else if (candidate.Warned && candidate.Support < leastSupport)
            {
                leastSupport = candidate.Support;
                weakestWarned = index;
            }
            else if (candidate.Critical && candidate.Support < leastCriticalSupport)
            {
                leastCriticalSupport = candidate.Support;
                weakestCritical = index;
            }
        }

        weakest = weakestWarned >= 0 && (warnedOver || weakest < 0) ? weakestWarned : weakest;
        if (weakestCritical >= 0 && !warnedOver && CriticalOver())
        {
            weakest = weakestCritical;
        }

        if (weakest < 0 || !Release(_candidateKeys[weakest]))
        {
            return false;
        }

        _warnedEvicted += weakest == weakestWarned ? 1 : 0;
        _criticalEvicted += weakest == weakestCritical ? 1 : 0;

        // Swap-remove: constant time.
        _candidateKeys[weakest] = _candidateKeys[^1];
        _candidateKeys.RemoveAt(_candidateKeys.Count - 1);
        return true;
    }

    /// <summary>Whether candidates with a critical finding hold more than half the table.</summary>
    private bool CriticalOver() => _critical.Count > _settings.Candidates / 2;

    private void Hold(ulong hash, Candidate candidate)
    {
        _candidates[hash] = candidate;
        _candidateKeys.Add(hash);
        candidate.WarnedTally = _warned;
        _warned.Count += candidate.Warned ? 1 : 0;
        candidate.CriticalTally = _critical;
        _critical.Count += candidate.Critical ? 1 : 0;
    }

    /// <summary>Takes a candidate out of the table (not out of the list eviction draws from).</summary>
    private bool Release(ulong hash)
    {
        if (!_candidates.Remove(hash, out Candidate? candidate))
        {
            return false;
        }

        _warned.Count -= candidate.Warned ? 1 : 0;
        candidate.WarnedTally = null;
        _critical.Count -= candidate.Critical ? 1 : 0;
        candidate.CriticalTally = null;
        _released.Add(candidate);
        return true;
    }

    /// <summary>
    /// At the end of a record: the candidates let go while it was counted become reusable. Not sooner, as something may still
    /// hold one of them until the record is done (the key whose repeats the record reports).
    /// </summary>
    public void Recycle()
    {
        if (_released.Count == 0)
        {
            return;
        }

        foreach (Candidate candidate in _released)
        {
            if (_spare.Count >= SpareCapacity)
            {
                break;
            }

            _spare.Push(candidate);
        }

        _released.Clear();
    }

    /// <summary>A count the candidates of one table share (<see cref="Candidate.WarnedTally"/>).</summary>
    internal sealed class Tally
    {
        public int Count { get; set; }
    }

    /// <summary>Rebuilds the list eviction draws from if it lost step with the table (it never does in use; a guard).</summary>
    private void SyncKeys()
    {
        if (_candidateKeys.Count != _candidates.Count)
        {
            _candidateKeys.Clear();
            _candidateKeys.AddRange(_candidates.Keys);
        }
    }
}
