using System.Globalization;
using MathNet.Numerics.Distributions;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// The trigger-pattern detectors of one model version against its baseline. Per record it computes
/// the surrogate's stratum, extracts keys and updates sketches and counters; models and tables come
/// from the baseline. Single-threaded, owned by the model's pipeline.
/// <list type="bullet">
/// <item>D1/D2: a key (text token, variant, bigram, pair, n-gram; categorical value, exact value, fine
/// bin, extreme pattern) whose records carry a label far more often than the baseline predicts for
/// the same inputs: pooled z across surrogate strata, support, rate, and new or risen against the
/// key's own baseline rate.</item>
/// <item>D3: per class, a Bernoulli CUSUM on outputs beyond the baseline's 99.9th percentile of confidence.</item>
/// <item>D4: among a key's records the served output stops following the surrogate (residual z).</item>
/// <item>D5: embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance (a key of
/// their own) and per-class activation clustering.</item>
/// <item>D6: per class, the label rate over recent windows against the stratified expectation.</item>
/// <item>Fusion: a D1/D2/D5 key corroborated by D3, D4 or D5 evidence among its own records is critical.</item>
/// </list>
/// </summary>
public sealed class TriggerDetector
{
    /// <summary>Baseline records a confidence percentile needs before D3's CUSUM watches it.</summary>
    private const double MinUltraRecords = 1000;

    /// <summary>Candidates drawn when one must make room.</summary>
    private const int EvictionSample = 16;

    /// <summary>Rise of the spectral signature's top-direction share over the baseline's that D5 reports.</summary>
    private const double SpectralRise = 0.15;

    /// <summary>Recent activations of a class needed before D5 clusters them.</summary>
    private const int MinClusterSample = 200;

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
    private readonly CountMinSketch _support;
    private readonly CountMinSketch _cells;
    private readonly SpaceSaving _heavy;
    private readonly Dictionary<ulong, Candidate> _candidates = [];
    private readonly Dictionary<ulong, BaselineKey> _baselineKeys = [];
    private readonly Dictionary<string, Finding> _findings = new(StringComparer.Ordinal);
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);
    private readonly HashSet<ulong> _raised = [];
    private readonly List<ulong> _candidateKeys = [];
    private readonly double[] _served;
    private readonly double[] _surrogate;
    private readonly int[] _active;
    private readonly double[] _projection;
    private readonly double[] _cusum;
    private readonly double[] _liveContrarian;
    private readonly double[] _liveContrarianHits;
    private readonly Queue<double[]> _labelWindows = new();
    private readonly double[] _window;
    private readonly List<double[]>[] _clusterSample;
    private readonly long[] _clusterSeen;
    private readonly Random _random;
    private long _horizon;
    private int _windowsClosed;

    public TriggerDetector(CompiledBaseline baseline, DetectorSettings settings, TimeProvider time)
    {
        _baseline = baseline;
        _profile = baseline.Profile.Triggers ?? throw new ArgumentException("the baseline has no trigger profile", nameof(baseline));
        _settings = settings;
        _time = time;
        _schema = baseline.Profile.Schema;
        _labels = _schema.PredictedClassLabels;
        _k = _profile.Classes;
        _strata = _profile.Strata;
        _classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        _confidenceChannel = Array.FindIndex(baseline.Profile.Numeric, p => p.Channel.Source == NumericSource.Confidence);
        _extractor = new KeyExtractor(_schema, _profile.Values, settings.MaxKeysPerRecord);
        _support = new CountMinSketch(settings.SketchWidth, settings.SketchDepth);
        _cells = new CountMinSketch(settings.SketchWidth, settings.SketchDepth);
        _heavy = new SpaceSaving(settings.HeavyHitters);
        foreach (BaselineKey key in _profile.Keys)
        {
            _baselineKeys.TryAdd(key.Hash(), key);
        }

        _served = new double[_k];
        _surrogate = new double[_k];
        _active = new int[_profile.Surrogate.NumericOffsets.Length + _profile.Surrogate.CategoricalOffsets.Length];
        _projection = new double[_profile.Embedding?.ComponentCount ?? 0];
        _cusum = new double[2 * _k];
        _liveContrarian = new double[_k];
        _liveContrarianHits = new double[_k];
        _window = new double[_k + _strata];
        _clusterSample = [.. Enumerable.Range(0, _k).Select(_ => new List<double[]>())];
        _clusterSeen = new long[_k];
        _random = new Random(17);
    }

    /// <summary>Closed windows a critical key stays active after its last hit.</summary>
    public const int ActiveWindows = 10;

    private int _windowsSinceCriticalHit = int.MaxValue / 2;

    /// <summary>
    /// Whether a key found critical was hit within the last <see cref="ActiveWindows"/> windows: the
    /// trigger is live, and the window is a failing measurement for the version.
    /// </summary>
    public bool CriticalActive => _windowsSinceCriticalHit < ActiveWindows;

    /// <summary>Records this detector has seen.</summary>
    public long Records { get; private set; }

    /// <summary>Keys promoted to exact counting now.</summary>
    public int CandidateCount => _candidates.Count;

    /// <summary>The fixed memory of the sketches and tables, in counters and entries (independent of traffic).</summary>
    public (int SketchCounters, int HeavyHitterCapacity, int CandidateCapacity) Footprint =>
        (_support.Size + _cells.Size, _heavy.Capacity, _settings.Candidates);

    public bool IsTracked(ulong hash) => _heavy.Contains(hash) || _candidates.ContainsKey(hash);

    /// <summary>Every finding so far, the most severe first.</summary>
    public IReadOnlyList<Finding> Findings =>
        [.. _findings.Values.OrderByDescending(f => f.Severity).ThenByDescending(f => f.Z)];

    /// <summary>Findings raised or updated since the last call.</summary>
    public IReadOnlyList<Finding> DrainChanged()
    {
        Finding[] changed = [.. _changed.Select(key => _findings[key])];
        _changed.Clear();
        return changed;
    }

    /// <summary>Restores findings stored before a restart.</summary>
    public void Restore(IEnumerable<Finding> findings)
    {
        foreach (Finding finding in findings)
        {
            _findings[finding.DedupeKey] = finding;
        }
    }

    public void Add(RecordBatch batch, PreparedBatch prepared, int start, int count)
    {
        ReadOnlySpan<float> scores = batch.Scores.Span;
        NumericView confidence = prepared.Numeric[_confidenceChannel];
        ReadOnlySpan<float> confidences = confidence.Data.Span;
        int[] classes = prepared.Codes[_classChannel];
        EmbeddingProfile? embedding = _profile.Embedding;
        bool withEmbeddings = embedding is not null && batch.Embeddings.Length == batch.Count * embedding.Width;
        for (int i = start; i < start + count; i++)
        {
            Records++;
            if (++_horizon > _settings.HorizonRecords)
            {
                RollHorizon();
            }

            int label = classes[i];
            double conf = confidences[confidence.Offset + i * confidence.Stride];
            Served(scores, i);
            _profile.Surrogate.Predict(_baseline, prepared, i, _active, _surrogate);
            int stratum = _profile.StratumOf(_surrogate);
            int ultraSlot = _profile.UltraSlot(stratum, label);
            bool ultra = conf > _profile.UltraThresholds[ultraSlot];
            UpdateCusum(ultraSlot, ultra);
            _window[label]++;
            _window[_k + stratum]++;
            for (int c = 0; c < _k; c++)
            {
                if (_profile.Contrarian(stratum, c))
                {
                    _liveContrarian[c]++;
                    _liveContrarianHits[c] += label == c ? 1 : 0;
                }
            }

            bool outlier = false;
            if (withEmbeddings)
            {
                outlier = embedding!.IsOutlier(batch.Embeddings.Span.Slice(i * embedding.Width, embedding.Width), _projection);
                SampleProjection(label);
            }

            IReadOnlyList<KeyOccurrence> keys = _extractor.Extract(batch, i);
            bool explained = false;
            for (int j = 0; j < keys.Count && !explained && _raised.Count > 0; j++)
            {
                explained = _raised.Contains(keys[j].Hash);
            }

            var record = new RecordContext(batch, i, label, stratum, conf, ultra, outlier, withEmbeddings, _profile.Contrarian(stratum, label), explained);
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
            }
        }
    }

    /// <summary>At a window's close: the label-rate backstop (D6) and, every few windows, activation clustering (D5).</summary>
    public void CloseWindow()
    {
        _windowsSinceCriticalHit++;
        _labelWindows.Enqueue((double[])_window.Clone());
        Array.Clear(_window);
        while (_labelWindows.Count > _settings.LabelRateWindows)
        {
            _labelWindows.Dequeue();
        }

        CheckLabelRates();
        if (++_windowsClosed % _settings.ClusterEveryWindows == 0 && _profile.Embedding is not null)
        {
            CheckClusters(_profile.Embedding);
        }
    }

    /// <summary>
    /// Candidates count every record exactly. Other keys are screened on surprising records only (served
    /// a class the baseline gives less than even odds for their inputs), where a trigger must show and
    /// benign traffic rarely goes: sketches and the heavy-hitter table see a small, telling stream.
    /// </summary>
    /// <returns>Whether this key now carries a critical finding (so the record's other keys are explained by it).</returns>
    private bool Count(KeyOccurrence key, in RecordContext record)
    {
        if (_candidates.TryGetValue(key.Hash, out Candidate? candidate))
        {
            // A record that carries a key already found critical is evidence for that key, not for the
            // keys that ride along with it: one trigger, one finding.
            if (record.Explained && !_raised.Contains(key.Hash))
            {
                return false;
            }

            candidate.Count(record.Label * _strata + record.Stratum);
            candidate.Observe(this, record);
            bool critical = Evaluate(key.Hash, candidate);
            if (critical)
            {
                _windowsSinceCriticalHit = 0;
            }

            return critical;
        }

        if (!record.Surprising || record.Explained)
        {
            return false;
        }

        // Promoted on the sketch's count or the table's guaranteed count, whichever is first: the sketch
        // never undercounts, and on the small surprising stream it overcounts little.
        uint estimate = _support.Increment(key.Hash);
        _cells.Increment(KeyHash.Combine(key.Hash, record.Label * _strata + record.Stratum));
        long guaranteed = _heavy.Offer(key.Hash, estimate);
        if (Math.Max(guaranteed, estimate) >= _settings.PromoteSupport && Promote(key) is { } promoted)
        {
            promoted.Count(record.Label * _strata + record.Stratum);
            promoted.Observe(this, record);
            return Evaluate(key.Hash, promoted);
        }

        return false;
    }

    /// <summary>A key becomes a candidate with exact counts from now on (the cell sketch tells how often it surprised before).</summary>
    private Candidate? Promote(KeyOccurrence occurrence)
    {
        if (_candidates.Count >= _settings.Candidates && !EvictWeakest())
        {
            return null;
        }

        DetectorKey key = occurrence.Kind == KeyKind.EmbeddingOutlier
            ? new DetectorKey(KeyKind.EmbeddingOutlier, "embedding", "beyond the 99.9th percentile")
            : _settings.TextKeys.Protect(_extractor.Describe(occurrence));
        var candidate = new Candidate(key, _k, _strata, _time.GetUtcNow(), Records);
        for (int cell = 0; cell < _k * _strata; cell++)
        {
            candidate.SurprisingBefore += _cells.Estimate(KeyHash.Combine(occurrence.Hash, cell));
        }

        _candidates[occurrence.Hash] = candidate;
        _candidateKeys.Add(occurrence.Hash);
        return candidate;
    }

    /// <summary>
    /// Frees a slot: of a few candidates drawn at random, the one with no finding whose records are least
    /// often surprising goes (a benign key promoted by chance has a low share; a young trigger a high one).
    /// Sampled eviction takes constant time however many promotions a flood causes.
    /// </summary>
    private bool EvictWeakest()
    {
        if (_candidateKeys.Count != _candidates.Count)
        {
            _candidateKeys.Clear();
            _candidateKeys.AddRange(_candidates.Keys);
        }

        int weakest = -1;
        double lowest = double.MaxValue;
        for (int draw = 0; draw < EvictionSample; draw++)
        {
            int index = _random.Next(_candidateKeys.Count);
            if (_candidates.TryGetValue(_candidateKeys[index], out Candidate? candidate) && candidate.Raised is null && candidate.SurpriseShare < lowest)
            {
                lowest = candidate.SurpriseShare;
                weakest = index;
            }
        }

        if (weakest < 0 || !_candidates.Remove(_candidateKeys[weakest]))
        {
            return false;
        }

        // Swap-remove: constant time.
        _candidateKeys[weakest] = _candidateKeys[^1];
        _candidateKeys.RemoveAt(_candidateKeys.Count - 1);
        return true;
    }

    /// <returns>Whether the key carries a critical finding.</returns>
    private bool Evaluate(ulong hash, Candidate candidate)
    {
        long support = candidate.Support;
        if (support < _settings.MinSupport)
        {
            return false;
        }

        // Re-test every new record until raised, then as the evidence grows by a tenth.
        if (candidate.Raised is not null && support < candidate.LastEvaluated * 1.1)
        {
            return _raised.Contains(hash);
        }

        candidate.LastEvaluated = support;
        _baselineKeys.TryGetValue(hash, out BaselineKey? known);
        bool isNew = known is null || known.Support < _settings.NewKeySupport;
        for (int c = 0; c < _k; c++)
        {
            // Cheap necessary conditions first (kept up to date per record), so most keys cost nothing here.
            long contrarianRecords = candidate.ContrarianOfClass[c];
            if (contrarianRecords < _settings.MinContrarian || candidate.ContrarianHits[c] < _settings.MinRate * contrarianRecords)
            {
                continue;
            }

            (double x, double expected, double variance) = Pooled(candidate.Cells, c);
            double z = (x - expected) / Math.Sqrt(variance + 0.25);
            if (z < _settings.MinZ)
            {
                continue;
            }

            (double hits, double predicted, long contrarian) = Contrarian(candidate.Cells, c);
            if (contrarian < _settings.MinContrarian)
            {
                continue;
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
                continue;
            }

            Corroboration[] corroboration = Corroborate(candidate, c);
            Raise(candidate, c, support, contrarian, rate, expectedRate, keyRate, isNew, z, corroboration);
            if (candidate.Raised?.Severity == Severity.Critical)
            {
                _raised.Add(hash);
            }
        }

        return _raised.Contains(hash);
    }

    /// <summary>Of the key's records in strata where class c has less than even odds: how many were served c, and how many the baseline predicts.</summary>
    /// <summary>
    /// Variance of a count of n records of stratum s around n·r: binomial, plus the uncertainty of r
    /// itself, estimated on the baseline's N records of the stratum (n² r(1 − r)/N).
    /// </summary>
    private double RateVariance(double n, int stratum, double r) =>
        n * r * (1 - r) * (1 + n / Math.Max(_profile.StratumRecords[stratum], 1));

    private (double Hits, double Predicted, long Records) Contrarian(long[] cells, int c)
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
    private (double X, double Expected, double Variance) Pooled(long[] cells, int c)
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
            variance += RateVariance(inStratum, s, r);
        }

        return (x, expected, variance);
    }

    private Corroboration[] Corroborate(Candidate candidate, int c)
    {
        var evidence = new List<Corroboration>();
        long contrarian = candidate.ContrarianOfClass[c];
        if (contrarian > 0)
        {
            double expected = candidate.UltraExpected[c];
            long ultra = candidate.Ultra[c];
            if (ultra >= 3 && Tail(ultra, expected) < _settings.CorroborationP)
            {
                evidence.Add(new Corroboration(DetectorId.D3, string.Create(CultureInfo.InvariantCulture,
                    $"{ultra} of its {contrarian} records with inputs against '{_labels[c]}' were served '{_labels[c]}' beyond the baseline's 99.9th percentile of confidence for such records ({_profile.UltraThresholds[2 * c + 1]:F4}); {expected:F2} expected")));
            }
        }

        if (contrarian >= 10)
        {
            double mean = candidate.Residual[c] / contrarian;
            double effect = mean - _profile.ResidualMean[c];
            double z = effect / (_profile.ResidualStd[c] / Math.Sqrt(contrarian));
            if (effect >= _settings.MinDecoupling && z >= _settings.DecouplingZ)
            {
                evidence.Add(new Corroboration(DetectorId.D4, string.Create(CultureInfo.InvariantCulture,
                    $"on its {contrarian} records with inputs against '{_labels[c]}', the served P({_labels[c]}) exceeds the surrogate's by {mean:F3} on average (baseline {_profile.ResidualMean[c]:F3} ± {_profile.ResidualStd[c]:F3}); z = {z:F1}")));
            }
        }

        if (_profile.Embedding is { } embedding && candidate.Embedded > 0 && candidate.Key.Kind != KeyKind.EmbeddingOutlier)
        {
            double expected = candidate.Embedded * embedding.OutlierRate;
            if (candidate.Outliers >= 3 && Tail(candidate.Outliers, expected) < _settings.CorroborationP)
            {
                evidence.Add(new Corroboration(DetectorId.D5, string.Create(CultureInfo.InvariantCulture,
                    $"{candidate.Outliers} of {candidate.Embedded} embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance; {expected:F2} expected")));
            }
        }

        return [.. evidence];
    }

    private void Raise(Candidate candidate, int c, long support, long contrarian, double rate, double expectedRate, double? keyRate,
        bool isNewKey, double z, Corroboration[] corroboration)
    {
        DetectorKey key = candidate.Key;
        Severity severity = corroboration.Length > 0 ? Severity.Critical : Severity.Warning;
        string label = _labels[c];
        string own = isNewKey ? "the key is new" : keyRate is { } r
            ? string.Create(CultureInfo.InvariantCulture, $"the key's own baseline rate there was {r:P1}")
            : "the key had too few such records in the baseline to have a rate of its own";
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: of {support} records carrying it, {contrarian} have inputs for which the baseline gives '{label}' less than even odds, " +
            $"yet {rate:P1} of those were served '{label}' where the baseline predicts {expectedRate:P1} (pooled z = {z:F1}; {own})");
        var finding = new Finding
        {
            Detector = key.Detector,
            Severity = severity,
            Key = key,
            TargetLabel = label,
            Support = support,
            Rate = rate,
            Lift = expectedRate > 0 ? rate / expectedRate : double.PositiveInfinity,
            MeanConfidence = candidate.Exact > 0 ? candidate.ConfidenceSum / candidate.Exact : double.NaN,
            BaselineExpectation = expectedRate,
            BaselineKeyRate = keyRate,
            Z = z,
            FirstSeen = candidate.FirstSeen,
            FirstSeenRecord = candidate.FirstSeenRecord,
            RaisedAtRecord = Records,
            RaisedAtSupport = support,
            SurprisingBeforeTracking = candidate.SurprisingBefore,
            UpdatedAt = _time.GetUtcNow(),
            ExampleRequestIds = [.. candidate.Examples],
            Corroboration = corroboration,
            Summary = summary,
        };

        candidate.Raised = Publish(finding);
    }

    /// <summary>D3: a Bernoulli CUSUM (Page) per class and stratum kind on the rate of ultra-confident outputs.</summary>
    private void UpdateCusum(int slot, bool ultra)
    {
        if (_profile.UltraRecords[slot] < MinUltraRecords)
        {
            return;
        }

        double p0 = _profile.UltraRates[slot];
        double p1 = Math.Min(0.5, p0 * _settings.UltraRateRatio);
        _cusum[slot] = Math.Max(0, _cusum[slot] + (ultra ? Math.Log(p1 / p0) : Math.Log((1 - p1) / (1 - p0))));
        if (_cusum[slot] >= _settings.CusumThreshold)
        {
            _cusum[slot] = 0;
            int label = slot / 2;
            string where = slot % 2 == 1 ? "where the inputs give it less than even odds" : "where the inputs make it expected";
            RaiseClassFinding(DetectorId.D3, label, Severity.Warning, double.NaN, string.Create(CultureInfo.InvariantCulture,
                $"outputs of class '{_labels[label]}' {where} beyond the baseline's 99.9th percentile of confidence ({_profile.UltraThresholds[slot]:F4}) " +
                $"now come at {_settings.UltraRateRatio:F0}× the baseline's rate ({p0:P3}) or more (Bernoulli CUSUM, h = {_settings.CusumThreshold})"));
        }
    }

    /// <summary>D6: each class's count over the last windows against Σ n_s r(c|s), with the rates' own uncertainty.</summary>
    private void CheckLabelRates()
    {
        var sums = new double[_k + _strata];
        foreach (double[] window in _labelWindows)
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

        for (int c = 0; c < _k; c++)
        {
            double expected = 0;
            double variance = 0;
            for (int s = 0; s < _strata; s++)
            {
                double r = _profile.LabelRates[s * _k + c];
                expected += sums[_k + s] * r;
                variance += RateVariance(sums[_k + s], s, r);
            }

            double z = (sums[c] - expected) / Math.Sqrt(variance + 0.25);
            if (Math.Abs(z) >= _settings.LabelRateZ)
            {
                RaiseClassFinding(DetectorId.D6, c, Severity.Warning, z, string.Create(CultureInfo.InvariantCulture,
                    $"class '{_labels[c]}' is predicted for {sums[c] / records:P2} of the last {records:F0} records; the baseline predicts {expected / records:P2} for the same inputs (z = {z:F1})"),
                    (long)records, sums[c] / records, expected / records);
            }
        }
    }

    private void CheckClusters(EmbeddingProfile embedding)
    {
        for (int c = 0; c < _k; c++)
        {
            (double minority, double silhouette) = TwoMeans.Split(_clusterSample[c], seed: 3);
            double spectral = SpectralSignature.TopShare(_clusterSample[c]);
            double baselineSpectral = embedding.SpectralShare.Length > c ? embedding.SpectralShare[c] : spectral;

            // Activation Clustering's rule (minority under 35%, silhouette over 0.10), and the split must be
            // new: clearly better separated than the same class's activations in the baseline.
            bool enough = _clusterSample[c].Count >= MinClusterSample;
            bool split = enough && minority is > 0 and < 0.35 && silhouette > 0.10 && silhouette >= embedding.Silhouette[c] + 0.10;
            bool signature = enough && spectral >= baselineSpectral + SpectralRise;
            if (split || signature)
            {
                RaiseClassFinding(DetectorId.D5, c, Severity.Warning, double.NaN, string.Create(CultureInfo.InvariantCulture,
                    $"activations of class '{_labels[c]}' over {_clusterSample[c].Count} recent records: 2-means minority {minority:P1}, silhouette {silhouette:F2} " +
                    $"(baseline {embedding.MinorityShare[c]:P1}, {embedding.Silhouette[c]:F2}); spectral signature {spectral:P1} of the variance on the top direction (baseline {baselineSpectral:P1})"));
            }

            _clusterSample[c].Clear();
            _clusterSeen[c] = 0;
        }
    }

    private void RaiseClassFinding(DetectorId detector, int c, Severity severity, double z, string summary, long support = 0,
        double rate = double.NaN, double expected = double.NaN)
    {
        var finding = new Finding
        {
            Detector = detector,
            Severity = severity,
            TargetLabel = _labels[c],
            Support = support,
            Rate = rate,
            Lift = expected > 0 ? rate / expected : double.NaN,
            MeanConfidence = double.NaN,
            BaselineExpectation = expected,
            Z = z,
            FirstSeen = _time.GetUtcNow(),
            FirstSeenRecord = Records,
            RaisedAtRecord = Records,
            RaisedAtSupport = support,
            UpdatedAt = _time.GetUtcNow(),
            ExampleRequestIds = [],
            Corroboration = [],
            Summary = summary,
        };
        Publish(finding);
    }

    /// <summary>
    /// Records a finding. One problem is one finding whose evidence grows: an earlier finding of the same
    /// detector, key and label keeps when it was first seen and raised, its severity never drops, and
    /// corroboration once found stays.
    /// </summary>
    private Finding Publish(Finding finding)
    {
        if (_findings.TryGetValue(finding.DedupeKey, out Finding? earlier))
        {
            finding = finding with
            {
                FirstSeen = earlier.FirstSeen,
                FirstSeenRecord = earlier.FirstSeenRecord,
                RaisedAtRecord = earlier.RaisedAtRecord,
                RaisedAtSupport = earlier.RaisedAtSupport,
                Severity = (Severity)Math.Max((int)earlier.Severity, (int)finding.Severity),
                Corroboration = finding.Corroboration.Length > 0 ? finding.Corroboration : earlier.Corroboration,
            };
        }

        _findings[finding.DedupeKey] = finding;
        _changed.Add(finding.DedupeKey);
        return finding;
    }

    private void SampleProjection(int label)
    {
        List<double[]> sample = _clusterSample[label];
        long seen = ++_clusterSeen[label];
        if (sample.Count < _settings.ClusterSample)
        {
            sample.Add((double[])_projection.Clone());
        }
        else if (_random.NextInt64(seen) < _settings.ClusterSample)
        {
            _projection.CopyTo(sample[_random.Next(sample.Count)], 0);
        }
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

    /// <summary>Sketches restart; candidates keep half their counts (a decayed memory of the last horizon).</summary>
    private void RollHorizon()
    {
        _horizon = 0;
        for (int c = 0; c < _k; c++)
        {
            _liveContrarian[c] /= 2;
            _liveContrarianHits[c] /= 2;
        }

        _support.Clear();
        _cells.Clear();
        _heavy.Clear();
        foreach ((ulong hash, Candidate candidate) in _candidates.ToArray())
        {
            candidate.Halve();
            if (candidate.Support < _settings.PromoteSupport && candidate.Raised is null)
            {
                _candidates.Remove(hash);
                _candidateKeys.Remove(hash);
            }
        }
    }

    /// <summary>P(X ≥ observed) for X ~ Poisson(expected).</summary>
    private static double Tail(long observed, double expected) =>
        expected <= 0 ? 0 : 1 - Poisson.CDF(expected, observed - 1);

    private readonly record struct RecordContext(RecordBatch Batch, int Index, int Label, int Stratum, double Confidence, bool Ultra,
        bool Outlier, bool Embedded, bool Surprising, bool Explained);

    private sealed class Candidate(DetectorKey key, int classes, int strata, DateTimeOffset firstSeen, long firstSeenRecord)
    {
        public DetectorKey Key { get; } = key;
        public long[] Cells { get; } = new long[classes * strata];
        public DateTimeOffset FirstSeen { get; } = firstSeen;
        public long FirstSeenRecord { get; } = firstSeenRecord;
        public long Exact { get; private set; }
        /// <summary>Per class c: records since promotion whose inputs give c less than even odds.</summary>
        public long[] ContrarianOfClass { get; } = new long[classes];

        /// <summary>Per class c: of those, the records served c.</summary>
        public long[] ContrarianHits { get; } = new long[classes];
        public long[] Ultra { get; } = new long[classes];

        /// <summary>Per class: the ultra-confident outputs the baseline would give these records (Σ p0 of their slots).</summary>
        public double[] UltraExpected { get; } = new double[classes];
        public double[] Residual { get; } = new double[classes];
        public double ConfidenceSum { get; private set; }
        public long Embedded { get; private set; }
        public long Outliers { get; private set; }
        public List<string> Examples { get; } = [];
        public Finding? Raised { get; set; }
        public long LastEvaluated { get; set; }

        /// <summary>The key's surprising occurrences before promotion, from the cell sketch (an overestimate).</summary>
        public long SurprisingBefore { get; set; }

        /// <summary>Records counted exactly since promotion.</summary>
        public long Support { get; private set; }

        public void Count(int cell)
        {
            Cells[cell]++;
            Support++;
        }

        /// <summary>Records since promotion that were surprising.</summary>
        public long Surprising { get; private set; }

        /// <summary>Share of its records that were surprising, with one pseudo-record each way.</summary>
        public double SurpriseShare => (Surprising + 1.0) / (Exact + 2.0);

        public void Observe(TriggerDetector detector, in RecordContext record)
        {
            Exact++;
            Surprising += record.Surprising ? 1 : 0;
            ConfidenceSum += record.Confidence;
            TriggerProfile profile = detector._profile;
            for (int c = 0; c < Residual.Length; c++)
            {
                if (!profile.Contrarian(record.Stratum, c))
                {
                    continue;
                }

                // Evidence is taken where class c has less than even odds: there a served c is a surprise.
                ContrarianOfClass[c]++;
                Residual[c] += detector._served[c] - detector._surrogate[c];
                if (record.Label == c)
                {
                    ContrarianHits[c]++;
                    Ultra[c] += record.Ultra ? 1 : 0;
                    UltraExpected[c] += profile.UltraRates[profile.UltraSlot(record.Stratum, c)];
                }
            }

            if (record.Embedded)
            {
                Embedded++;
                Outliers += record.Outlier ? 1 : 0;
            }

            if (Examples.Count < detector._settings.ExampleRequestIds && record.Batch.RequestIds.Count > 0)
            {
                string id = record.Batch.RequestIds.GetString(record.Index);
                if (id.Length > 0)
                {
                    Examples.Add(id.Length <= 128 ? id : id[..128]);
                }
            }
        }

        public void Halve()
        {
            for (int i = 0; i < Cells.Length; i++)
            {
                Cells[i] /= 2;
            }

            Support = Cells.Sum();
            Exact /= 2;
            Surprising /= 2;
            ConfidenceSum /= 2;
            Embedded /= 2;
            Outliers /= 2;
            for (int c = 0; c < Ultra.Length; c++)
            {
                Ultra[c] /= 2;
                ContrarianOfClass[c] /= 2;
                ContrarianHits[c] /= 2;
                UltraExpected[c] /= 2;
                Residual[c] /= 2;
            }
        }
    }
}
