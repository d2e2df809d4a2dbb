namespace Monitor.Core.Detectors;

/// <summary>
/// The evidence a version's trigger detectors hold, as stored at a checkpoint (a window's close) and restored at
/// start, so a restart neither forgets a key's counts nor resets a running test. What is not kept: the screening
/// sketches and heavy-hitter table of keys not yet promoted (they restart, as they do at every horizon), the
/// activation sample of D5, and the generator that draws eviction candidates. Taken against one baseline; a state
/// of another baseline is not restored.
/// </summary>
public sealed record DetectorState
{
    /// <summary>The baseline the detectors judged against.</summary>
    public long BaselineId { get; init; }

    /// <summary>The fingerprint of the key the keys were hashed under (<see cref="KeyHash.SecretId"/>).</summary>
    public ulong KeySecretId { get; init; }

    /// <summary>Records the detectors had seen.</summary>
    public long Records { get; init; }

    /// <summary>Records into the current horizon (sketches restart and candidates halve at the horizon).</summary>
    public long Horizon { get; init; }

    /// <summary>The candidate table's eviction draws so far (0 in a checkpoint from before they were counted).</summary>
    public long EvictionDraws { get; init; }

    /// <summary>
    /// The candidate table's refused promotions and evicted warned candidates (<see cref="CandidateLoad"/>),
    /// then (a classifier's) the sum last reported, then the evicted critical candidates; shorter or empty in older checkpoints.
    /// </summary>
    public long[] CandidatesTurnedAway { get; init; } = [];

    /// <summary>The counts of <see cref="CandidatesTurnedAway"/> (its first, second and fourth); zero where it lacks them.</summary>
    internal (long Refused, long WarnedEvicted, long CriticalEvicted) TurnedAway =>
        CandidatesTurnedAway.Length >= 2 ? (CandidatesTurnedAway[0], CandidatesTurnedAway[1], CandidatesTurnedAway.Length >= 4 ? CandidatesTurnedAway[3] : 0) : default;

    public int WindowsSinceCriticalHit { get; init; }

    /// <summary>Keys found critical.</summary>
    public ulong[] Raised { get; init; } = [];

    /// <summary>The ultra-confidence CUSUM of each (class, odds) slot (D3).</summary>
    public double[] UltraCusum { get; init; } = [];

    /// <summary>Live records and hits per class where the inputs give it less than even odds (the key-skew test's reference).</summary>
    public double[] LiveContrarian { get; init; } = [];

    public double[] LiveContrarianHits { get; init; } = [];

    /// <summary>Live records per stratum and tail hits per (stratum, class): the whole-output key test's reference.</summary>
    public double[] LiveTailRecords { get; init; } = [];

    public double[] LiveTailHits { get; init; } = [];

    /// <summary>Per class: the open and last windows' tail hits and expectations (the recent lift); empty in older checkpoints.</summary>
    public double[] LiveTailWindow { get; init; } = [];

    /// <summary>Today's residual histograms per (stratum, class) and records per stratum (the residual test's reference); empty in older checkpoints.</summary>
    public double[] LiveRankHistograms { get; init; } = [];

    public double[] LiveRankRecords { get; init; } = [];

    /// <summary>Records whose text keys, and whose rare parts, were cut at their budgets, and the counts last reported; empty in older checkpoints.</summary>
    public long[] KeysCut { get; init; } = [];

    /// <summary>
    /// Records that were telling (surprising, a tail hit or a rank hit), then records counted (<see cref="CandidateTable.Strength"/>'s
    /// rate); empty in a checkpoint from before they were counted, which then counts afresh.
    /// </summary>
    public long[] TellingRecords { get; init; } = [];

    /// <summary>Per numeric feature: records outside the baseline's range, and how many the last observation reported.</summary>
    public long[] OutsideRange { get; init; } = [];

    public long[] OutsideRangeReported { get; init; } = [];

    /// <summary>The label-rate test's recent windows of per-class and per-stratum counts, oldest first, and the open one (D6).</summary>
    public double[][] LabelRateWindows { get; init; } = [];

    public double[] LabelRateOpen { get; init; } = [];

    /// <summary>A regression output's key tests: today's residual counts and recent windows (<see cref="RegressionKeyTest.Live"/>); empty otherwise.</summary>
    public double[] RegressionLive { get; init; } = [];

    /// <summary>The regression rank test's histograms of today's residuals (<see cref="RegressionRankTest.Live"/>); empty in a checkpoint from before it.</summary>
    public double[] RegressionRanks { get; init; } = [];

    /// <summary>A regression output's candidates: their hashes and each one's previous served value (the pinned test's centre).</summary>
    public ulong[] RegressionCentreKeys { get; init; } = [];

    public double[] RegressionCentres { get; init; } = [];

    /// <summary>The keys counted exactly, with their counts.</summary>
    public CandidateState[] Candidates { get; init; } = [];

    /// <summary>The screening table's keys counted at least twice on surprising records (the ones near promotion).</summary>
    public HeavyHitter[] HeavyHitters { get; init; } = [];

    /// <summary>The paired test's evidence (<see cref="PairedTest"/>); null when the version was never mirrored paired, and in older checkpoints.</summary>
    public PairedState? Paired { get; init; }

    /// <summary>The geometry D5 counted embedding evidence against (<see cref="EmbeddingReference.Tag"/>); empty: the baseline's, as in older checkpoints.</summary>
    public string EmbeddingReference { get; init; } = "";

    /// <summary>The same evidence without what D5 counted: the embedding keys, every key's outlier counts and the direction cells.</summary>
    public DetectorState WithoutEmbeddingEvidence() => this with
    {
        Candidates = [.. Candidates.Where(c => c.Key.Kind is not (KeyKind.EmbeddingOutlier or KeyKind.EmbeddingDirection))
            .Select(c => c with { Embedded = 0, Outliers = 0 })],
        Directions = null,
    };

    /// <summary>
    /// The percentiles D3 counted against (<see cref="EmbeddingReference.ConfidenceTag(TriggerProfile)"/>): empty, the baseline's, as in older
    /// checkpoints; <c>own:&lt;id&gt;</c>, a version's own reference's.
    /// </summary>
    public string ConfidenceReference { get; init; } = "";

    /// <summary>The same evidence without what D3 counted: its CUSUMs (they restart) and every key's ultra-confident counts.</summary>
    public DetectorState WithoutConfidenceEvidence() => this with
    {
        UltraCusum = [],
        Candidates = [.. Candidates.Select(c => c with { Ultra = new long[c.Ultra.Length], UltraExpected = new double[c.UltraExpected.Length] })],
    };

    /// <summary>D5's direction test's cells (<see cref="EmbeddingDirections"/>); null without embeddings, and in older checkpoints.</summary>
    public DirectionState? Directions { get; init; }
}

/// <summary>A candidate key's exact counts and remembered inputs, as a checkpoint holds them.</summary>
public sealed record CandidateState
{
    public ulong Hash { get; init; }
    public required DetectorKey Key { get; init; }
    public DateTimeOffset FirstSeen { get; init; }
    public long FirstSeenRecord { get; init; }
    public long[] Cells { get; init; } = [];
    public long Support { get; init; }
    public long Exact { get; init; }
    public long Surprising { get; init; }
    public long SurprisingBefore { get; init; }
    public long[] ContrarianOfClass { get; init; } = [];
    public long[] ContrarianHits { get; init; } = [];
    public long[] Ultra { get; init; } = [];
    public double[] UltraExpected { get; init; } = [];
    public double[] Residual { get; init; } = [];
    public double ConfidenceSum { get; init; }
    public long Embedded { get; init; }
    public long Outliers { get; init; }
    public string[] Examples { get; init; } = [];

    /// <summary>The dedupe key of the finding raised on the key (null when none).</summary>
    public string? Raised { get; init; }

    public long LastEvaluated { get; init; }
    public long Repeats { get; init; }
    public string[] RepeatExamples { get; init; } = [];
    public long RepeatsReported { get; init; }

    /// <summary>The whole-output key test's state (<see cref="Candidate.TailLog"/>); empty in a checkpoint from before it.</summary>
    public double[] TailLog { get; init; } = [];

    public long[] TailHits { get; init; } = [];
    public double[] TailExpected { get; init; } = [];
    public long TailRecords { get; init; }

    /// <summary>The residual test's state (<see cref="Candidate.RankLog"/>); empty in a checkpoint from before it.</summary>
    public double[] RankLog { get; init; } = [];

    public long[] RankAbove { get; init; } = [];
    public long RankRecords { get; init; }

    /// <summary>The record its live share is counted from (see <see cref="Candidate.ShareOrigin"/>); null in older checkpoints.</summary>
    public long? ShareOrigin { get; init; }

    /// <summary>The inputs remembered (their prints and repeat counts) and the eviction cursor's place.</summary>
    public ulong[] InputPrints { get; init; } = [];

    public int[] InputCounts { get; init; } = [];
    public int InputFloor { get; init; }
    public int InputCursor { get; init; }
}
