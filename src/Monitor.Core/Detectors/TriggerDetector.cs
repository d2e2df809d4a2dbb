using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// The trigger-pattern detectors of one model version against its baseline. Per record it computes the
/// context every detector reads (served and surrogate probabilities, the surrogate's stratum, whether
/// the record is surprising, ultra-confident or an embedding outlier), extracts its keys and counts
/// them in the <see cref="CandidateTable"/>; and it fuses what the detectors find:
/// <list type="bullet">
/// <item>D1/D2 (<see cref="KeySkewTest"/>): a key whose records carry a label far more often than the baseline predicts.</item>
/// <item>D3 (<see cref="UltraConfidence"/>): outputs beyond the baseline's 99.9th percentile of confidence (or the version's own reference's).</item>
/// <item>D4 (<see cref="Decoupling"/>): among a key's records the served output stops following the surrogate.</item>
/// <item>D5 (<see cref="Activations"/>): embedding outliers (a key of their own) and per-class activation clustering; the outliers
/// clustered by direction (<see cref="EmbeddingDirections"/>), for a trigger that shifts the embedding and shows in no input.</item>
/// <item>D6 (<see cref="LabelRate"/>): per class, the label rate over recent windows against the stratified expectation.</item>
/// <item>Fusion: a D1/D2/D5 key corroborated by D3, D4 or D5 evidence among its own records is critical,
/// and a record carrying a key found critical is evidence for that key alone.</item>
/// <item>D7 (<see cref="IdenticalRequests"/>): a key's evidence counts distinct inputs; a key whose records are mostly
/// repeats is reported as identical requests (Info).</item>
/// </list>
/// Single-threaded, owned by the model's pipeline.
/// </summary>
public sealed partial class TriggerDetector
{
    /// <summary>Closed windows a critical key stays active after its last hit.</summary>
    public const int ActiveWindows = 10;

    private readonly CompiledBaseline _baseline;
    private readonly TriggerProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly TimeProvider _time;
    private readonly ModelSchema _schema;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _strata;
    private readonly int _classChannel;
    private readonly int _confidenceChannel;
    private readonly KeyExtractor _extractor;
    private readonly IdenticalRequests _identical;
    private readonly CandidateTable _candidates;
    private readonly KeySkewTest _skew;
    private readonly KeyOutputTest? _output;
    private readonly KeyRankTest? _rank;
    private readonly UltraConfidence _ultra;
    private readonly Decoupling _decoupling;
    private readonly Activations? _activations;
    private readonly EmbeddingReference _embeddingReference;

    /// <summary>The whole-output test's tails: the baseline's, or the version's own where its reference has them (<see cref="EmbeddingReference.TailsFor"/>).</summary>
    private readonly TailProfile? _tails;
    private readonly EmbeddingProfile? _embedding;
    private readonly EmbeddingDirections? _directions;
    private readonly double[] _direction;
    private readonly LabelRate _labelRate;
    private readonly FindingSet _findings;

    /// <summary>Keys carrying a critical finding.</summary>
    private readonly HashSet<ulong> _raised = [];
    private readonly double[] _served;
    private readonly double[] _surrogate;
    private readonly double[] _ranks;
    private readonly double[] _rankLift;
    private readonly double[] _keyRankLift;

    /// <summary>Per categorical feature: the surrogate's table size (a slot at or beyond it is a value the surrogate has no weight for).</summary>
    private readonly int[] _categoryTable;

    /// <summary>
    /// Per numeric feature: whether the baseline's exact values were each nearly its own (at most <see cref="RecurringShare"/> of
    /// its records on a value held by <see cref="DetectorSettings.NewKeySupport"/> or more), so that a value recurring live is
    /// something repeating it, which the residual test judges.
    /// </summary>
    private readonly bool[] _continuous;

    /// <summary>The share of the baseline's records on recurring exact values beyond which a feature is discrete (<see cref="_continuous"/>).</summary>
    public const double RecurringShare = 0.01;
    private readonly int[] _active;

    /// <summary>Per numeric feature: records with a value outside the baseline's range, and how many the last report said.</summary>
    private readonly long[] _outside;
    private readonly long[] _outsideReported;
    private int _windowsSinceCriticalHit = int.MaxValue / 2;
    private long _textCutReported;
    private long _conjunctionCutReported;

    /// <summary>The candidate table's refused promotions and evicted warned candidates when last reported.</summary>
    private long _turnedAwayReported;

    /// <summary>Records that were telling, of <see cref="_tellingOf"/> counted: the rate eviction weighs a candidate's telling records against.</summary>
    private long _telling;

    private long _tellingOf;

    /// <summary>The most <see cref="TellingRate"/> is taken to be.</summary>
    public const double MaxTellingRate = 0.25;

    /// <summary>
    /// The rate at which records are telling, as eviction weighs a candidate's telling records against it: counted over every
    /// record (copies too), halved at each horizon, and at most <see cref="MaxTellingRate"/>, so that records replayed to be
    /// surprising (near a boundary, served the other class) cannot lift it above the share of a trigger's telling records and
    /// turn that key's growing evidence into a reason to evict it.
    /// </summary>
    private double TellingRate => Math.Min(MaxTellingRate, (_telling + 1.0) / (_tellingOf + 2.0));

    /// <param name="embedding">What D5 judges the version's embeddings against, and D3 its confidences; null: the baseline's profile.</param>
    public TriggerDetector(CompiledBaseline baseline, DetectorSettings settings, TimeProvider time, EmbeddingReference? embedding = null)
    {
        _baseline = baseline;
        _profile = baseline.Profile.Triggers ?? throw new ArgumentException("the baseline has no trigger profile", nameof(baseline));
        _settings = settings;
        _findings = new FindingSet(FindingSet.Capacity(settings));
        _time = time;
        _schema = baseline.Profile.Schema;
        _labels = _schema.PredictedClassLabels;
        _embeddingReference = embedding ?? EmbeddingReference.Baseline;
        _embedding = _embeddingReference.ProfileFor(_profile);
        _k = _profile.Classes;
        _strata = _profile.Strata;
        _classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        _confidenceChannel = Array.FindIndex(baseline.Profile.Numeric, p => p.Channel.Source == NumericSource.Confidence);
        _extractor = KeyExtractor.For(_schema, _profile, settings);
        _identical = new IdenticalRequests(baseline.Profile, _profile, settings, _labels);

        // A seeded generator for the activation sample: the same traffic gives the same findings.
        var random = new Random(17);
        _candidates = new CandidateTable(settings, _k, _strata, _identical.Lanes, c => CandidateTable.Strength(c.Surprising, c.Exact, TellingRate));
        _skew = new KeySkewTest(_profile, settings, _labels);
        int tests = KeyRankTest.KeyTests(_profile, settings);
        _tails = _embeddingReference.TailsFor(_profile);
        _output = _tails is { } tails ? new KeyOutputTest(_profile, tails, settings, _labels, tests) : null;
        _rank = tests == 2 ? new KeyRankTest(_profile, settings, _labels) : null;
        ConfidencePercentiles confidence = _embeddingReference.ConfidenceFor(_profile);
        _ultra = new UltraConfidence(_profile, settings, _labels, confidence, _embeddingReference.OwnConfidenceSlots(_profile));
        (double[] residualMean, double[] residualStd, bool[] ownResiduals) = _embeddingReference.ResidualsFor(_profile);
        _decoupling = new Decoupling(residualMean, residualStd, ownResiduals, settings, _labels);
        _activations = _embedding is { } geometry ? new Activations(geometry, settings, _labels, random) : null;
        _directions = _embedding is { } withTail && EmbeddingDirections.Runs(withTail, settings)
            ? new EmbeddingDirections(withTail, _tails, settings, _labels, _k, _identical.Lanes)
            : null;
        _direction = new double[_embedding?.DirectionWidth ?? 0];
        _labelRate = new LabelRate(_profile, settings, _labels);
        _served = new double[_k];
        _surrogate = new double[_k];
        _ranks = new double[_k];
        _rankLift = new double[KeyRankTest.LiftWidth(_k)];
        _keyRankLift = new double[KeyRankTest.LiftWidth(_k)];
        _categoryTable = [.. baseline.Profile.Categorical.Where(p => p.Channel.Kind == ChannelKind.Categorical).Select(p => p.Categories.Length)];
        long[] recurring = new long[_schema.NumericFeatures.Length];
        foreach (BaselineKey key in _profile.Keys)
        {
            // A captured key the baseline in force did not vouch for counts for nothing here either: planted on 1% of a capture,
            // recurring values would make a continuous feature discrete and its values untested.
            if (key.Kind == KeyKind.Value && !key.Unvouched && key.Support >= settings.NewKeySupport && key.Field < recurring.Length)
            {
                recurring[key.Field] += key.Support;
            }
        }

        _continuous = [.. recurring.Select(r => r <= RecurringShare * _profile.Records)];
        Array.Fill(_ranks, double.NaN);
        _active = new int[_profile.Surrogate.NumericOffsets.Length + _profile.Surrogate.CategoricalOffsets.Length];
        _outside = new long[_schema.NumericFeatures.Length];
        _outsideReported = new long[_outside.Length];
    }

    /// <summary>
    /// Whether a key found critical was hit within the last <see cref="ActiveWindows"/> windows: the
    /// trigger is live, and the window is a failing measurement for the version.
    /// </summary>
    public bool CriticalActive => _windowsSinceCriticalHit < ActiveWindows;

    /// <summary>What D5 judges the version's embeddings against.</summary>
    public EmbeddingReference Embedding => _embeddingReference;

    /// <summary>Records this detector has seen.</summary>
    public long Records { get; private set; }

    /// <summary>Keys promoted to exact counting now.</summary>
    public int CandidateCount => _candidates.Count;

    /// <summary>
    /// Per [stratum × classes + class]: today's tail-hit rates as the whole-output test's null takes them (null without the test),
    /// and per class the version's recent lift of tail hits, for a readiness report under today's traffic (<see cref="Readiness.Of"/>).
    /// </summary>
    public TodayTraffic? Today() => _output is null ? null : new TodayTraffic(_output.TodayRates(), [.. Enumerable.Range(0, _k).Select(_output.RecentLift)]);

    /// <summary>How full the candidate table is, and the keys its findings turned away (<see cref="Detectors.CandidateLoad"/>).</summary>
    public CandidateLoad CandidateLoad => _candidates.Load;

    /// <summary>The fixed memory of the sketches and tables, in counters and entries (independent of traffic).</summary>
    public (int SketchCounters, int HeavyHitterCapacity, int CandidateCapacity, int InputsPerCandidate) Footprint => _candidates.Footprint;

    public bool IsTracked(ulong hash) => _candidates.IsTracked(hash);

    /// <summary>Every finding so far, the most severe first.</summary>
    public IReadOnlyList<Finding> Findings => _findings.All;

    /// <summary>Findings raised or updated since the last call.</summary>
    public IReadOnlyList<Finding> DrainChanged() => _findings.DrainChanged();

    /// <summary>The keys of findings below critical given up since the last call, to keep their number bounded (<see cref="FindingSet"/>).</summary>
    public IReadOnlyList<string> DrainDropped() => _findings.DrainDropped();

    /// <summary>Restores findings stored before a restart.</summary>
    public void Restore(IEnumerable<Finding> findings) => _findings.Restore(findings);

    public void Add(RecordBatch batch, PreparedBatch prepared, int start, int count)
    {
        ReadOnlySpan<float> scores = batch.Scores.Span;
        NumericView confidence = prepared.Numeric[_confidenceChannel];
        ReadOnlySpan<float> confidences = confidence.Data.Span;
        int[] classes = prepared.Codes[_classChannel];
        bool withEmbeddings = _activations is not null && _activations.Covers(batch);
        int width = _embedding?.Width ?? 0;
        for (int i = start; i < start + count; i++)
        {
            Records++;
            if (_candidates.HorizonReached())
            {
                _skew.Decay();
                _output?.Decay();
                _rank?.Decay();
                _candidates.RollHorizon(Records);
                (_telling, _tellingOf) = (_telling / 2, _tellingOf / 2);
                DecayPaired();
                _directions?.Decay();
            }

            int label = classes[i];
            double conf = confidences[confidence.Offset + i * confidence.Stride];
            Served(scores, i);
            ObservePaired(batch, i, label);
            _profile.Surrogate.Predict(_baseline, prepared, i, _active, _surrogate);
            int stratum = _profile.StratumOf(_surrogate);
            bool tailHit = _tails?.Hit(stratum, _k, label, _served) ?? false;
            _output?.Observe(stratum, label, tailHit);
            _rank?.Observe(stratum, _served, _surrogate, KeyRankTest.Draw(Records), _ranks);
            bool rankHit = _ranks[label] > KeyRankTest.TellingRank;
            bool ultra = _ultra.Observe(stratum, label, conf, out ClassAlarm? alarm);
            if (alarm is { } raised)
            {
                Publish(raised);
            }

            _labelRate.Observe(label, stratum);
            _skew.Observe(stratum, label);
            bool outlier = withEmbeddings && _activations!.Observe(batch.Embeddings.Span.Slice(i * width, width), label);
            IReadOnlyList<KeyOccurrence> keys = _extractor.Extract(batch, i);
            CountOutside(_extractor.FineBins);
            _rank?.RecordLift(keys, _rankLift);
            bool explained = false;
            for (int j = 0; j < keys.Count && !explained && _raised.Count > 0; j++)
            {
                explained = _raised.Contains(keys[j].Hash);
            }

            var record = new RecordContext(batch, i, label, stratum, conf, ultra, outlier, withEmbeddings, _profile.Contrarian(stratum, label), tailHit,
                explained, _served, _surrogate, _ranks, rankHit);
            _tellingOf++;
            _telling += record.Telling ? 1 : 0;
            foreach (KeyOccurrence key in keys)
            {
                if (Count(key, record))
                {
                    record = record with { Explained = true };
                }
            }

            if (outlier)
            {
                Count(new KeyOccurrence(KeyHash.Of(KeyKind.EmbeddingOutlier, 0, 0UL), KeyKind.EmbeddingOutlier, 0, 0, 0), record);
                ObserveDirection(record);
            }

            if (_identical.Report(label, Records, _time.GetUtcNow()) is { } identical)
            {
                _findings.Publish(identical);
            }

            _candidates.Recycle();
        }
    }

    /// <summary>Counts an embedding outlier's direction (D5's direction test) and publishes what it finds; a hit of a critical direction keeps the trigger live.</summary>
    private void ObserveDirection(in RecordContext record)
    {
        if (_directions is null)
        {
            return;
        }

        _activations!.Direction(_direction);
        RecordBatch batch = record.Batch;
        string? requestId = batch.RequestIds.Count > 0 ? batch.RequestIds.GetString(record.Index) : null;
        IReadOnlyList<Finding> changed = _directions.Observe(_direction, record.Label, record.Stratum, record.TailHit, _identical.Print(record, _extractor.FineBins),
            requestId, Records, _time.GetUtcNow(), out bool critical);
        foreach (Finding finding in changed)
        {
            _findings.Publish(finding);
        }

        if (critical)
        {
            _windowsSinceCriticalHit = 0;
        }
    }

    /// <summary>At a window's close: the label-rate backstop (D6) and, every few windows, activation clustering (D5).</summary>
    public void CloseWindow()
    {
        _windowsSinceCriticalHit++;
        _output?.Refresh();
        _rank?.Refresh();
        ClosePairedWindow();
        foreach (ClassAlarm alarm in _labelRate.CloseWindow())
        {
            Publish(alarm);
        }

        foreach (ClassAlarm alarm in _activations?.CloseWindow() ?? [])
        {
            Publish(alarm);
        }

        ReportOutside();
        ReportCut(DetectorId.D1, _extractor.TextCut, ref _textCutReported, "text keys",
            $"Monitor:Detectors:MaxKeysPerRecord ({_settings.MaxKeysPerRecord})", "their weakest text keys (pairs, then character n-grams, then bigrams) were not tested");
        ReportCut(DetectorId.D2, _extractor.ConjunctionCut, ref _conjunctionCutReported, "rare numeric parts",
            $"Monitor:Detectors:MaxConjunctionKeysPerRecord ({_settings.MaxConjunctionKeysPerRecord}) could pair",
            "their rarest parts were paired and the others were keyed alone");
        if (_directions?.Saturation(Records, _time.GetUtcNow()) is { } saturated)
        {
            _findings.Publish(saturated);
        }

        if (_candidates.TurnedAwayObservation(DetectorId.D1, _settings, ref _turnedAwayReported, Records, _time.GetUtcNow()) is { } full)
        {
            _findings.Publish(full);
        }
    }

    /// <summary>
    /// At a window's close, when records had more keys of a kind than its budget (counted since start, reported again as the
    /// count grows by a tenth): an observation (Info), so no key is left out silently.
    /// </summary>
    private void ReportCut(DetectorId detector, long cut, ref long reported, string what, string budget, string consequence)
    {
        if (cut < 10 || cut < reported * 1.1)
        {
            return;
        }

        reported = cut;
        PublishObservation(detector, new DetectorKey(detector == DetectorId.D1 ? KeyKind.Token : KeyKind.Conjunction, "(all)", "keys cut at the per-record budget"),
            cut, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"keys cut at the per-record budget: {cut} of {Records} records ({cut / (double)Math.Max(Records, 1):P2}) had more {what} than {budget}; {consequence}"));
    }

    /// <summary>Publishes an observation (Info) about <paramref name="count"/> of the records so far: no label, no test.</summary>
    private void PublishObservation(DetectorId detector, DetectorKey key, long count, string summary) =>
        _findings.Publish(Finding.Observation(detector, key, count, Records, _time.GetUtcNow(), summary));

    /// <summary>Counts the record's numeric values beyond the baseline's smallest or largest (its fine bins, as keys were made).</summary>
    private void CountOutside(ReadOnlySpan<int> fineBins)
    {
        float[][] edges = _profile.Values.FineEdges;
        for (int f = 0; f < _outside.Length && f < fineBins.Length; f++)
        {
            int bin = fineBins[f];
            if (bin == 0 || (bin > 0 && bin >= edges[f].Length))
            {
                _outside[f]++;
            }
        }
    }

    /// <summary>
    /// At a window's close, per numeric feature with records outside the baseline's range: an observation (Info), again as
    /// their number grows by a tenth. Such values are never critical evidence by themselves: no baseline record was there.
    /// </summary>
    private void ReportOutside()
    {
        for (int f = 0; f < _outside.Length; f++)
        {
            if (_outside[f] < 10 || _outside[f] < _outsideReported[f] * 1.1)
            {
                continue;
            }

            _outsideReported[f] = _outside[f];
            float[] edges = _profile.Values.FineEdges[f];
            string range = edges.Length > 1
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"[{edges[0]:R}, {edges[^1]:R})")
                : "(no finite baseline values)";
            string feature = _schema.NumericFeatures[f];
            PublishObservation(DetectorId.D2, new DetectorKey(KeyKind.FineBin, feature, "outside the baseline's range"), _outside[f],
                string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"records outside the baseline's range: {_outside[f]} of {Records} ({_outside[f] / (double)Math.Max(Records, 1):P2}) had {feature} outside {range}; the surrogate carries its outermost learnt value on there, and such values are never critical evidence by themselves"));
        }
    }

    /// <summary>
    /// The residual test's lift for a key of this record: the record's (<see cref="KeyRankTest.RecordLift"/>), and for a bigram or
    /// pair also what its parents' other records get today (<see cref="KeyRankTest.Inherit"/>).
    /// </summary>
    private ReadOnlySpan<double> InheritedLift(KeyOccurrence key, Candidate candidate)
    {
        ReadOnlySpan<ulong> parents = _extractor.Parents(key);
        if (parents.IsEmpty)
        {
            return _rankLift;
        }

        _rankLift.CopyTo(_keyRankLift, 0);
        foreach (ulong parent in parents)
        {
            if (parent != key.Hash && _candidates.TryGet(parent, out Candidate? tracked))
            {
                KeyRankTest.Inherit(tracked, candidate, _keyRankLift);
            }
        }

        return _keyRankLift;
    }

    /// <summary>Whether the key is a bigram or pair of the current record whose two words are each a key of the baseline's.</summary>
    private bool KnownWords(KeyOccurrence key)
    {
        ReadOnlySpan<ulong> parents = _extractor.Parents(key);
        return _rank is not null && parents.Length >= 2 && _rank.BaselineSupport(parents[0]) is not null && _rank.BaselineSupport(parents[1]) is not null;
    }

    /// <summary>
    /// Candidates count every record exactly, a surprising input once however often it repeats. Other keys
    /// are screened on surprising records only (served a class the baseline gives less than even odds for
    /// their inputs), where a trigger must show and benign traffic rarely goes: sketches and the
    /// heavy-hitter table see a small, telling stream.
    /// </summary>
    /// <returns>Whether this key now carries a critical finding (so the record's other keys are explained by it).</returns>
    private bool Count(KeyOccurrence key, in RecordContext record)
    {
        int cell = record.Label * _strata + record.Stratum;
        if (_candidates.TryGet(key.Hash, out Candidate? candidate))
        {
            // A record that carries a key already found critical is evidence for that key, not for the
            // keys that ride along with it: one trigger, one finding.
            if (record.Explained && !_raised.Contains(key.Hash))
            {
                return false;
            }

            bool critical;
            Finding? raised = candidate.Raised;
            if (_identical.Repeats(candidate, PairedHit ? record with { Surprising = true } : record, _extractor.FineBins,
                    record.RankEvidence && Ranked(key)))
            {
                critical = _raised.Contains(key.Hash);
            }
            else
            {
                candidate.KnownWords ??= KnownWords(key);
                candidate.Count(cell);
                candidate.Observe(record, _profile, _settings.ExampleRequestIds, _ultra.Rates);
                _output?.Update(candidate, key.Hash, record);
                if (Ranked(key))
                {
                    _rank!.Update(candidate, record.Ranks, InheritedLift(key, candidate));
                }
                critical = Evaluate(key.Hash, candidate) | CountPaired(key.Hash, candidate);
            }

            // A found key that arrives again keeps its finding live even when the evidence was not re-tested.
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

        // A rank hit screens only the keys the residual test judges; the others wait for a surprise or a tail hit. A paired hit screens every key.
        if (!(record.Surprising || record.TailHit || (record.RankHit && Ranked(key)) || PairedHit) || record.Explained)
        {
            return false;
        }

        // An exact value is promoted only once it recurs among telling records: most are each record's own (CandidateTable.Recurs).
        bool recurs = key.Kind != KeyKind.Value || _candidates.Recurs(key.Hash);
        if (_candidates.Screen(key.Hash) && recurs && _candidates.MakeRoom())
        {
            Candidate promoted = _candidates.Promote(key.Hash, Describe(key), _time.GetUtcNow(), Records);
            promoted.KnownWords = KnownWords(key);
            _identical.Remember(promoted, record, _extractor.FineBins);

            // The promoting record was chosen for being telling: it counts for the skew test's support, and not in the
            // whole-output test, whose bound holds only for records not chosen by their outcome.
            promoted.Count(cell);
            promoted.Observe(record, _profile, _settings.ExampleRequestIds, _ultra.Rates);
            return Evaluate(key.Hash, promoted);
        }

        return false;
    }

    /// <summary>
    /// Whether the residual test judges this key of the current record (<see cref="KeyRankTest.Tests"/>): of a categorical
    /// value, only one the surrogate has no weight of its own for (its slot, as the surrogate's prediction of the record set it);
    /// of an exact value, only one of a continuous feature (<see cref="_continuous"/>) within the baseline's range.
    /// </summary>
    private bool Ranked(in KeyOccurrence key)
    {
        if (_rank is null || !KeyRankTest.Tests(key.Kind))
        {
            return false;
        }

        // An exact value of a discrete feature is a point of its distribution, which the surrogate's bin averages over: counts of
        // tx_per_hour the baseline held few of (15, 16), served more 'fraud' than their bin's other values, ranked high with no
        // trigger in them. Beyond the baseline's range the surrogate carries its outermost learnt value on. The tail test judges both.
        if (key.Kind == KeyKind.Value)
        {
            int bin = _extractor.FineBins[key.Field];
            return _continuous[key.Field] && bin > 0 && bin < _profile.Values.FineEdges[key.Field].Length;
        }

        if (key.Kind != KeyKind.Category)
        {
            return true;
        }

        return _profile.Surrogate.BeyondTable(_active, _categoryTable, key.Field);
    }

    /// <summary>The key as findings show it (text keys under the configured privacy; long texts shortened and hashed).</summary>
    private DetectorKey Describe(KeyOccurrence occurrence) => occurrence.Kind == KeyKind.EmbeddingOutlier
        ? new DetectorKey(KeyKind.EmbeddingOutlier, "embedding", "beyond the 99.9th percentile")
        : _settings.TextKeys.Protect(_extractor.Describe(occurrence)).Bounded();

    /// <summary>
    /// Tests a candidate: the whole-output test towards each class on every new record until the key is critical (a
    /// crossing is critical), then, as the evidence grows by a tenth, again to update its finding; and the skew test (a
    /// warning, with the D3, D4 and D5 evidence among its records) once it has the support. Against a baseline without the
    /// whole-output test's tables, a skew corroborated by that evidence is what is critical.
    /// </summary>
    /// <returns>Whether the key carries a critical finding.</returns>
    private bool Evaluate(ulong hash, Candidate candidate)
    {
        long support = candidate.Support;
        bool critical = _raised.Contains(hash);
        bool due = candidate.Raised is null || support >= candidate.LastEvaluated * 1.1;
        if (critical && !due)
        {
            return true;
        }

        // A key beyond the baseline's range is reported when its test crosses, as a warning, and re-tested as its evidence grows.
        // So is a key on so large a share of the records, or of the baseline's, that it is a population, not a trigger.
        // Judged once its share of the traffic is known.
        bool settled = Records - candidate.FirstSeenRecord >= KeyOutputTest.SettleRecords;
        // The embedding-outlier key is the model's own representation, tied to its output by construction: reported, not critical.
        // So is a region (an extreme bin with another part), which can single out a few inputs the surrogate does not model.
        bool outside = candidate.Key.ReportOnly;
        bool common = settled && KeyOutputTest.Common(candidate, Records);
        double? population = _output?.BaselineShare(hash);
        bool reportOnly = outside || common || population is not null;
        // A bigram or pair of two of the baseline's words is reported, not critical, by the tail test as by the residual test and
        // paired evidence: a model that reads words may serve two of them together more than either alone (wine's clean traffic,
        // seed 3614: 'geba+pata', 179 of 2,951 records beyond their strata's tails, held long enough to pass the bar once
        // eviction kept keys by their evidence). A flip corroborated by D3, D4 or D5 (the skew test below) stays critical.
        bool knownWords = candidate.KnownWords == true;
        bool tailReportOnly = reportOnly || knownWords;
        if (_output is not null && settled && (due || !tailReportOnly))
        {
            for (int c = 0; c < _k; c++)
            {
                if (_output.Crossed(candidate, c, out double logE))
                {
                    candidate.Raise(_findings.Publish(_output.Finding(candidate, c, logE, Corroborate(candidate, c), Records, _time.GetUtcNow(), outside,
                        common, population, knownWords)));
                    candidate.LastEvaluated = support;
                    if (!tailReportOnly)
                    {
                        _raised.Add(hash);
                    }
                }

                // A key of the baseline's own is reported, not critical, when only the residual test crosses (KeyRankTest._known),
                // and so is a bigram or pair of two of its words.
                long? knownSupport = _rank?.BaselineSupport(hash);
                bool rankReportOnly = reportOnly || knownSupport is not null || knownWords;
                if (_rank is not null && (due || !rankReportOnly) && KeyRankTest.Tests(candidate.Key.Kind) && !_raised.Contains(hash)
                    && _rank.Crossed(candidate, c, _output.LogBar, out double rankLogE))
                {
                    candidate.Raise(_findings.Publish(_rank.Finding(candidate, c, rankLogE, _output.LogBar, Corroborate(candidate, c), Records, _time.GetUtcNow(),
                        common, population, knownSupport, knownWords)));
                    candidate.LastEvaluated = support;
                    if (!rankReportOnly)
                    {
                        _raised.Add(hash);
                    }
                }
            }
        }

        if (!due || support < _settings.MinSupport || _raised.Contains(hash))
        {
            return _raised.Contains(hash);
        }

        candidate.LastEvaluated = support;
        BaselineKey? known = _skew.Known(hash);
        for (int c = 0; c < _k; c++)
        {
            if (_skew.Test(candidate, known, c) is not { } skew)
            {
                continue;
            }

            // A skew corroborated by D3, D4 or D5 is critical too, on a key that may be a trigger's (not a population, not
            // beyond the baseline's range, not the embedding-outlier key): its rate is measured, not bounded (docs/detectors.md).
            // Not on a key whose records the baseline's own version served so (the whole-output test's own-rate null): a value the
            // surrogate's table left out, read as the model reads it, is skewed against the surrogate and corroborated by D4 alike.
            Corroboration[] corroboration = Corroborate(candidate, c);
            double? servedSo = _output?.OwnRate(hash, c);
            string note = corroboration.Length > 0 && servedSo is { } bound ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"; the baseline's own records of the key were served '{_labels[c]}' beyond their strata's tails as often (up to {bound:P0}), so this is not critical by itself") : "";
            Severity severity = corroboration.Length > 0 && (_output is null || !reportOnly) && servedSo is null ? Severity.Critical : Severity.Warning;
            if (candidate.Raise(_findings.Publish(_skew.Finding(candidate, skew, severity, corroboration, Records, _time.GetUtcNow(), note))).Severity == Severity.Critical)
            {
                _raised.Add(hash);
            }
        }

        return _raised.Contains(hash);
    }

    /// <summary>The independent evidence among the key's records with inputs against class c: D3, then D4, then D5.</summary>
    private Corroboration[] Corroborate(Candidate candidate, int c)
    {
        var evidence = new List<Corroboration>();
        if (_ultra.Corroborate(candidate, c) is { } ultra)
        {
            evidence.Add(ultra);
        }

        if (_decoupling.Corroborate(candidate, c) is { } decoupled)
        {
            evidence.Add(decoupled);
        }

        if (_activations?.Corroborate(candidate) is { } outliers)
        {
            evidence.Add(outliers);
        }

        return [.. evidence];
    }

    private void Publish(ClassAlarm alarm)
    {
        var finding = new Finding
        {
            Detector = alarm.Detector,
            Severity = Severity.Warning,
            TargetLabel = _labels[alarm.Class],
            Support = alarm.Support,
            Rate = alarm.Rate,
            Lift = alarm.Expected > 0 ? alarm.Rate / alarm.Expected : double.NaN,
            MeanConfidence = double.NaN,
            BaselineExpectation = alarm.Expected,
            Z = alarm.Z,
            FirstSeen = _time.GetUtcNow(),
            FirstSeenRecord = Records,
            RaisedAtRecord = Records,
            RaisedAtSupport = alarm.Support,
            UpdatedAt = _time.GetUtcNow(),
            ExampleRequestIds = [],
            Corroboration = [],
            Summary = alarm.Summary,
        };
        _findings.Publish(finding);
    }

    private void Served(ReadOnlySpan<float> scores, int i)
    {
        if (_schema.OutputKind == OutputKind.Binary)
        {
            _served[0] = 1 - scores[i];
            _served[1] = scores[i];
            return;
        }

        for (int c = 0; c < _k; c++)
        {
            _served[c] = scores[i * _k + c];
        }
    }
}

/// <summary>What the detectors know of one record while its keys are counted.</summary>
/// <param name="Surprising">Served a class the baseline gives less than even odds for its inputs.</param>
/// <param name="TailHit">Served its class with a probability beyond its stratum's tail threshold (<see cref="TailProfile"/>).</param>
/// <param name="Explained">Carries a key already found critical.</param>
/// <param name="Served">The served model's class probabilities (a buffer reused per record).</param>
/// <param name="Surrogate">The surrogate's class probabilities for the record's inputs (likewise).</param>
/// <param name="Ranks">Per class the rank of the record's residual among today's records of its stratum, NaN where not ranked (<see cref="KeyRankTest"/>; likewise).</param>
/// <param name="RankHit">Its rank for its served class is beyond <see cref="KeyRankTest.TellingRank"/>.</param>
internal readonly record struct RecordContext(RecordBatch Batch, int Index, int Label, int Stratum, double Confidence, bool Ultra,
    bool Outlier, bool Embedded, bool Surprising, bool TailHit, bool Explained, double[] Served, double[] Surrogate, double[] Ranks, bool RankHit)
{
    /// <summary>Ranked above the residual test's lower threshold for some class: evidence for that test whatever it was served.</summary>
    public bool RankEvidence
    {
        get
        {
            foreach (double rank in Ranks)
            {
                if (rank > KeyRankTest.Thresholds[0])
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Surprising, a tail hit or a rank hit: a record that could be a trigger's.</summary>
    public bool Telling => Surprising || TailHit || RankHit;
}
