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
    private readonly double[] _served;
    private readonly double[] _surrogate;
    private readonly int[] _active;
    private readonly double[] _projection;
    private readonly double[] _cusum;
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
        _cusum = new double[_k];
        _window = new double[3 * _k];
        _clusterSample = [.. Enumerable.Range(0, _k).Select(_ => new List<double[]>())];
        _clusterSeen = new long[_k];
        _random = new Random(17);
    }

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
            bool ultra = conf > _profile.UltraThresholds[label];
            UpdateCusum(label, ultra);
            for (int c = 0; c < _k; c++)
            {
                double r = _profile.LabelRates[stratum * _k + c];
                _window[c] += label == c ? 1 : 0;
                _window[_k + c] += r;
                _window[2 * _k + c] += r * (1 - r);
            }

            bool outlier = false;
            if (withEmbeddings)
            {
                double d2 = embedding!.Distance(batch.Embeddings.Span.Slice(i * embedding.Width, embedding.Width), _projection);
                outlier = d2 > embedding.OutlierThreshold;
                SampleProjection(label);
            }

            var record = new RecordContext(batch, i, label, stratum, conf, ultra, outlier, withEmbeddings);
            foreach (KeyOccurrence key in _extractor.Extract(batch, i))
            {
                Count(key, record);
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

    private void Count(KeyOccurrence key, in RecordContext record)
    {
        uint estimate = _support.Increment(key.Hash);
        _cells.Increment(KeyHash.Combine(key.Hash, record.Label * _strata + record.Stratum));
        if (_candidates.TryGetValue(key.Hash, out Candidate? candidate))
        {
            candidate.Cells[record.Label * _strata + record.Stratum]++;
            candidate.Observe(this, record);
            Evaluate(key.Hash, candidate);
            return;
        }

        long guaranteed = _heavy.Offer(key.Hash, estimate);
        if (guaranteed >= _settings.PromoteSupport)
        {
            candidate = Promote(key);
            if (candidate is not null)
            {
                candidate.Observe(this, record);
                Evaluate(key.Hash, candidate);
            }
        }
    }

    /// <summary>A key becomes a candidate with exact counts, seeded from the cell sketch for its earlier records.</summary>
    private Candidate? Promote(KeyOccurrence occurrence)
    {
        if (_candidates.Count >= _settings.Candidates && !EvictWeakest())
        {
            return null;
        }

        var candidate = new Candidate(_extractor.Describe(occurrence), _k, _strata, _time.GetUtcNow(), Records);
        for (int cell = 0; cell < _k * _strata; cell++)
        {
            candidate.Cells[cell] = _cells.Estimate(KeyHash.Combine(occurrence.Hash, cell));
        }

        _candidates[occurrence.Hash] = candidate;
        return candidate;
    }

    private bool EvictWeakest()
    {
        ulong weakest = 0;
        long fewest = long.MaxValue;
        foreach ((ulong hash, Candidate candidate) in _candidates)
        {
            long support = candidate.Support;
            if (candidate.Raised is null && support < fewest)
            {
                fewest = support;
                weakest = hash;
            }
        }

        return fewest != long.MaxValue && _candidates.Remove(weakest);
    }

    private void Evaluate(ulong hash, Candidate candidate)
    {
        long support = candidate.Support;
        if (support < _settings.MinSupport)
        {
            return;
        }

        // Re-test every new record until raised, then as the evidence grows by a tenth.
        if (candidate.Raised is not null && support < candidate.LastEvaluated * 1.1)
        {
            return;
        }

        candidate.LastEvaluated = support;
        _baselineKeys.TryGetValue(hash, out BaselineKey? known);
        for (int c = 0; c < _k; c++)
        {
            (double x, double expected, double variance) = Pooled(candidate.Cells, c);
            double z = (x - expected) / Math.Sqrt(variance + 0.25);
            double rate = x / support;
            double? keyRate = known is { Support: > 0 } ? known.LabelCounts[c] / (double)known.Support : null;
            bool isNew = known is null || known.Support < _settings.NewKeySupport;
            bool risen = isNew || rate - keyRate!.Value >= _settings.MinRateIncrease;
            if (z < _settings.MinZ || rate < _settings.MinRate || !risen)
            {
                continue;
            }

            string[] corroboration = Corroborate(candidate, c);
            Raise(candidate, c, support, rate, expected / support, isNew ? null : keyRate, z, corroboration);
        }
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
            variance += inStratum * r * (1 - r);
        }

        return (x, expected, variance);
    }

    private string[] Corroborate(Candidate candidate, int c)
    {
        var evidence = new List<string>();
        long ofClass = candidate.ExactOfClass[c];
        if (ofClass > 0)
        {
            double expected = ofClass * _profile.UltraRates[c];
            long ultra = candidate.Ultra[c];
            if (ultra >= 3 && Tail(ultra, expected) < _settings.CorroborationP)
            {
                evidence.Add(string.Create(CultureInfo.InvariantCulture,
                    $"D3: {ultra} of {ofClass} '{_labels[c]}' outputs beyond the baseline's 99.9th percentile of confidence ({_profile.UltraThresholds[c]:F4}); {expected:F2} expected"));
            }
        }

        if (candidate.Exact >= 10)
        {
            double mean = candidate.Residual[c] / candidate.Exact;
            double z = (mean - _profile.ResidualMean[c]) / (_profile.ResidualStd[c] / Math.Sqrt(candidate.Exact));
            if (z >= _settings.DecouplingZ)
            {
                evidence.Add(string.Create(CultureInfo.InvariantCulture,
                    $"D4: the served P({_labels[c]}) exceeds the surrogate's by {mean:F3} on average over {candidate.Exact} records (baseline {_profile.ResidualMean[c]:F3} ± {_profile.ResidualStd[c]:F3}); z = {z:F1}"));
            }
        }

        if (_profile.Embedding is { } embedding && candidate.Embedded > 0 && candidate.Key.Kind != KeyKind.EmbeddingOutlier)
        {
            double expected = candidate.Embedded * embedding.OutlierRate;
            if (candidate.Outliers >= 3 && Tail(candidate.Outliers, expected) < _settings.CorroborationP)
            {
                evidence.Add(string.Create(CultureInfo.InvariantCulture,
                    $"D5: {candidate.Outliers} of {candidate.Embedded} embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance; {expected:F2} expected"));
            }
        }

        return [.. evidence];
    }

    private void Raise(Candidate candidate, int c, long support, double rate, double expectedRate, double? keyRate, double z, string[] corroboration)
    {
        DetectorKey key = candidate.Key;
        Severity severity = corroboration.Length > 0 ? Severity.Critical : Severity.Warning;
        string label = _labels[c];
        string own = keyRate is { } r ? string.Create(CultureInfo.InvariantCulture, $"the key's own baseline rate was {r:P1}") : "the key is new";
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: {rate:P1} of {support} records are '{label}' where the baseline predicts {expectedRate:P1} for the same inputs (z = {z:F1}; {own})");
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
            UpdatedAt = _time.GetUtcNow(),
            ExampleRequestIds = [.. candidate.Examples],
            Corroboration = corroboration,
            Summary = summary,
        };

        if (_findings.TryGetValue(finding.DedupeKey, out Finding? earlier))
        {
            finding = finding with
            {
                RaisedAtRecord = earlier.RaisedAtRecord,
                RaisedAtSupport = earlier.RaisedAtSupport,
                FirstSeen = earlier.FirstSeen,
                FirstSeenRecord = earlier.FirstSeenRecord,
                Severity = (Severity)Math.Max((int)earlier.Severity, (int)severity),
                Corroboration = corroboration.Length > 0 ? corroboration : earlier.Corroboration,
            };
        }

        candidate.Raised = finding;
        _findings[finding.DedupeKey] = finding;
        _changed.Add(finding.DedupeKey);
    }

    private void UpdateCusum(int label, bool ultra)
    {
        double p0 = _profile.UltraRates[label];
        double p1 = Math.Min(0.5, p0 * _settings.UltraRateRatio);
        _cusum[label] = Math.Max(0, _cusum[label] + (ultra ? Math.Log(p1 / p0) : Math.Log((1 - p1) / (1 - p0))));
        if (_cusum[label] >= _settings.CusumThreshold)
        {
            _cusum[label] = 0;
            RaiseClassFinding("D3", label, Severity.Warning, double.NaN, string.Create(CultureInfo.InvariantCulture,
                $"outputs of class '{_labels[label]}' beyond the baseline's 99.9th percentile of confidence ({_profile.UltraThresholds[label]:F4}) " +
                $"now come at {_settings.UltraRateRatio:F0}× the baseline's rate ({p0:P3}) or more (Bernoulli CUSUM over h = {_settings.CusumThreshold})"));
        }
    }

    private void CheckLabelRates()
    {
        var sums = new double[3 * _k];
        foreach (double[] window in _labelWindows)
        {
            for (int j = 0; j < sums.Length; j++)
            {
                sums[j] += window[j];
            }
        }

        for (int c = 0; c < _k; c++)
        {
            double z = (sums[c] - sums[_k + c]) / Math.Sqrt(sums[2 * _k + c] + 0.25);
            if (Math.Abs(z) >= _settings.LabelRateZ)
            {
                double records = _labelWindows.Sum(w => w.AsSpan(0, _k).ToArray().Sum());
                RaiseClassFinding("D6", c, Severity.Warning, z, string.Create(CultureInfo.InvariantCulture,
                    $"class '{_labels[c]}' is predicted for {sums[c] / records:P2} of the last {records:F0} records; the baseline predicts {sums[_k + c] / records:P2} for the same inputs (z = {z:F1})"),
                    (long)records, sums[c] / records, sums[_k + c] / records);
            }
        }
    }

    private void CheckClusters(EmbeddingProfile embedding)
    {
        for (int c = 0; c < _k; c++)
        {
            (double minority, double silhouette) = TwoMeans.Split(_clusterSample[c], seed: 3);
            bool suspicious = minority is > 0 and < 0.35 && silhouette > 0.10;
            bool baselineWas = embedding.MinorityShare[c] is > 0 and < 0.35 && embedding.Silhouette[c] > 0.10;
            if (suspicious && (!baselineWas || silhouette > embedding.Silhouette[c] + 0.10))
            {
                RaiseClassFinding("D5", c, Severity.Warning, double.NaN, string.Create(CultureInfo.InvariantCulture,
                    $"activations of class '{_labels[c]}' split into two clusters: minority {minority:P1}, silhouette {silhouette:F2} " +
                    $"(baseline {embedding.MinorityShare[c]:P1}, {embedding.Silhouette[c]:F2}) over {_clusterSample[c].Count} recent records"));
            }

            _clusterSample[c].Clear();
            _clusterSeen[c] = 0;
        }
    }

    private void RaiseClassFinding(string detector, int c, Severity severity, double z, string summary, long support = 0,
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
        if (_findings.TryGetValue(finding.DedupeKey, out Finding? earlier))
        {
            finding = finding with
            {
                FirstSeen = earlier.FirstSeen,
                FirstSeenRecord = earlier.FirstSeenRecord,
                RaisedAtRecord = earlier.RaisedAtRecord,
                RaisedAtSupport = earlier.RaisedAtSupport,
            };
        }

        _findings[finding.DedupeKey] = finding;
        _changed.Add(finding.DedupeKey);
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
        _support.Clear();
        _cells.Clear();
        _heavy.Clear();
        foreach ((ulong hash, Candidate candidate) in _candidates.ToArray())
        {
            candidate.Halve();
            if (candidate.Support < _settings.PromoteSupport && candidate.Raised is null)
            {
                _candidates.Remove(hash);
            }
        }
    }

    /// <summary>P(X ≥ observed) for X ~ Poisson(expected).</summary>
    private static double Tail(long observed, double expected) =>
        expected <= 0 ? 0 : 1 - Poisson.CDF(expected, observed - 1);

    private readonly record struct RecordContext(RecordBatch Batch, int Index, int Label, int Stratum, double Confidence, bool Ultra,
        bool Outlier, bool Embedded);

    private sealed class Candidate(DetectorKey key, int classes, int strata, DateTimeOffset firstSeen, long firstSeenRecord)
    {
        public DetectorKey Key { get; } = key;
        public long[] Cells { get; } = new long[classes * strata];
        public DateTimeOffset FirstSeen { get; } = firstSeen;
        public long FirstSeenRecord { get; } = firstSeenRecord;
        public long Exact { get; private set; }
        public long[] ExactOfClass { get; } = new long[classes];
        public long[] Ultra { get; } = new long[classes];
        public double[] Residual { get; } = new double[classes];
        public double ConfidenceSum { get; private set; }
        public long Embedded { get; private set; }
        public long Outliers { get; private set; }
        public List<string> Examples { get; } = [];
        public Finding? Raised { get; set; }
        public long LastEvaluated { get; set; }

        public long Support => Cells.Sum();

        public void Observe(TriggerDetector detector, in RecordContext record)
        {
            Exact++;
            ExactOfClass[record.Label]++;
            ConfidenceSum += record.Confidence;
            if (record.Ultra)
            {
                Ultra[record.Label]++;
            }

            for (int c = 0; c < Residual.Length; c++)
            {
                Residual[c] += detector._served[c] - detector._surrogate[c];
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

            Exact /= 2;
            ConfidenceSum /= 2;
            Embedded /= 2;
            Outliers /= 2;
            for (int c = 0; c < Ultra.Length; c++)
            {
                Ultra[c] /= 2;
                ExactOfClass[c] /= 2;
                Residual[c] /= 2;
            }
        }
    }
}
