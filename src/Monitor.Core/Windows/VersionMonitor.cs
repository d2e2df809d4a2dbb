using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;

namespace Monitor.Core.Windows;

/// <summary>
/// The tumbling windows of one model version against its model's baseline in force. Single-threaded:
/// its owner (one pipeline per model) is its only writer.
/// </summary>
public sealed class VersionMonitor
{
    private readonly TimeProvider _time;
    private readonly DetectorSettings? _detectorSettings;
    private readonly int _historyLimit;
    private readonly LinkedList<WindowResult> _history = new();
    private CompiledBaseline? _baseline;
    private WindowAccumulator? _window;
    private WindowEvaluator? _evaluator;
    private double[] _values = [];
    private double[] _pValues = [];
    private double[] _thresholds = [];
    private DateTimeOffset _openedAt;

    /// <summary>When the open window opened on the monotonic clock: its age survives wall-clock jumps.</summary>
    private long _openedStamp;
    private TriggerDetector? _detector;
    private RegressionDetector? _regression;
    private EmbeddingReference _embedding = EmbeddingReference.Baseline;
    private readonly List<Finding> _restoredFindings = [];

    /// <summary>The detectors' state stored before a restart, restored when the detectors start on its baseline.</summary>
    private DetectorState? _restoredState;

    /// <param name="detectors">Settings of the trigger detectors; null runs the drift statistics alone.</param>
    /// <param name="detectorState">The detectors' state stored before a restart; restored if it was taken on the baseline they start on.</param>
    public VersionMonitor(string model, string version, TimeProvider time, int historyLimit,
        ulong nextWindowIndex = 0, IEnumerable<WindowResult>? history = null, DetectorSettings? detectors = null,
        IEnumerable<Finding>? findings = null, DetectorState? detectorState = null)
    {
        _detectorSettings = detectors;
        _restoredState = detectorState;
        _restoredFindings.AddRange(findings ?? []);
        Model = model;
        Version = version;
        _time = time;
        _historyLimit = Math.Max(historyLimit, 1);
        NextWindowIndex = nextWindowIndex;
        foreach (WindowResult window in history ?? [])
        {
            Remember(window);
        }

        _openedAt = time.GetUtcNow();
        _openedStamp = _time.GetTimestamp();
    }

    public string Model { get; }
    public string Version { get; }
    public CompiledBaseline? Baseline => _baseline;
    public ulong NextWindowIndex { get; private set; }

    /// <summary>Closed windows, newest first, at most the history limit.</summary>
    public IReadOnlyCollection<WindowResult> History => _history;

    /// <summary>The trigger detectors, when the baseline has their tables and they are on.</summary>
    public TriggerDetector? Detector => _detector;

    /// <summary>What D5 judges this version's embeddings against (the baseline's profile unless told otherwise).</summary>
    public EmbeddingReference Embedding => _embedding;

    /// <summary>The regression outputs' key tests, when the baseline has their tables and the detectors are on.</summary>
    public RegressionDetector? Regression => _regression;

    /// <summary>Every finding of the trigger detectors so far (kept across baselines and restarts).</summary>
    public IReadOnlyList<Finding> Findings => _detector?.Findings ?? _regression?.Findings ?? _restoredFindings;

    /// <summary>The trigger detectors' findings raised or updated since the last call (a classifier's or a regression output's).</summary>
    public IReadOnlyList<Finding> DrainFindings() => _detector?.DrainChanged() ?? _regression?.DrainChanged() ?? [];

    /// <summary>The keys of findings below critical the detector gave up since the last call (its findings are bounded).</summary>
    public IReadOnlyList<string> DrainDroppedFindings() => _detector?.DrainDropped() ?? _regression?.DrainDropped() ?? [];

    /// <summary>Whether a key found critical was hit within the detectors' active span of windows.</summary>
    public bool CriticalActive => _detector?.CriticalActive ?? _regression?.CriticalActive ?? false;

    /// <summary>How full the detectors' candidate table is and the keys it turned away; null when none run.</summary>
    public CandidateLoad? CandidateLoad => _detector?.CandidateLoad ?? _regression?.CandidateLoad;

    /// <summary>The detectors' evidence for a checkpoint; null when none run.</summary>
    public DetectorState? ExportDetectors() => _detector?.Export() ?? _regression?.Export();

    /// <summary>Records in the open window.</summary>
    public long OpenRecords => _window?.Records ?? 0;

    /// <summary>
    /// Judges this version against a (new) baseline from now on. The open window, measured against the
    /// old baseline, is discarded; its record count is returned.
    /// </summary>
    /// <param name="embedding">What D5 judges the version's embeddings against under this baseline; null: the baseline's profile.</param>
    public long UseBaseline(CompiledBaseline baseline, EmbeddingReference? embedding = null)
    {
        if (ReferenceEquals(baseline, _baseline))
        {
            UseEmbedding(embedding ?? EmbeddingReference.Baseline);
            return 0;
        }

        _embedding = embedding ?? EmbeddingReference.Baseline;

        long discarded = OpenRecords;
        _baseline = baseline;
        _window = new WindowAccumulator(baseline);
        _evaluator = new WindowEvaluator(baseline);
        _values = new double[baseline.SlotCount];
        _pValues = new double[baseline.SlotCount];
        _thresholds = baseline.FlatThresholds();
        _openedAt = _time.GetUtcNow();
        _openedStamp = _time.GetTimestamp();
        IReadOnlyList<Finding> earlier = Findings;
        _detector = baseline.Profile.Triggers is not null && _detectorSettings is not null
            ? new TriggerDetector(baseline, _detectorSettings, _time, _embedding)
            : null;
        _detector?.Restore(earlier);
        if (_detector is not null && _restoredState is { } state)
        {
            _detector.Restore(state);
        }

        _regression = _detector is null && baseline.Profile.Regression is not null && _detectorSettings is not null
            ? new RegressionDetector(baseline, _detectorSettings, _time)
            : null;
        _regression?.Restore(earlier);
        if (_regression is not null && _restoredState is { } regressionState)
        {
            _regression.Restore(regressionState);
        }

        _restoredState = null;
        if (_detector is null && _regression is null)
        {
            _restoredFindings.Clear();
            _restoredFindings.AddRange(earlier);
        }

        return discarded;
    }

    /// <summary>
    /// Judges the version's embeddings against <paramref name="embedding"/> from now on, on the same baseline: the detectors
    /// keep their findings and evidence, except what D5 counted against the old geometry and what D3 counted against other
    /// confidence percentiles, which start afresh.
    /// </summary>
    public void UseEmbedding(EmbeddingReference embedding)
    {
        if (embedding.Tag == _embedding.Tag
            && (_baseline?.Profile.Triggers is not { } triggers || embedding.ConfidenceTag(triggers) == _embedding.ConfidenceTag(triggers)))
        {
            _embedding = embedding;
            return;
        }

        _embedding = embedding;
        if (_detector is { } old && _baseline is { } baseline && _detectorSettings is { } settings)
        {
            DetectorState state = old.Export();
            _detector = new TriggerDetector(baseline, settings, _time, embedding);
            _detector.Restore(old.Findings);
            _detector.Restore(state);
        }
    }

    /// <summary>Adds a batch and its prepared channels, closing windows as they fill; closed windows are appended to <paramref name="closed"/>.</summary>
    public void Add(RecordBatch records, PreparedBatch batch, List<WindowResult> closed)
    {
        if (_window is null || _baseline is null)
        {
            return;
        }

        int size = _baseline.Profile.WindowRecords;
        if (_window.Records == 0 && batch.Count > 0)
        {
            _openedAt = _time.GetUtcNow();
            _openedStamp = _time.GetTimestamp();
        }

        int start = 0;
        while (start < batch.Count)
        {
            int take = (int)Math.Min(batch.Count - start, size - _window.Records);
            _window.Add(batch, start, take);
            _detector?.Add(records, batch, start, take);
            _regression?.Add(records, batch, start, take);
            start += take;
            if (_window.Records >= size)
            {
                _detector?.CloseWindow();
                _regression?.CloseWindow();
                WindowResult result = Evaluate(complete: true, closedAt: _time.GetUtcNow());
                NextWindowIndex++;
                Remember(result);
                closed.Add(result);
                _window.Clear();
                _openedAt = _time.GetUtcNow();
                _openedStamp = _time.GetTimestamp();
            }
        }
    }

    /// <summary>
    /// Closes the open window if it has records and has been open for <paramref name="maxAge"/> or longer:
    /// a window closed by time before it filled is incomplete, so its statistics are shown but not judged
    /// (the thresholds are calibrated for full windows). Returns whether it closed.
    /// </summary>
    public bool CloseIfOlderThan(TimeSpan maxAge, List<WindowResult> closed)
    {
        DateTimeOffset now = _time.GetUtcNow();
        if (_window is null || _window.Records == 0 || _time.GetElapsedTime(_openedStamp) < maxAge)
        {
            return false;
        }

        _detector?.CloseWindow();
        _regression?.CloseWindow();
        WindowResult result = Evaluate(complete: false, closedAt: now);
        NextWindowIndex++;
        Remember(result);
        closed.Add(result);
        _window.Clear();
        _openedAt = now;
        _openedStamp = _time.GetTimestamp();
        return true;
    }

    /// <summary>The open window so far (statistics shown, nothing judged until it is full).</summary>
    public WindowResult? Current() => _window is null ? null : Evaluate(complete: false, closedAt: null);

    private WindowResult Evaluate(bool complete, DateTimeOffset? closedAt)
    {
        CompiledBaseline baseline = _baseline!;
        WindowAccumulator window = _window!;
        _evaluator!.Evaluate(window, _values, _pValues);
        BaselineProfile profile = baseline.Profile;
        var channels = new ChannelResult[profile.Numeric.Length + profile.Categorical.Length];
        for (int c = 0; c < profile.Numeric.Length; c++)
        {
            NumericProfile p = profile.Numeric[c];
            int slot = baseline.NumericSlots[c];
            int count = p.Thresholds.Length;
            channels[c] = new ChannelResult
            {
                Name = p.Channel.Name,
                Kind = p.Channel.Kind,
                Count = window.MomentsOf(c).Count,
                Missing = window.NumericMissing[c],
                Mean = window.MomentsOf(c).Mean,
                Std = window.MomentsOf(c).StandardDeviation,
                BaselineMean = p.Mean,
                BaselineStd = p.Std,
                Counts = (long[])window.NumericCounts[c].Clone(),
                Statistics = p.Channel.Statistics,
                Values = _values.AsSpan(slot, count).ToArray(),
                Thresholds = _thresholds.AsSpan(slot, count).ToArray(),
                PValues = _pValues.AsSpan(slot, count).ToArray(),
                Exceeded = Exceeded(slot, count, complete),
            };
        }

        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            CategoricalProfile p = profile.Categorical[c];
            int slot = baseline.CategoricalSlots[c];
            int count = p.Thresholds.Length;
            long[] counts = (long[])window.CategoricalCounts[c].Clone();
            channels[profile.Numeric.Length + c] = new ChannelResult
            {
                Name = p.Channel.Name,
                Kind = p.Channel.Kind,
                Count = counts.Sum(),
                Missing = window.CategoricalMissing[c],
                Mean = double.NaN,
                Std = double.NaN,
                BaselineMean = double.NaN,
                BaselineStd = double.NaN,
                Counts = counts,
                Statistics = p.Channel.Statistics,
                Values = _values.AsSpan(slot, count).ToArray(),
                Thresholds = _thresholds.AsSpan(slot, count).ToArray(),
                PValues = _pValues.AsSpan(slot, count).ToArray(),
                Exceeded = Exceeded(slot, count, complete),
            };
        }

        return new WindowResult
        {
            Index = NextWindowIndex,
            BaselineId = profile.Id,
            OpenedAt = _openedAt,
            ClosedAt = closedAt,
            Records = window.Records,
            Complete = complete,
            Channels = channels,
        };
    }

    private bool[] Exceeded(int slot, int count, bool complete)
    {
        var exceeded = new bool[count];
        if (complete)
        {
            for (int s = 0; s < count; s++)
            {
                exceeded[s] = _values[slot + s] > _thresholds[slot + s];
            }
        }

        return exceeded;
    }

    private void Remember(WindowResult window)
    {
        _history.AddFirst(window);
        while (_history.Count > _historyLimit)
        {
            _history.RemoveLast();
        }
    }
}
