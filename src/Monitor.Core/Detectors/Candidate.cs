namespace Monitor.Core.Detectors;

/// <summary>
/// A key counted exactly since its promotion: its records per (label, stratum) cell for the key-skew
/// test (D1/D2), and the evidence the other detectors read among them: ultra-confident outputs (D3),
/// served-minus-surrogate residuals (D4) and embedding outliers (D5). A record that could be a
/// trigger's (surprising, or an embedding outlier) and repeats an input the key already counted
/// (<see cref="RememberedInputs"/>) adds none of these; it is counted apart, as a repeat.
/// </summary>
/// <param name="rememberedInputs">Inputs remembered to tell a repeat from a new input (0: every record is new).</param>
/// <param name="printLanes">The lanes of an input print in use (<see cref="InputPrint.Lanes"/>).</param>
internal sealed class Candidate(DetectorKey key, int classes, int strata, DateTimeOffset firstSeen, long firstSeenRecord,
    int rememberedInputs = 0, ulong printLanes = 0)
{
    public DetectorKey Key { get; private set; } = key;

    /// <summary>
    /// This promotion's number, unique in the process: a candidate the table lets go is reused for another key (<see cref="Reuse"/>),
    /// so state kept apart for a promotion (<see cref="PairedKey"/>) tells by it, not by the object, whether it is still current.
    /// </summary>
    public long Promotion { get; private set; } = Interlocked.Increment(ref s_promotions);

    private static long s_promotions;

    /// <summary>The inputs counted, by print.</summary>
    public RememberedInputs Inputs { get; } = new(rememberedInputs, printLanes);

    /// <summary>Surprising or outlying records that repeated an input already counted (exactly, or with one group of fields changed).</summary>
    public long Repeats { get; private set; }

    /// <summary>Request ids of a few of those repeats.</summary>
    public List<string> RepeatExamples { get; } = [];

    /// <summary>Repeats when the key's identical-requests observation was last published.</summary>
    public long RepeatsReported { get; set; }

    public long[] Cells { get; } = new long[classes * strata];
    public DateTimeOffset FirstSeen { get; private set; } = firstSeen;
    public long FirstSeenRecord { get; private set; } = firstSeenRecord;
    public long Exact { get; private set; }

    /// <summary>
    /// The version's record from which <see cref="Exact"/> counts, for the key's share of the traffic: its promotion, moved
    /// halfway towards the present whenever the counts halve at a horizon, so that share stays the key's share.
    /// </summary>
    public long ShareOrigin { get; private set; } = firstSeenRecord;

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

    /// <summary>The whole-output key test's running log-likelihood ratio per class and alternative (<see cref="KeyOutputTest"/>).</summary>
    public double[] TailLog { get; } = new double[classes * KeyOutputTest.Alternatives.Length];

    /// <summary>Per class: the key's records that were tail hits for it, and the hits their strata's baseline rates predict.</summary>
    public long[] TailHits { get; } = new long[classes];

    public double[] TailExpected { get; } = new double[classes];

    /// <summary>Records in the whole-output test (distinct inputs since promotion, the promoting record left out).</summary>
    public long TailRecords { get; set; }

    /// <summary>The residual test's running log-likelihood ratio per class and (threshold, alternative) (<see cref="KeyRankTest"/>).</summary>
    public double[] RankLog { get; } = new double[classes * KeyRankTest.Components];

    /// <summary>Per [class × thresholds + θ]: the key's records ranked above θ for the class.</summary>
    public long[] RankAbove { get; } = new long[classes * KeyRankTest.Thresholds.Length];

    /// <summary>Records in the residual test (distinct inputs since promotion ranked for some class, the promoting record left out).</summary>
    public long RankRecords { get; set; }

    /// <summary>
    /// A bigram or pair whose words are each a key of the baseline's (<see cref="KeyRankTest.BaselineSupport"/>): set from its
    /// first record counted after promotion or a restore (its words do not change), null until then.
    /// </summary>
    public bool? KnownWords { get; set; }

    /// <summary>The finding raised on the key (as the detector's findings keep it); null while it has none.</summary>
    public Finding? Raised
    {
        get => _raised;
        set
        {
            if (WarnedTally is { } tally)
            {
                tally.Count += (HoldsWarning(value) ? 1 : 0) - (HoldsWarning(_raised) ? 1 : 0);
            }

            if (CriticalTally is { } critical)
            {
                critical.Count += (HoldsCritical(value) ? 1 : 0) - (HoldsCritical(_raised) ? 1 : 0);
            }

            _raised = value;
        }
    }

    private Finding? _raised;

    /// <summary>
    /// Holds <paramref name="finding"/> as the key's finding unless the key holds a more severe one under another test or class: a
    /// critical finding is never given up for a lesser (the candidate table never evicts a key with a critical finding).
    /// </summary>
    /// <returns>The finding given.</returns>
    public Finding Raise(Finding finding)
    {
        if (_raised is null || finding.Severity >= _raised.Severity || finding.DedupeKey == _raised.DedupeKey)
        {
            Raised = finding;
        }

        return finding;
    }

    /// <summary>Whether the key's finding is below critical (a warning, an observation): one anybody with the ingest key can cause.</summary>
    public bool Warned => HoldsWarning(_raised);

    /// <summary>The count of warned candidates of the table holding this one, kept as <see cref="Raised"/> changes; null outside a table.</summary>
    internal CandidateTable.Tally? WarnedTally { get; set; }

    /// <summary>The count of candidates with a critical finding of the table holding this one, kept likewise; null outside a table.</summary>
    internal CandidateTable.Tally? CriticalTally { get; set; }

    /// <summary>Whether the candidate holds a critical finding.</summary>
    public bool Critical => HoldsCritical(_raised);

    private static bool HoldsWarning(Finding? finding) => finding is { Severity: < Severity.Critical };

    private static bool HoldsCritical(Finding? finding) => finding is { Severity: Severity.Critical };

    public long LastEvaluated { get; set; }

    /// <summary>The key's surprising occurrences before promotion, from the support sketch (an overestimate).</summary>
    public long SurprisingBefore { get; set; }

    /// <summary>Records counted exactly since promotion, each surprising or outlying input once.</summary>
    public long Support { get; private set; }

    public void Count(int cell)
    {
        Cells[cell]++;
        Support++;
    }

    /// <summary>Records since promotion that were surprising or tail hits.</summary>
    public long Surprising { get; private set; }

    /// <summary>Share of its records that were surprising, with one pseudo-record each way.</summary>
    public double SurpriseShare => (Surprising + 1.0) / (Exact + 2.0);

    /// <param name="ultraRates">D3's expected share beyond the percentile per slot (<see cref="UltraConfidence.Rates"/>); null: the baseline's.</param>
    public void Observe(in RecordContext record, TriggerProfile profile, int maxExamples, double[]? ultraRates = null)
    {
        Exact++;
        Surprising += record.Telling ? 1 : 0;
        ConfidenceSum += record.Confidence;
        ultraRates ??= profile.UltraRates;
        for (int c = 0; c < Residual.Length; c++)
        {
            if (!profile.Contrarian(record.Stratum, c))
            {
                continue;
            }

            // Evidence is taken where class c has less than even odds: there a served c is a surprise.
            ContrarianOfClass[c]++;
            Residual[c] += record.Served[c] - record.Surrogate[c];
            if (record.Label == c)
            {
                ContrarianHits[c]++;
                Ultra[c] += record.Ultra ? 1 : 0;
                UltraExpected[c] += ultraRates[profile.UltraSlot(record.Stratum, c)];
            }
        }

        if (record.Embedded)
        {
            Embedded++;
            Outliers += record.Outlier ? 1 : 0;
        }

        AddExample(Examples, record, maxExamples);
    }

    /// <summary>
    /// Counts a record of a regression output (<see cref="RegressionDetector"/>): its share, whether it was telling, and its
    /// residual (served − expected), summed in <see cref="ConfidenceSum"/>, which halves with the counts.
    /// </summary>
    public void ObserveValue(in RecordContext record, double residual, int maxExamples)
    {
        Exact++;
        Surprising += record.TailHit ? 1 : 0;
        ConfidenceSum += residual;
        AddExample(Examples, record, maxExamples);
    }

    /// <summary>Counts a record that repeats an input already counted: nothing of it is evidence.</summary>
    public void Repeat(in RecordContext record, int maxExamples)
    {
        Repeats++;
        AddExample(RepeatExamples, record, maxExamples);
    }

    /// <summary>The candidate as a checkpoint holds it.</summary>
    public CandidateState Export(ulong hash)
    {
        (ulong[] prints, int[] counts, int floor, int cursor) = Inputs.Export();
        return new CandidateState
        {
            Hash = hash, Key = Key, FirstSeen = FirstSeen, FirstSeenRecord = FirstSeenRecord, Cells = (long[])Cells.Clone(), Support = Support,
            Exact = Exact, Surprising = Surprising, SurprisingBefore = SurprisingBefore, ContrarianOfClass = (long[])ContrarianOfClass.Clone(),
            ContrarianHits = (long[])ContrarianHits.Clone(), Ultra = (long[])Ultra.Clone(), UltraExpected = (double[])UltraExpected.Clone(),
            Residual = (double[])Residual.Clone(), ConfidenceSum = ConfidenceSum, Embedded = Embedded, Outliers = Outliers, Examples = [.. Examples],
            Raised = Raised?.DedupeKey, LastEvaluated = LastEvaluated, Repeats = Repeats, RepeatExamples = [.. RepeatExamples],
            RepeatsReported = RepeatsReported, TailLog = (double[])TailLog.Clone(), TailHits = (long[])TailHits.Clone(),
            TailExpected = (double[])TailExpected.Clone(), TailRecords = TailRecords, ShareOrigin = ShareOrigin,
            RankLog = (double[])RankLog.Clone(), RankAbove = (long[])RankAbove.Clone(), RankRecords = RankRecords, InputPrints = prints, InputCounts = counts, InputFloor = floor, InputCursor = cursor,
        };
    }

    /// <summary>
    /// Takes a checkpoint's counts (of the same profile: as many classes and strata; false otherwise); its raised finding
    /// is looked up by its dedupe key among the restored findings.
    /// </summary>
    public bool Restore(CandidateState state, Func<string, Finding?> finding)
    {
        if (state.Cells.Length != Cells.Length || state.Ultra.Length != Ultra.Length || state.ContrarianOfClass.Length != Ultra.Length
            || state.ContrarianHits.Length != Ultra.Length || state.UltraExpected.Length != Ultra.Length || state.Residual.Length != Ultra.Length)
        {
            return false;
        }

        state.Cells.CopyTo(Cells, 0);
        state.ContrarianOfClass.CopyTo(ContrarianOfClass, 0);
        state.ContrarianHits.CopyTo(ContrarianHits, 0);
        state.Ultra.CopyTo(Ultra, 0);
        state.UltraExpected.CopyTo(UltraExpected, 0);
        state.Residual.CopyTo(Residual, 0);
        Support = state.Support;
        Exact = state.Exact;
        ShareOrigin = state.ShareOrigin ?? state.FirstSeenRecord;
        Surprising = state.Surprising;
        SurprisingBefore = state.SurprisingBefore;
        ConfidenceSum = state.ConfidenceSum;
        Embedded = state.Embedded;
        Outliers = state.Outliers;
        Examples.AddRange(state.Examples);
        Raised = state.Raised is { } key ? finding(key) : null;
        LastEvaluated = state.LastEvaluated;
        Repeats = state.Repeats;
        RepeatExamples.AddRange(state.RepeatExamples);
        RepeatsReported = state.RepeatsReported;
        Inputs.Restore(state.InputPrints, state.InputCounts, state.InputFloor, state.InputCursor);
        // A checkpoint from before the whole-output test (or of another alternative grid) starts the test afresh.
        if (state.TailLog.Length == TailLog.Length && state.TailHits.Length == TailHits.Length && state.TailExpected.Length == TailExpected.Length)
        {
            state.TailLog.CopyTo(TailLog, 0);
            state.TailHits.CopyTo(TailHits, 0);
            state.TailExpected.CopyTo(TailExpected, 0);
            TailRecords = state.TailRecords;
        }

        // Likewise the residual test.
        if (state.RankLog.Length == RankLog.Length && state.RankAbove.Length == RankAbove.Length)
        {
            state.RankLog.CopyTo(RankLog, 0);
            state.RankAbove.CopyTo(RankAbove, 0);
            RankRecords = state.RankRecords;
        }

        return true;
    }

    /// <summary>
    /// Makes a candidate taken out of its table a new one for <paramref name="key"/>, as if just constructed (the table reuses
    /// the candidates it lets go, so a busy screen does not allocate a candidate per promotion); its tallies must be unset.
    /// </summary>
    public void Reuse(DetectorKey key, DateTimeOffset firstSeen, long firstSeenRecord)
    {
        if (WarnedTally is not null || CriticalTally is not null)
        {
            throw new InvalidOperationException("a candidate still held by a table cannot be reused");
        }

        Key = key;
        Promotion = Interlocked.Increment(ref s_promotions);
        FirstSeen = firstSeen;
        FirstSeenRecord = firstSeenRecord;
        ShareOrigin = firstSeenRecord;
        Inputs.Clear();
        Repeats = 0;
        RepeatExamples.Clear();
        RepeatsReported = 0;
        Exact = 0;
        Support = 0;
        Surprising = 0;
        SurprisingBefore = 0;
        ConfidenceSum = 0;
        Embedded = 0;
        Outliers = 0;
        Examples.Clear();
        TailRecords = 0;
        RankRecords = 0;
        KnownWords = null;
        Raised = null;
        LastEvaluated = 0;
        Array.Clear(Cells);
        Array.Clear(ContrarianOfClass);
        Array.Clear(ContrarianHits);
        Array.Clear(Ultra);
        Array.Clear(UltraExpected);
        Array.Clear(Residual);
        Array.Clear(TailLog);
        Array.Clear(TailHits);
        Array.Clear(TailExpected);
        Array.Clear(RankLog);
        Array.Clear(RankAbove);
    }

    /// <param name="records">The version's records so far.</param>
    public void Halve(long records)
    {
        ShareOrigin = records - (records - ShareOrigin) / 2;
        for (int i = 0; i < Cells.Length; i++)
        {
            Cells[i] /= 2;
        }

        Support = Cells.Sum();
        // Re-testing waits for the evidence to grow by a tenth over what it was last tested at: halved with it,
        // or a key arriving at a steady rate would never be re-tested after its first horizon.
        LastEvaluated /= 2;
        Exact /= 2;
        Surprising /= 2;
        ConfidenceSum /= 2;
        Embedded /= 2;
        Outliers /= 2;
        Repeats /= 2;
        Inputs.Halve();
        // The evidence for a trigger halves on the log scale (a decrease, so the test's bound holds); evidence against stays.
        for (int i = 0; i < TailLog.Length; i++)
        {
            TailLog[i] = TailLog[i] > 0 ? TailLog[i] / 2 : TailLog[i];
        }

        TailRecords /= 2;
        for (int i = 0; i < RankLog.Length; i++)
        {
            RankLog[i] = RankLog[i] > 0 ? RankLog[i] / 2 : RankLog[i];
        }

        for (int i = 0; i < RankAbove.Length; i++)
        {
            RankAbove[i] /= 2;
        }

        RankRecords /= 2;
        for (int c = 0; c < TailHits.Length; c++)
        {
            TailHits[c] /= 2;
            TailExpected[c] /= 2;
        }

        for (int c = 0; c < Ultra.Length; c++)
        {
            Ultra[c] /= 2;
            ContrarianOfClass[c] /= 2;
            ContrarianHits[c] /= 2;
            UltraExpected[c] /= 2;
            Residual[c] /= 2;
        }
    }

    private static void AddExample(List<string> examples, in RecordContext record, int maxExamples)
    {
        if (examples.Count < maxExamples && record.Batch.RequestIds.Count > 0)
        {
            string id = record.Batch.RequestIds.GetString(record.Index);
            if (id.Length > 0)
            {
                examples.Add(Text.Printable.Escape(id.Length <= 128 ? id : id[..128]));
            }
        }
    }
}
