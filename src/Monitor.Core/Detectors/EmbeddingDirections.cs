using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// D5's direction test: the embedding-space trigger, activations shifted along one fixed direction with no input key. Its
/// records become outliers, but too few to show among the baseline's own; pointed one way, they pile into one cell of a table
/// of directions while the baseline's outliers spread. Leader clustering with a fixed capacity
/// (<see cref="DetectorSettings.DirectionCells"/>):
/// <list type="bullet">
/// <item>An outlier's direction is its unit whitened projection with the reconstruction error as one more coordinate
/// (<see cref="EmbeddingProfile.Direction"/>). It falls in a cell when its cosine with the cell's centre reaches
/// <see cref="DetectorSettings.DirectionCosine"/>; an outlier in no cell opens one centred on itself (the leader, left out of
/// the cell's test, as a key's promoting record is), replacing the cell with the least evidence when the table is full.</item>
/// <item>A cell's trials are distinct inputs, as a key's are (<see cref="RememberedInputs"/>, up to
/// <see cref="DetectorSettings.RememberedInputs"/> a cell, the leader's among them): an outlier that falls in the cell and repeats an
/// input the cell already counted is a repeat, counted apart and in no test, so one record replayed is one trial. It still counts as a
/// miss in the cells it does not fall in (which only lowers their evidence).</item>
/// <item>The null: a live outlier falls in a cell with probability at most p₀ = min(½, t · (m + 1) / (n + 1)), m of the n tail
/// directions of the baseline (beyond its 95th percentile of either distance) within the cell, t = <see cref="DetectorSettings.DirectionTolerance"/>.
/// Every outlier after the cell opened is a trial (but a repeat); the e-value mixes the likelihood ratios of the <see cref="Alternatives"/> and the
/// null itself (as <see cref="KeyOutputTest"/> does), so P(E ever reaches 1/a) ≤ a. a = α / cells (<see cref="DetectorSettings.KeyTestAlpha"/>).
/// A cell replaced and opened again starts a new test, which the bound does not cover: the measured rate is in docs/detectors.md.</item>
/// <item>A crossing (with at least <see cref="MinHits"/> records) is an observation (Info) naming the cell, "direction #n": the
/// embedding is the model's own representation, and clean records of an extreme output pile up along their own directions more than
/// the baseline's tail shows (measured: a few such cells per million clean records, docs/detectors.md).</item>
/// <item>A warning when tied to the output (critical with <see cref="DetectorSettings.DirectionCritical"/>): among the cell's records,
/// tail hits for one class c (served c beyond their stratum's tail threshold, <see cref="TailProfile"/>) far beyond p₀ = min(½, t ·
/// max(the stratum's rate, the rate among the baseline's tail directions within the cell, smoothed towards their overall rate)), by a
/// second e-process with a = α / (cells × classes), whether or not the cell's share crossed its own bar (a trigger in a direction the
/// baseline's tail already holds adds too little to that share). Up to <see cref="MaxPinned"/> tied cells (half the table) are never replaced;
/// while more are tied, the table is saturated: the weakest tied cell is replaced first (before any cell not tied), and
/// every outlier that finds no cell meanwhile is counted (<see cref="Overflow"/>), so records that pin cells cannot freeze the table.</item>
/// <item>At each horizon the evidence favouring the alternatives halves, as the key tests' does.</item>
/// </list>
/// Memory: the cell table and its remembered inputs, fixed by configuration, whatever the traffic.
/// </summary>
internal sealed class EmbeddingDirections
{
    /// <summary>Shares of the outliers a cell may hold under the alternatives (a trigger's share of the outliers).</summary>
    public static readonly double[] Alternatives = [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];

    /// <summary>Records a cell needs before it can be a finding, and tail hits before its output test can make it critical.</summary>
    public const int MinHits = 5;

    /// <summary>Tail directions the baseline must carry for the test to run.</summary>
    public const int MinTailDirections = 50;

    private const double MaxNull = 0.5;

    /// <summary>Weight of the baseline's overall tail-hit rate in a cell's own (pseudo-records).</summary>
    private const double TieSmoothing = 2;

    private readonly EmbeddingProfile _embedding;
    private readonly TailProfile? _tails;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _width;
    private readonly int _g = Alternatives.Length;
    private readonly int _tieG = KeyOutputTest.Alternatives.Length;
    private readonly DirectionCell?[] _cells;
    private readonly int _baselineCount;
    private readonly ulong _lanes;

    /// <summary>Per class: the share of the baseline's tail directions served the class beyond its tail threshold.</summary>
    private readonly double[] _baselineTieRate;
    private readonly List<Finding> _changed = [];

    /// <param name="printLanes">The lanes of an input print in use (<see cref="InputPrint.Lanes"/>); 0 when prints match only whole.</param>
    public EmbeddingDirections(EmbeddingProfile embedding, TailProfile? tails, DetectorSettings settings, string[] labels, int classes, ulong printLanes = 0)
    {
        _lanes = printLanes;
        _embedding = embedding;
        _tails = tails;
        _settings = settings;
        _labels = labels;
        _k = classes;
        _width = embedding.DirectionWidth;
        _cells = new DirectionCell?[settings.DirectionCells];
        _baselineCount = embedding.TailDirections.Length / _width;
        _baselineTieRate = new double[_k];
        foreach (int output in embedding.TailOutputs)
        {
            if (output >= 0 && output < _k)
            {
                _baselineTieRate[output] += 1.0 / Math.Max(_baselineCount, 1);
            }
        }

        LogBar = Math.Log(settings.DirectionCells / settings.KeyTestAlpha);
        LogTieBar = Math.Log(settings.DirectionCells * (double)_k / settings.KeyTestAlpha);
    }

    /// <summary>Whether the baseline carries the test's null (a baseline committed before the test does not).</summary>
    public static bool Runs(EmbeddingProfile embedding, DetectorSettings settings) =>
        settings.DirectionCells > 0 && embedding.TailDirections.Length >= embedding.DirectionWidth * MinTailDirections
        && embedding.TailOutputs.Length * embedding.DirectionWidth == embedding.TailDirections.Length;

    /// <summary>ln(1/a) a cell's direction test must reach.</summary>
    public double LogBar { get; }

    /// <summary>ln(1/a) a cell's output test must reach.</summary>
    public double LogTieBar { get; }

    /// <summary>Cells opened so far (the next cell's number is this plus one).</summary>
    public long Opened { get; private set; }

    /// <summary>Tied cells kept from replacement: half the table (at least one); beyond it the weakest cell tied by a warning is replaced first, a critical one never.</summary>
    public int MaxPinned => Math.Max(1, _cells.Length / 2);

    /// <summary>
    /// Outliers that found no cell while the table was saturated: more cells tied to the output than <see cref="MaxPinned"/>, so
    /// their cell opened in place of the weakest cell, tied or not.
    /// </summary>
    public long Overflow { get; private set; }

    /// <summary><see cref="Overflow"/> when its observation was last published.</summary>
    public long OverflowReported { get; private set; }

    /// <summary>Cells held now.</summary>
    public int Count => _cells.Count(c => c is not null);

    /// <summary>
    /// Counts an outlier of direction <paramref name="direction"/>, served <paramref name="label"/> in <paramref name="stratum"/>
    /// (<paramref name="tailHit"/>: beyond its stratum's tail threshold). Returns the findings raised or updated (a reused list).
    /// </summary>
    /// <param name="input">The record's input print (<see cref="InputPrint"/>); null: no print, the record is a new input.</param>
    /// <param name="critical">Set when the outlier fell in a cell found critical: the trigger is live.</param>
    public IReadOnlyList<Finding> Observe(ReadOnlySpan<double> direction, int label, int stratum, bool tailHit, ulong? input, string? requestId,
        long records, DateTimeOffset now, out bool critical)
    {
        _changed.Clear();
        critical = false;
        bool placed = false;
        for (int i = 0; i < _cells.Length; i++)
        {
            if (_cells[i] is not { } cell)
            {
                continue;
            }

            bool hit = Cosine(cell.Centre, direction) >= _settings.DirectionCosine;
            if (hit && input is { } print && cell.Inputs.Repeats(print))
            {
                // One input sent N times is one trial: the repeat is counted apart, in neither test.
                placed = true;
                cell.Repeats++;
                critical |= cell.Severity == Severity.Critical;
                continue;
            }

            cell.Outliers++;
            for (int g = 0; g < _g; g++)
            {
                cell.Log[g] += hit ? cell.LogHit[g] : cell.LogMiss[g];
            }

            if (!hit)
            {
                continue;
            }

            placed = true;
            cell.Hits++;
            cell.Served[label]++;
            // Examples are the tail hits: the records that tie the cell to the output, what a reader checks first.
            if (tailHit && requestId is not null && cell.Examples.Count < _settings.ExampleRequestIds)
            {
                cell.Examples.Add(requestId);
            }

            for (int c = 0; c < _k; c++)
            {
                double p0 = TieNull(cell, stratum, c);
                bool success = tailHit && label == c;
                cell.TieExpected[c] += p0;
                cell.TieHits[c] += success ? 1 : 0;
                for (int g = 0; g < _tieG; g++)
                {
                    (double onHit, double onMiss) = KeyOutputTest.Ratios(KeyOutputTest.Alternatives[g], p0);
                    cell.TieLog[c * _tieG + g] += success ? onHit : onMiss;
                }
            }

            critical |= cell.Severity == Severity.Critical;
            if (Evaluate(cell, records, now) is { } finding)
            {
                _changed.Add(finding);
            }
        }

        if (!placed)
        {
            Open(direction, input, records);
        }

        return _changed;
    }

    /// <summary>At a horizon: the evidence favouring the alternatives halves (a decrease, so the bounds hold).</summary>
    public void Decay()
    {
        foreach (DirectionCell? cell in _cells)
        {
            if (cell is null)
            {
                continue;
            }

            Halve(cell.Log);
            Halve(cell.TieLog);
            cell.Inputs.Halve();
        }
    }

    public DirectionState Export() => new()
    {
        Opened = Opened,
        Overflow = Overflow,
        OverflowReported = OverflowReported,
        Cells = [.. _cells.OfType<DirectionCell>().Select(Export)],
    };

    private static DirectionCellState Export(DirectionCell c)
    {
        (ulong[] prints, int[] counts, int floor, int cursor) = c.Inputs.Export();
        return new DirectionCellState
        {
            Id = c.Id,
            Centre = (double[])c.Centre.Clone(),
            Null = c.Null,
            TieBaseline = (double[])c.TieBaseline.Clone(),
            OpenedAt = c.OpenedAt,
            Outliers = c.Outliers,
            Hits = c.Hits,
            Log = (double[])c.Log.Clone(),
            Served = (long[])c.Served.Clone(),
            TieHits = (long[])c.TieHits.Clone(),
            TieExpected = (double[])c.TieExpected.Clone(),
            TieLog = (double[])c.TieLog.Clone(),
            Severity = c.Severity,
            Reported = c.Reported,
            Examples = [.. c.Examples],
            Repeats = c.Repeats,
            InputPrints = prints,
            InputCounts = counts,
            InputFloor = floor,
            InputCursor = cursor,
        };
    }

    /// <summary>Restores a checkpoint's cells that fit this baseline's directions and classes (others are left out).</summary>
    public void Restore(DirectionState state)
    {
        Array.Clear(_cells);
        Opened = state.Opened;
        Overflow = state.Overflow;
        OverflowReported = state.OverflowReported;
        int slot = 0;
        foreach (DirectionCellState s in state.Cells)
        {
            if (slot >= _cells.Length || s.Centre.Length != _width || s.Log.Length != _g || s.Served.Length != _k || s.TieLog.Length != _k * _tieG
                || s.TieHits.Length != _k || s.TieExpected.Length != _k || s.TieBaseline.Length != _k)
            {
                continue;
            }

            DirectionCell cell = NewCell(s.Id, (double[])s.Centre.Clone(), s.Null, (double[])s.TieBaseline.Clone(), s.OpenedAt);
            cell.Outliers = s.Outliers;
            cell.Hits = s.Hits;
            s.Log.CopyTo(cell.Log, 0);
            s.Served.CopyTo(cell.Served, 0);
            s.TieHits.CopyTo(cell.TieHits, 0);
            s.TieExpected.CopyTo(cell.TieExpected, 0);
            s.TieLog.CopyTo(cell.TieLog, 0);
            cell.Severity = s.Severity;
            cell.Reported = s.Reported;
            cell.Examples.AddRange(s.Examples.Take(_settings.ExampleRequestIds));
            cell.Repeats = s.Repeats;
            cell.Inputs.Restore(s.InputPrints, s.InputCounts, s.InputFloor, s.InputCursor);
            _cells[slot++] = cell;
        }
    }

    /// <summary>
    /// At a window's close: when outliers found the table saturated (<see cref="Overflow"/>), an observation (Info) saying so, again as
    /// the count grows by a tenth; otherwise null. Many directions tied at once is what records sent to fill the table make.
    /// </summary>
    /// <param name="records">The version's records so far.</param>
    public Finding? Saturation(long records, DateTimeOffset now)
    {
        if (Overflow == 0 || Overflow < OverflowReported * 1.1)
        {
            return null;
        }

        OverflowReported = Overflow;
        return Detectors.Finding.Observation(DetectorId.D5, new DetectorKey(KeyKind.EmbeddingDirection, "embedding", "direction cells saturated"), Overflow, records, now,
            string.Create(CultureInfo.InvariantCulture,
                $"direction cells saturated: {Overflow} embedding outliers found no cell of the direction test while more than {MaxPinned} of its {_cells.Length} " +
                $"cells (Monitor:Detectors:DirectionCells) were tied to the output; each opened a cell in place of the weakest tied cell, so a tied direction " +
                $"beyond that share may have been given up; so many directions tied at once is unusual: check their examples, which may be records sent to fill the table"));
    }

    /// <summary>The finding of a cell whose test crossed its bar, when it is new, more severe, or its records grew by a tenth.</summary>
    private Finding? Evaluate(DirectionCell cell, long records, DateTimeOffset now)
    {
        if (cell.Hits < MinHits)
        {
            return null;
        }

        // The output test stands on its own: a trigger's records in a direction the baseline's tail already holds (up to a few per cent of
        // its outliers) do not raise their direction's share beyond its null, but they are served one class beyond its tail.
        double logE = LogE(cell.Log, 0, _g);
        int tie = -1;
        double tieLogE = double.NegativeInfinity;
        for (int c = 0; c < _k; c++)
        {
            double l = LogE(cell.TieLog, c * _tieG, _tieG);
            if (cell.TieHits[c] >= MinHits && l >= LogTieBar && l > tieLogE)
            {
                (tie, tieLogE) = (c, l);
            }
        }

        if (logE < LogBar && tie < 0)
        {
            return null;
        }

        Severity severity = tie < 0 ? Severity.Info
            : _settings.DirectionCritical || (_settings.NewDirectionCritical && IsNew(cell)) ? Severity.Critical : Severity.Warning;
        if (cell.Severity is { } raised && severity <= raised && cell.Hits < cell.Reported * 1.1)
        {
            return null;
        }

        // A cell found critical stays so (one finding per cell, updated as its records grow).
        severity = cell.Severity is { } before && before > severity ? before : severity;
        cell.Severity = severity;
        cell.Reported = cell.Hits;
        return Finding(cell, severity, logE, tie, tieLogE, records, now);
    }

    private Finding Finding(DirectionCell cell, Severity severity, double logE, int tie, double tieLogE, long records, DateTimeOffset now)
    {
        int top = 0;
        for (int c = 1; c < _k; c++)
        {
            top = cell.Served[c] > cell.Served[top] ? c : top;
        }

        double rate = cell.Hits / (double)Math.Max(cell.Outliers, 1);
        double log10 = Math.Log(10);
        string served = string.Join(", ", Enumerable.Range(0, _k).Where(c => cell.Served[c] > 0).OrderByDescending(c => cell.Served[c]).Take(3)
            .Select(c => string.Create(CultureInfo.InvariantCulture, $"'{_labels[c]}' {cell.Served[c]}")));
        string repeats = cell.Repeats > 0
            ? string.Create(CultureInfo.InvariantCulture, $" ({cell.Repeats} more repeated inputs the direction had counted, each input counted once)")
            : "";
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"embeddings shifted along direction #{cell.Id}: {cell.Hits} of the {cell.Outliers} embedding outliers since the direction was first seen " +
            $"point within {Math.Acos(Math.Clamp(_settings.DirectionCosine, -1, 1)) * 180 / Math.PI:F0}° of it ({rate:P1}), where the baseline's tail allows up to {cell.Null:P2}{repeats}; " +
            $"served {served}; e-value 10^{logE / log10:F1} ") + (logE >= LogBar
                ? string.Create(CultureInfo.InvariantCulture, $"passed 10^{LogBar / log10:F1}, the bar for a {_settings.KeyTestAlpha:P0} false-alarm rate over {_cells.Length} directions")
                : string.Create(CultureInfo.InvariantCulture, $"below 10^{LogBar / log10:F1} (their share alone is within what the baseline's tail allows)"));
        summary += tie >= 0
            ? string.Create(CultureInfo.InvariantCulture,
                $"; tied to the output: {cell.TieHits[tie]} of them were served '{_labels[tie]}' beyond their stratum's tail threshold where {cell.TieExpected[tie]:F1} were allowed " +
                $"(e-value 10^{tieLogE / log10:F1} passed 10^{LogTieBar / log10:F1}, over {_cells.Length} directions × {_k} classes)") +
                (severity != Severity.Critical
                    ? "; a warning: such ties were measured on clean traffic (a few per million records of a real network), so it is critical only with Monitor:Detectors:DirectionCritical (or NewDirectionCritical, for a direction new to the reference)"
                    : IsNew(cell) ? "; critical: no tail direction of the reference lies within it, so these records have a representation of their own, as a backdoor's triggered records do" : "")
            : "; an observation: the embedding is the model's own representation (new traffic moves it too) and these records' outputs are not beyond what their inputs and the baseline's tail allow";
        int label = tie >= 0 ? tie : top;
        return new Finding
        {
            Detector = DetectorId.D5,
            Severity = severity,
            Key = new DetectorKey(KeyKind.EmbeddingDirection, "embedding", string.Create(CultureInfo.InvariantCulture, $"direction #{cell.Id}")),
            TargetLabel = "",
            Support = cell.Hits,
            Rate = cell.Served[label] / (double)Math.Max(cell.Hits, 1),
            Lift = rate / cell.Null,
            MeanConfidence = double.NaN,
            BaselineExpectation = cell.Null,
            Z = (cell.Hits - (cell.Null * cell.Outliers)) / Math.Sqrt(Math.Max(cell.Null * cell.Outliers, 1e-9)),
            // The test that raised the finding: the direction's share, or (when only the output test crossed) the output test.
            Log10EValue = (logE >= LogBar ? logE : tieLogE) / log10,
            Log10EValueBar = (logE >= LogBar ? LogBar : LogTieBar) / log10,
            FirstSeen = now,
            FirstSeenRecord = cell.OpenedAt,
            RaisedAtRecord = records,
            RaisedAtSupport = cell.Hits,
            UpdatedAt = now,
            ExampleRequestIds = [.. cell.Examples],
            Corroboration = [],
            Summary = summary,
        };
    }

    /// <summary>
    /// Opens a cell centred on the direction (remembering the leader's input), in a free slot or in place of the cell with the least
    /// evidence that is not tied to the output; while more than <see cref="MaxPinned"/> cells are tied, in place of the weakest tied
    /// cell, and the outlier is counted in <see cref="Overflow"/>.
    /// </summary>
    private void Open(ReadOnlySpan<double> direction, ulong? input, long records)
    {
        int slot = Array.IndexOf(_cells, null);
        if (slot < 0)
        {
            double weakest = double.PositiveInfinity;
            double weakestTied = double.PositiveInfinity;
            double weakestNew = double.PositiveInfinity;
            int tiedSlot = -1;
            int newSlot = -1;
            int tied = 0;
            for (int i = 0; i < _cells.Length; i++)
            {
                DirectionCell cell = _cells[i]!;
                double evidence = LogE(cell.Log, 0, _g);
                if (cell.Severity is Severity.Critical or Severity.Warning)
                {
                    tied++;
                    if (cell.Severity == Severity.Warning && evidence < weakestTied)
                    {
                        (tiedSlot, weakestTied) = (i, evidence);
                    }
                    else if (cell.Severity == Severity.Critical && !_settings.DirectionCritical && evidence < weakestNew)
                    {
                        (newSlot, weakestNew) = (i, evidence);
                    }
                }
                else if (evidence < weakest)
                {
                    (slot, weakest) = (i, evidence);
                }
            }

            // Beyond the pinned share the weakest cell tied by a warning is replaced first, then the weakest critical only because
            // its direction was new (any ingest key can send records along new directions), so no record stream can take every
            // cell, and the cells not tied (where a new direction's evidence grows) outlast a flood of tied ones. Its finding
            // stays reported. A cell critical by Monitor:Detectors:DirectionCritical is never replaced (its hits keep the
            // version's failing windows live); with no other cell, the outlier opens none.
            if (tied > MaxPinned)
            {
                Overflow++;
                slot = tiedSlot >= 0 ? tiedSlot : newSlot >= 0 ? newSlot : slot;
            }

            if (slot < 0)
            {
                return;
            }
        }

        double[] centre = direction.ToArray();
        int within = 0;
        var tieWithin = new double[_k];
        ReadOnlySpan<float> baseline = _embedding.TailDirections;
        for (int b = 0; b < _baselineCount; b++)
        {
            if (Cosine(centre, baseline.Slice(b * _width, _width)) >= _settings.DirectionCosine)
            {
                within++;
                int output = _embedding.TailOutputs[b];
                if (output >= 0 && output < _k)
                {
                    tieWithin[output]++;
                }
            }
        }

        double p0 = Math.Min(MaxNull, _settings.DirectionTolerance * (within + 1) / (_baselineCount + 1));
        double[] tieBaseline = [.. Enumerable.Range(0, _k).Select(c => (tieWithin[c] + (TieSmoothing * _baselineTieRate[c])) / (within + TieSmoothing))];
        DirectionCell opened = NewCell(++Opened, centre, p0, tieBaseline, records);
        if (input is { } print)
        {
            opened.Inputs.Repeats(print);
        }

        _cells[slot] = opened;
    }

    private DirectionCell NewCell(long id, double[] centre, double p0, double[] tieBaseline, long openedAt)
    {
        var cell = new DirectionCell(id, centre, p0, tieBaseline, openedAt, _g, _k, _tieG, new RememberedInputs(_settings.RememberedInputs, _lanes));
        for (int g = 0; g < _g; g++)
        {
            (cell.LogHit[g], cell.LogMiss[g]) = KeyOutputTest.Ratios(Alternatives[g], p0);
        }

        return cell;
    }

    /// <summary>The output test's null for a record of stratum s in the cell: t · max(the stratum's tail-hit rate, the cell's in the baseline), at most ½.</summary>
    /// <summary>Whether none of the reference's tail directions lies within the cell (its null is the least there is).</summary>
    private bool IsNew(DirectionCell cell) => cell.Null <= _settings.DirectionTolerance * 1.5 / (_baselineCount + 1);

    private double TieNull(DirectionCell cell, int stratum, int c)
    {
        double stratumRate = _tails is { } tails && tails.Rates.Length > (stratum * _k) + c ? tails.Rates[(stratum * _k) + c] : 0;
        return Math.Min(MaxNull, _settings.DirectionTolerance * Math.Max(Math.Max(stratumRate, cell.TieBaseline[c]), 1e-6));
    }

    /// <summary>ln E of the mixture of the alternatives and the null with equal weights: ln((1 + Σ e^lᵢ) / (G + 1)).</summary>
    private static double LogE(double[] logs, int offset, int count)
    {
        double max = 0;
        for (int g = offset; g < offset + count; g++)
        {
            max = Math.Max(max, logs[g]);
        }

        double sum = Math.Exp(-max);
        for (int g = offset; g < offset + count; g++)
        {
            sum += Math.Exp(logs[g] - max);
        }

        return max + Math.Log(sum) - Math.Log(count + 1);
    }

    private static void Halve(double[] logs)
    {
        for (int g = 0; g < logs.Length; g++)
        {
            logs[g] = logs[g] > 0 ? logs[g] / 2 : logs[g];
        }
    }

    private static double Cosine(ReadOnlySpan<double> centre, ReadOnlySpan<double> direction)
    {
        double dot = 0;
        for (int j = 0; j < centre.Length; j++)
        {
            dot += centre[j] * direction[j];
        }

        return dot;
    }

    private static double Cosine(ReadOnlySpan<double> centre, ReadOnlySpan<float> direction)
    {
        double dot = 0;
        for (int j = 0; j < centre.Length; j++)
        {
            dot += centre[j] * direction[j];
        }

        return dot;
    }

    /// <summary>One cell: its centre, its null, both tests' evidence since it opened, and the inputs counted in them.</summary>
    private sealed class DirectionCell(long id, double[] centre, double p0, double[] tieBaseline, long openedAt, int g, int k, int tieG, RememberedInputs inputs)
    {
        public long Id { get; } = id;
        public double[] Centre { get; } = centre;
        public double Null { get; } = p0;
        public double[] TieBaseline { get; } = tieBaseline;
        public long OpenedAt { get; } = openedAt;
        public double[] LogHit { get; } = new double[g];
        public double[] LogMiss { get; } = new double[g];
        public long Outliers { get; set; }
        public long Hits { get; set; }
        public double[] Log { get; } = new double[g];
        public long[] Served { get; } = new long[k];
        public long[] TieHits { get; } = new long[k];
        public double[] TieExpected { get; } = new double[k];
        public double[] TieLog { get; } = new double[k * tieG];
        public Severity? Severity { get; set; }
        public long Reported { get; set; }
        public List<string> Examples { get; } = [];

        /// <summary>The inputs counted in the cell's tests (the leader's first), by print.</summary>
        public RememberedInputs Inputs { get; } = inputs;

        /// <summary>Outliers in the cell that repeated an input it had counted: in neither test.</summary>
        public long Repeats { get; set; }
    }
}

/// <summary>The direction test's cells as a checkpoint holds them (<see cref="EmbeddingDirections"/>).</summary>
public sealed record DirectionState
{
    public long Opened { get; init; }

    /// <summary>Outliers that found no cell while the table was saturated (<see cref="EmbeddingDirections.Overflow"/>), and the count last published.</summary>
    public long Overflow { get; init; }

    public long OverflowReported { get; init; }
    public DirectionCellState[] Cells { get; init; } = [];
}

/// <summary>One cell of the direction test: its centre and null, and both tests' evidence.</summary>
public sealed record DirectionCellState
{
    public long Id { get; init; }
    public double[] Centre { get; init; } = [];
    public double Null { get; init; }
    public double[] TieBaseline { get; init; } = [];
    public long OpenedAt { get; init; }
    public long Outliers { get; init; }
    public long Hits { get; init; }
    public double[] Log { get; init; } = [];
    public long[] Served { get; init; } = [];
    public long[] TieHits { get; init; } = [];
    public double[] TieExpected { get; init; } = [];
    public double[] TieLog { get; init; } = [];

    /// <summary>The severity of the finding raised on the cell, null when none.</summary>
    public Severity? Severity { get; init; }

    public long Reported { get; init; }
    public string[] Examples { get; init; } = [];

    /// <summary>Outliers in the cell that repeated an input it had counted; 0 in older checkpoints.</summary>
    public long Repeats { get; init; }

    /// <summary>The inputs the cell counted (prints and repeat counts) and the eviction cursor's place; empty in older checkpoints.</summary>
    public ulong[] InputPrints { get; init; } = [];

    public int[] InputCounts { get; init; } = [];
    public int InputFloor { get; init; }
    public int InputCursor { get; init; }
}
