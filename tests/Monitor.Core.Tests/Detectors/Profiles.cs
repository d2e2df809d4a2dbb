using Monitor.Core.Detectors;
using Monitor.Core.Ingest;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// A hand-made trigger profile with round numbers, so each detector unit can be driven with plain
/// records and checked against answers worked out by hand. Two classes, two strata: in the low-risk
/// stratum 0 the baseline serves 'fraud' to 10% of records (so a 'fraud' there is a surprise), in the
/// high-risk stratum 1 to 80% (a 'legitimate' there is the surprise).
/// </summary>
internal static class Profiles
{
    public const int Legitimate = 0;
    public const int Fraud = 1;
    public const int LowRisk = 0;
    public const int HighRisk = 1;

    public static readonly string[] Labels = ["legitimate", "fraud"];

    public static TriggerProfile TwoStrata(BaselineKey[]? keys = null, double ultraRecords = 2000, EmbeddingProfile? embedding = null) => new()
    {
        Surrogate = new SurrogateModel
        {
            Classes = 2,
            NumericEdges = [],
            NumericOffsets = [],
            CategoricalOffsets = [],
            Slots = 0,
            Weights = [],
            Bias = [],
        },
        Classes = 2,
        StratumEdges = [0.5],
        Strata = 2,
        LabelRates = [0.9, 0.1, 0.2, 0.8],
        ClassShares = [0.55, 0.45],
        StratumRecords = [5000, 5000],
        UltraRecords = [ultraRecords, ultraRecords, ultraRecords, ultraRecords],
        // Per class: where it is expected, then where it has less than even odds.
        UltraThresholds = [0.99, 0.95, 0.99, 0.95],
        UltraRates = [0.001, 0.001, 0.001, 0.001],
        ResidualMean = [0, 0],
        ResidualStd = [0.05, 0.05],
        Values = new ValueKeyTables { FineEdges = [] },
        Keys = keys ?? [],
        Records = 10_000,
        Embedding = embedding,
    };

    /// <summary>Two-dimensional embeddings, standard normal in the baseline: outliers lie beyond χ²₂'s 99.9th percentile.</summary>
    public static EmbeddingProfile StandardNormal2D() => new()
    {
        Width = 2,
        Mean = [0, 0],
        Components = [1, 0, 0, 1],
        Variances = [1, 1],
        OutlierThreshold = 13.82,
        OutlierRate = 0.001,
        // 2-means on an isotropic normal: two halves, silhouette about 0.35; the top direction holds about half the variance.
        MinorityShare = [0.5, 0.5],
        Silhouette = [0.35, 0.35],
        SpectralShare = [0.5, 0.5],
    };

    /// <summary>A key's candidate after the given records, counted as the trigger detector counts them.</summary>
    public static Candidate Candidate(TriggerProfile profile, DetectorKey key, IEnumerable<RecordContext> records)
    {
        var candidate = new Candidate(key, profile.Classes, profile.Strata, DateTimeOffset.UnixEpoch, 0);
        foreach (RecordContext record in records)
        {
            candidate.Count(record.Label * profile.Strata + record.Stratum);
            candidate.Observe(record, profile, maxExamples: 5);
        }

        return candidate;
    }

    /// <summary>A record in a stratum, served a label with a confidence and served and surrogate probabilities of 'fraud'.</summary>
    public static RecordContext Record(TriggerProfile profile, int stratum, int label, double confidence = 0.9, double servedFraud = double.NaN,
        double surrogateFraud = double.NaN, bool outlier = false, bool embedded = false)
    {
        double served = double.IsNaN(servedFraud) ? (label == Fraud ? confidence : 1 - confidence) : servedFraud;
        double surrogate = double.IsNaN(surrogateFraud) ? profile.LabelRates[stratum * 2 + Fraud] : surrogateFraud;
        bool ultra = confidence > profile.UltraThresholds[profile.UltraSlot(stratum, label)];
        double[] probabilities = [1 - served, served];
        bool tailHit = profile.Tails?.Hit(stratum, 2, label, probabilities) ?? false;
        return new RecordContext(Empty, 0, label, stratum, confidence, ultra, outlier, embedded, profile.Contrarian(stratum, label), tailHit, false,
            probabilities, [1 - surrogate, surrogate], [double.NaN, double.NaN], false);
    }

    private static readonly RecordBatch Empty = new() { Count = 0, Numeric = Array.Empty<float>(), Scores = Array.Empty<float>(), Categorical = [], Text = [] };
}
