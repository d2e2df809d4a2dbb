namespace Monitor.Core.Detectors;

/// <summary>
/// Thresholds and sizes of the trigger detectors. Memory is bounded by these, never by traffic. Bound from the
/// Monitor:Detectors configuration section: its public settable properties are the keys, each range-checked by
/// <see cref="Problems"/>; the others are tuned constants, set only by tests.
/// </summary>
public sealed record DetectorSettings
{
    /// <summary>Counters per row of each count-min sketch (a power of two).</summary>
    public int SketchWidth { get; init; } = 1 << 17;

    public int SketchDepth { get; internal init; } = 4;

    /// <summary>Entries of the heavy-hitter table of key support.</summary>
    public int HeavyHitters { get; init; } = 32_768;

    /// <summary>Promoted candidates with exact counts.</summary>
    public int Candidates { get; init; } = 4096;

    /// <summary>
    /// Share of the candidates that keys holding a finding below critical (a warning, an observation) keep before keys without
    /// one. Anybody with the ingest key can cause such findings; were such candidates never evicted, keys warned on purpose
    /// would fill the table and no trigger's key would be promoted again. Beyond this share a warned candidate drawn to make
    /// room goes first, the one with the least support; within it, only when no candidate without a finding was drawn. Its
    /// finding stays. Candidates with a critical finding are never evicted.
    /// </summary>
    public double WarnedCandidateShare { get; init; } = 0.5;

    /// <summary>
    /// Surprising (or embedding-outlier) inputs each candidate remembers, so that its evidence counts distinct inputs: such
    /// a record repeating a remembered one (the same inputs on the baseline's fine bins, or all but one group of fields the
    /// same) is a repeat, not evidence. 0 counts every record. At most Candidates × this × 12 bytes (1.5 MiB at 4,096 × 32).
    /// </summary>
    public int RememberedInputs { get; internal init; } = 32;

    /// <summary>
    /// Guaranteed occurrences in surprising records (served a class the baseline gives less than even
    /// odds for their inputs) after which a key is promoted to an exact-count candidate.
    /// </summary>
    public int PromoteSupport { get; init; } = 3;

    /// <summary>Occurrences a key needs before it can be a finding.</summary>
    public int MinSupport { get; init; } = 30;

    /// <summary>
    /// The false-alarm rate of the whole-output key test (<see cref="KeyOutputTest"/>) over every key and class the candidate
    /// table holds at once: a key's e-value must reach Candidates × classes / this to be critical.
    /// </summary>
    public double KeyTestAlpha { get; init; } = 0.01;

    /// <summary>
    /// How many times the baseline's (or today's) tail-hit rate for a record's inputs the key test's null allows a key's records:
    /// room for keys that correlate with the output beyond what the surrogate captures, and for thresholds estimated on few records.
    /// </summary>
    public double TailTolerance { get; init; } = 3;

    /// <summary>
    /// Whether the residual test (<see cref="KeyRankTest"/>) runs beside the tail test: keys whose records the model serves more of
    /// a class than their inputs explain, compared with today's records of the same expected output. It shares
    /// <see cref="KeyTestAlpha"/> with the tail test.
    /// </summary>
    public bool ResidualTest { get; init; } = true;

    /// <summary>
    /// How many times the share of records above a rank threshold that chance gives (1 − θ) the residual test's null allows a
    /// key's records: room for keys that correlate with the output beyond what the surrogate captures.
    /// </summary>
    public double RankTolerance { get; init; } = 2;

    /// <summary>Tail hits (distinct inputs) a key's whole-output test needs besides its e-value: a few inputs repeated with noise are not a trigger.</summary>
    public int MinKeyHits { get; internal init; } = 10;

    /// <summary>Pooled z a key's label skew must reach.</summary>
    public double MinZ { get; init; } = 6;

    /// <summary>
    /// Share of the key's contrarian records (those where the baseline gives the target label less than
    /// even odds for their inputs) that must carry the target label.
    /// </summary>
    public double MinRate { get; init; } = 0.9;

    /// <summary>
    /// How far that share must rise above the key's own baseline share, or, for a key new to the
    /// baseline, above the share the baseline predicts for the same records.
    /// </summary>
    public double MinRateIncrease { get; init; } = 0.3;

    /// <summary>Contrarian records a key needs before it can be a finding.</summary>
    public int MinContrarian { get; internal init; } = 15;

    /// <summary>Baseline support under which a key counts as new.</summary>
    public int NewKeySupport { get; internal init; } = 5;

    /// <summary>Records after which sketches restart and candidates' counts halve (tumbling and decayed).</summary>
    public long HorizonRecords { get; init; } = 5_000_000;

    public int ExampleRequestIds { get; internal init; } = 5;

    /// <summary>Tail probability under which D3 or D5 evidence among a key's records corroborates it.</summary>
    public double CorroborationP { get; internal init; } = 1e-6;

    /// <summary>z of the served-minus-surrogate residual among a key's contrarian records that corroborates it (D4).</summary>
    public double DecouplingZ { get; internal init; } = 6;

    /// <summary>And by how much that mean residual must exceed the baseline's (D4's effect size).</summary>
    public double MinDecoupling { get; internal init; } = 0.5;

    /// <summary>
    /// |z| of a class's rate against the stratified expectation over the last windows (D6). Higher than
    /// the key tests' 6 because D6 looks again at every window close (tuned on the evaluation).
    /// </summary>
    public double LabelRateZ { get; internal init; } = 8;

    /// <summary>Closed windows D6 looks back over.</summary>
    public int LabelRateWindows { get; internal init; } = 10;

    /// <summary>D3's CUSUM: the alternative is this many times the baseline's ultra-confident rate.</summary>
    public double UltraRateRatio { get; internal init; } = 10;

    /// <summary>D3's CUSUM decision threshold h (nats).</summary>
    public double CusumThreshold { get; internal init; } = 12;

    /// <summary>Projections per class kept for D5's activation clustering.</summary>
    public int ClusterSample { get; internal init; } = 1000;

    /// <summary>Windows between two activation clusterings.</summary>
    public int ClusterEveryWindows { get; internal init; } = 10;

    /// <summary>
    /// Cells of D5's direction test (<see cref="EmbeddingDirections"/>): directions of embedding outliers tracked at once, each a
    /// test; the bar is over all of them. 0 turns the test off. About (components + 28 + 12 × classes) × 8 bytes, 5 request ids and
    /// <see cref="RememberedInputs"/> × 12 bytes of input prints a cell.
    /// </summary>
    public int DirectionCells { get; init; } = 64;

    /// <summary>Cosine with a cell's centre from which an outlier's direction falls in the cell (0.95: within about 18°).</summary>
    public double DirectionCosine { get; init; } = 0.95;

    /// <summary>
    /// How many times the share of the baseline's tail directions within a cell the direction test's null allows the cell (and
    /// the tail-hit rate its output test allows): room for a tail estimated on a few hundred baseline records.
    /// </summary>
    public double DirectionTolerance { get; init; } = 3;

    /// <summary>
    /// Whether a direction tied to the output (<see cref="EmbeddingDirections"/>) is critical; by default a warning: on a real
    /// network's clean traffic 1–3 such ties were measured in 500,000 records, on the synthetic model's about one in 8 million
    /// (docs/detectors.md).
    /// </summary>
    public bool DirectionCritical { get; init; }

    /// <summary>
    /// Whether a direction tied to the output is critical when it is new to the reference: none of the reference's tail
    /// directions lies within its cell. Off by default: it names edge soft patches on a BadNets-trained network early, but a
    /// clean retrained network on held-apart data raised such a tie too (docs/detectors.md, "New directions").
    /// </summary>
    public bool NewDirectionCritical { get; init; }

    /// <summary>
    /// Text keys taken from one record at most (its tokens and variants first, then bigrams, n-grams and pairs), by the
    /// detectors and in the baseline's key table alike. Categorical and numeric features are always keyed, one key of each
    /// kind per feature; against a baseline committed before value patterns and conjunctions, this limits all keys of a
    /// record, in feature order, as it did then.
    /// </summary>
    public int MaxKeysPerRecord { get; init; } = 96;

    /// <summary>
    /// Conjunction keys taken from one record at most: each categorical value with the record's rarest numeric parts, and
    /// those parts with each other, as many parts as fit.
    /// </summary>
    public int MaxConjunctionKeysPerRecord { get; init; } = 48;

    /// <summary>How text-derived keys (D1) appear in findings and everything made from them; see <see cref="KeyPrivacy"/>.</summary>
    public KeyPrivacy TextKeys { get; internal init; } = KeyPrivacy.None;

    /// <summary>These settings with text-derived keys shown as <paramref name="privacy"/> says.</summary>
    public DetectorSettings WithTextKeys(KeyPrivacy privacy) => this with { TextKeys = privacy };

    /// <summary>What is out of range, each naming its key under <paramref name="section"/> (e.g. "Monitor:Detectors").</summary>
    public IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MinSupport", MinSupport, 1, 1_000_000),
            SettingChecks.Range($"{section}:PromoteSupport", PromoteSupport, 1, 1_000_000),
            SettingChecks.Range($"{section}:HeavyHitters", HeavyHitters, 16, 10_000_000),
            SettingChecks.Range($"{section}:Candidates", Candidates, 16, 1_000_000),
            WarnedCandidateShare is < 0 or > 0.9 || double.IsNaN(WarnedCandidateShare) ? $"{section}:WarnedCandidateShare must lie in [0, 0.9], got {WarnedCandidateShare}" : null,
            SettingChecks.Range($"{section}:HorizonRecords", HorizonRecords, 1000, long.MaxValue),
            SettingChecks.Range($"{section}:MaxKeysPerRecord", MaxKeysPerRecord, 1, 100_000),
            SettingChecks.Range($"{section}:MaxConjunctionKeysPerRecord", MaxConjunctionKeysPerRecord, 0, 100_000),
            SketchWidth < 16 || (SketchWidth & (SketchWidth - 1)) != 0 ? $"{section}:SketchWidth must be a power of two of at least 16, got {SketchWidth}" : null,
            KeyTestAlpha is <= 0 or >= 1 ? $"{section}:KeyTestAlpha must lie in (0, 1), got {KeyTestAlpha}" : null,
            TailTolerance is < 1 or > 100 ? $"{section}:TailTolerance must lie in [1, 100], got {TailTolerance}" : null,
            RankTolerance is < 1 or > 5 ? $"{section}:RankTolerance must lie in [1, 5], got {RankTolerance}" : null,
            MinRate is < 0 or > 1 ? $"{section}:MinRate must lie in [0, 1], got {MinRate}" : null,
            SettingChecks.Range($"{section}:DirectionCells", DirectionCells, 0, 4096),
            DirectionCosine is <= 0 or >= 1 ? $"{section}:DirectionCosine must lie in (0, 1), got {DirectionCosine}" : null,
            DirectionTolerance is < 1 or > 100 ? $"{section}:DirectionTolerance must lie in [1, 100], got {DirectionTolerance}" : null,
        ];
        return problems.OfType<string>();
    }
}
