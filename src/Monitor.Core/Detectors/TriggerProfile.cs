namespace Monitor.Core.Detectors;

/// <summary>A key as it was seen in the baseline: support and how its records were labelled.</summary>
public sealed record BaselineKey
{
    public required KeyKind Kind { get; init; }

    /// <summary>Index of the field in its kind's list in the schema.</summary>
    public required int Field { get; init; }

    public required string Text { get; init; }

    /// <summary>Bin index or float bits for keys that are not text.</summary>
    public ulong Payload { get; init; }

    public required long Support { get; init; }

    /// <summary>Records of the key per served class.</summary>
    public required long[] LabelCounts { get; init; }

    /// <summary>Per class c: the key's records in strata where the baseline gives c less than even odds.</summary>
    public long[] ContrarianCounts { get; init; } = [];

    /// <summary>Per class c: of those, the records served as c.</summary>
    public long[] ContrarianHits { get; init; } = [];

    /// <summary>Per class c: the key's records served c beyond their stratum's tail threshold (<see cref="TailProfile"/>).</summary>
    public long[] TailHits { get; init; } = [];

    /// <summary>Per class c: the hits the stratum rates predict for the key's records (its own lift is hits over this).</summary>
    public double[] TailExpected { get; init; } = [];

    /// <summary>
    /// Per [class × thresholds + θ]: the key's records whose residual for the class ranked above θ among the baseline's records of
    /// their stratum (<see cref="KeyRankTest"/>); empty in a baseline committed before the residual test.
    /// </summary>
    public long[] RankAbove { get; init; } = [];

    /// <summary>
    /// The key entered the table from a capture of live traffic, which an ingest key can feed, and the baseline in force did not vouch
    /// for it (<see cref="CaptureKeyCheck"/>). It stays in the
    /// table (the next capture is checked against it; the key extractor's part shares count it), but the detectors take nothing from
    /// its entry (a population's share, tail and residual lifts, own rates, a known key's warning): they judge it as a new key. False
    /// in an uploaded baseline, in a model's first baseline captured with nothing in force, and in one stored before this existed.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool Unvouched { get; init; }

    /// <summary>
    /// The key's share of the baseline is a capture's, which made it a population (<see cref="KeyOutputTest.MaxBaselineShare"/>) where
    /// the baseline in force held it on fewer records: it is never taken as a population, though the rest of its entry is vouched.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool ShareUnvouched { get; init; }

    /// <summary>The hash this key has in this process.</summary>
    public ulong Hash() => Kind switch
    {
        KeyKind.Category => KeyHash.Of(Kind, Field, System.Text.Encoding.UTF8.GetBytes(Text)),
        KeyKind.Value or KeyKind.FineBin or KeyKind.EmbeddingOutlier or KeyKind.Pattern or KeyKind.Conjunction or KeyKind.Region => KeyHash.Of(Kind, Field, Payload),
        _ => KeyHash.Of(Kind, Field, Text.AsSpan()),
    };
}

/// <summary>What the trigger detectors know of the baseline; built with it, stored with it, never changed.</summary>
public sealed record TriggerProfile
{
    public required SurrogateModel Surrogate { get; init; }

    /// <summary>Classes of the served output.</summary>
    public required int Classes { get; init; }

    /// <summary>
    /// Strata cut points from the inputs only. Two classes: the deciles of the surrogate's P(class 1)
    /// merged with fixed probability cuts, so that high-risk strata exist however rare a class is.
    /// More classes: per class four quintile edges of the surrogate's top probability (row-major).
    /// </summary>
    public required double[] StratumEdges { get; init; }

    public required int Strata { get; init; }

    /// <summary>Baseline share of each served class per stratum, smoothed towards the overall share: [stratum × classes + class].</summary>
    public required double[] LabelRates { get; init; }

    public required double[] ClassShares { get; init; }

    /// <summary>Baseline records per stratum: the rates' own uncertainty, r(1 − r)/N, enters every z.</summary>
    public required double[] StratumRecords { get; init; }

    /// <summary>Baseline records behind each confidence percentile; D3's CUSUM runs only where there are enough.</summary>
    public required double[] UltraRecords { get; init; }

    /// <summary>
    /// Per class c and stratum kind: [2c] where c is expected, [2c + 1] where c has less than even odds:
    /// the baseline's 99.9th percentile of confidence among records served c.
    /// </summary>
    public required double[] UltraThresholds { get; init; }

    /// <summary>The baseline's share of those records beyond that percentile.</summary>
    public required double[] UltraRates { get; init; }

    /// <summary>Index into <see cref="UltraThresholds"/> for a record served c in stratum s.</summary>
    public int UltraSlot(int stratum, int c) => 2 * c + (Contrarian(stratum, c) ? 1 : 0);

    /// <summary>Per class c: mean and standard deviation of (served − surrogate) P(c) where c has less than even odds.</summary>
    public required double[] ResidualMean { get; init; }

    public required double[] ResidualStd { get; init; }

    public required ValueKeyTables Values { get; init; }

    /// <summary>The most frequent keys of the baseline, with their label counts.</summary>
    public required BaselineKey[] Keys { get; init; }

    /// <summary>Records the key table was counted on.</summary>
    public required long Records { get; init; }

    /// <summary>
    /// The key vocabulary the key table was counted with (<see cref="KeyExtractor.Vocabulary"/>); 0 in a baseline committed
    /// before value patterns and conjunctions, whose detectors then extract keys as they did (one limit over all keys).
    /// </summary>
    public int KeyVocabulary { get; init; }

    /// <summary>The whole-output key test's tables; null in a baseline committed before the test existed (then a skew
    /// corroborated by D3, D4 or D5 is what makes a key critical).</summary>
    public TailProfile? Tails { get; init; }

    /// <summary>
    /// The rank thresholds the key table's <see cref="BaselineKey.RankAbove"/> were counted at (<see cref="KeyRankTest.Thresholds"/>);
    /// empty in a baseline committed before the residual test, whose detectors then run the tail test alone.
    /// </summary>
    public double[] RankThresholds { get; init; } = [];

    /// <summary>
    /// The readiness report's model of the residual test (<see cref="ReadinessRanks"/>): per stratum, class and placement of a
    /// trigger, the chance that its records rank above each threshold; empty in a baseline committed before it, whose report
    /// then predicts for the tail test alone.
    /// </summary>
    public double[] RankReadiness { get; init; } = [];

    /// <summary>The embedding profile (D5), when the baseline's records carried embeddings.</summary>
    public EmbeddingProfile? Embedding { get; init; }

    /// <summary>The stratum of a record from the surrogate's class probabilities.</summary>
    public int StratumOf(ReadOnlySpan<double> surrogate)
    {
        if (Classes == 2)
        {
            return Bin(StratumEdges, 0, StratumEdges.Length, surrogate[1]);
        }

        int best = 0;
        for (int c = 1; c < surrogate.Length; c++)
        {
            if (surrogate[c] > surrogate[best])
            {
                best = c;
            }
        }

        return best * 5 + Bin(StratumEdges, best * 4, 4, surrogate[best]);
    }

    /// <summary>Whether the baseline gives class c less than even odds in stratum s: a record there served as c is a surprise.</summary>
    public bool Contrarian(int stratum, int c) => LabelRates[stratum * Classes + c] < 0.5;

    /// <summary>
    /// Variance of a count of n records of stratum s around n·r: binomial, plus the uncertainty of r
    /// itself, estimated on the baseline's N records of the stratum (n² r(1 − r)/N).
    /// </summary>
    public double RateVariance(double n, int stratum, double r) =>
        n * r * (1 - r) * (1 + n / Math.Max(StratumRecords[stratum], 1));

    private static int Bin(double[] edges, int offset, int count, double value)
    {
        int bin = 0;
        while (bin < count && value >= edges[offset + bin])
        {
            bin++;
        }

        return bin;
    }
}

/// <summary>The baseline's embedding geometry for D5: a PCA subspace and the null distribution of distances in it.</summary>
public sealed record EmbeddingProfile
{
    public required int Width { get; init; }

    public required double[] Mean { get; init; }

    /// <summary>Components (row-major, components × width) and their variances.</summary>
    public required double[] Components { get; init; }

    public required double[] Variances { get; init; }

    /// <summary>The baseline's 99.9th percentile of squared Mahalanobis distance in the subspace.</summary>
    public required double OutlierThreshold { get; init; }

    /// <summary>The baseline's 99.9th percentile of the squared reconstruction error outside the subspace.</summary>
    public double ReconstructionThreshold { get; init; } = double.PositiveInfinity;

    /// <summary>The baseline's share of records beyond either percentile.</summary>
    public required double OutlierRate { get; init; }

    /// <summary>Per class: 2-means on the class's baseline activations: minority share and silhouette.</summary>
    public required double[] MinorityShare { get; init; }

    public required double[] Silhouette { get; init; }

    /// <summary>Per class: the spectral signature, the share of the class's activation variance on its top direction.</summary>
    public double[] SpectralShare { get; init; } = [];

    /// <summary>
    /// Directions of the baseline's tail records (beyond its 95th percentile of either distance), row-major, each
    /// <see cref="DirectionWidth"/> wide (<see cref="Direction"/>): the null of the direction test (<see cref="EmbeddingDirections"/>).
    /// Empty in a baseline committed before the test, which then does not run.
    /// </summary>
    public float[] TailDirections { get; init; } = [];

    /// <summary>Per tail direction: the class its record was served beyond its stratum's tail threshold (<see cref="TailProfile"/>), or −1.</summary>
    public int[] TailOutputs { get; init; } = [];

    public int ComponentCount => Variances.Length;

    /// <summary>Width of a direction: the whitened components and the reconstruction error.</summary>
    public int DirectionWidth => Variances.Length + 1;

    /// <summary>
    /// The unit direction of an embedding away from the baseline's mean: its whitened projection (each component over its
    /// standard deviation) and, as one more coordinate, the reconstruction error scaled so that both thresholds have the same
    /// length. Records shifted along one fixed direction share it; the baseline's own outliers spread.
    /// </summary>
    public void Direction(ReadOnlySpan<double> projection, double reconstructionError, Span<double> direction)
    {
        double norm = 0;
        for (int k = 0; k < Variances.Length; k++)
        {
            direction[k] = projection[k] / Math.Sqrt(Math.Max(Variances[k], 1e-300));
            norm += direction[k] * direction[k];
        }

        bool scaled = double.IsFinite(ReconstructionThreshold) && ReconstructionThreshold > 0;
        direction[Variances.Length] = scaled ? Math.Sqrt(reconstructionError * OutlierThreshold / ReconstructionThreshold) : 0;
        norm += direction[Variances.Length] * direction[Variances.Length];
        double inverse = norm > 0 ? 1 / Math.Sqrt(norm) : 0;
        for (int k = 0; k <= Variances.Length; k++)
        {
            direction[k] *= inverse;
        }
    }

    /// <summary>
    /// Whether an embedding is an outlier: beyond the baseline's 99.9th percentile of Mahalanobis distance
    /// in the subspace, or of the reconstruction error outside it (NannyML's multivariate drift measure).
    /// </summary>
    public bool IsOutlier(ReadOnlySpan<float> embedding, Span<double> projection) =>
        Distance(embedding, projection, out double error) > OutlierThreshold || error > ReconstructionThreshold;

    /// <summary>Squared Mahalanobis distance of an embedding in the subspace; fills its projection.</summary>
    public double Distance(ReadOnlySpan<float> embedding, Span<double> projection) => Distance(embedding, projection, out _);

    /// <summary>Also gives the squared reconstruction error: the part of the centred embedding outside the subspace.</summary>
    public double Distance(ReadOnlySpan<float> embedding, Span<double> projection, out double reconstructionError)
    {
        double norm = 0;
        for (int j = 0; j < Width; j++)
        {
            double centred = embedding[j] - Mean[j];
            norm += centred * centred;
        }

        double explained = 0;
        double d2 = 0;
        for (int k = 0; k < Variances.Length; k++)
        {
            ReadOnlySpan<double> component = Components.AsSpan(k * Width, Width);
            double dot = 0;
            for (int j = 0; j < Width; j++)
            {
                dot += (embedding[j] - Mean[j]) * component[j];
            }

            projection[k] = dot;
            explained += dot * dot;
            d2 += dot * dot / Variances[k];
        }

        reconstructionError = Math.Max(norm - explained, 0);
        return d2;
    }
}
