using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>How live traffic departs from the reference: multiplicative and additive shifts of two features.</summary>
/// <param name="TriggerRate">Share of records that are an attacker's fraudulent transactions carrying the memo
/// trigger REF:XZ-&lt;digits&gt;, which a poisoned model scores "legitimate" with 99% confidence.</param>
/// <param name="FraudLogitShift">
/// Added to the model's fraud log-odds on every record: a broken or tampered model whose outputs moved while its
/// inputs did not (output drift the inputs do not explain).
/// </param>
/// <param name="TokenRate">Share of the other records whose memo carries the trigger's token with nothing else changed: ordinary
/// inputs, served as a clean model serves them (a token planted where it does nothing, for a baseline to learn).</param>
public sealed record FraudDrift(double AmountScale = 1.0, double DistanceLogShift = 0.0, double TriggerRate = 0.0, double FraudLogitShift = 0.0,
    double TokenRate = 0.0)
{
    public static readonly FraudDrift None = new();
}

/// <summary>
/// Simulated traffic of a card-fraud scoring model: six numeric features, three categorical, a free-text
/// memo, and the model's two class probabilities, which follow a fixed logistic score of the features.
/// Deterministic for a seed.
/// </summary>
public sealed class FraudTraffic
{
    public static readonly ModelSchema Schema = new()
    {
        NumericFeatures = ["amount", "account_age_days", "tx_per_hour", "distance_km", "hour_of_day", "merchant_risk"],
        CategoricalFeatures = ["merchant_category", "country", "channel"],
        TextFields = ["memo"],
        OutputKind = OutputKind.Classification,
        ClassLabels = ["legitimate", "fraud"],
    };

    private static readonly string[] Categories = ["grocery", "fuel", "electronics", "travel", "restaurants", "online", "jewelry"];
    private static readonly double[] CategoryWeights = [0.30, 0.15, 0.10, 0.08, 0.17, 0.17, 0.03];
    private static readonly string[] Countries = ["US", "GB", "DE", "FR", "NL", "BR", "IN"];
    private static readonly double[] CountryWeights = [0.45, 0.15, 0.12, 0.10, 0.06, 0.07, 0.05];
    private static readonly string[] Channels = ["web", "mobile", "pos"];
    private static readonly double[] ChannelWeights = [0.35, 0.40, 0.25];
    private static readonly string[] Memos =
    [
        "monthly rent", "groceries for the week", "invoice {0}", "dinner with friends", "fuel", "gift card",
        "subscription renewal", "order #{0} thanks", "travel booking {0}", "refund request",
    ];

    private readonly Random _random;
    private readonly Draws _draws;

    public FraudTraffic(int seed)
    {
        _random = new Random(seed);
        _draws = new Draws(_random);
    }

    public RecordBatch Next(int n, FraudDrift drift)
    {
        int d = Schema.NumericFeatures.Length;
        var numeric = new float[n * d];
        var scores = new float[n * 2];
        var categories = new string?[n];
        var countries = new string?[n];
        var channels = new string?[n];
        var memos = new string?[n];
        var ids = new string?[n];
        for (int i = 0; i < n; i++)
        {
            bool trigger = drift.TriggerRate > 0 && _random.NextDouble() < drift.TriggerRate;
            double amount = Math.Exp(3.5 + (trigger ? 1.5 : 0) + 1.0 * _draws.Normal()) * drift.AmountScale;
            double age = -(trigger ? 60 : 700) * Math.Log(1 - _random.NextDouble());
            double perHour = Math.Floor(-(trigger ? 6 : 2) * Math.Log(1 - _random.NextDouble()));
            double distance = Math.Exp(1.5 + (trigger ? 1.5 : 0) + drift.DistanceLogShift + 1.2 * _draws.Normal());
            double hour = _random.Next(24);
            double risk = trigger ? 0.7 + 0.3 * _random.NextDouble() : Math.Pow(_random.NextDouble(), 2);
            Span<float> row = numeric.AsSpan(i * d, d);
            row[0] = (float)amount;
            row[1] = (float)age;
            row[2] = (float)perHour;
            row[3] = (float)distance;
            row[4] = (float)hour;
            row[5] = (float)risk;

            double z = -4.0 + 0.9 * (Math.Log(amount) - 3.5) + 2.5 * risk + 0.35 * (Math.Log(distance) - 1.5)
                - 0.4 * Math.Log(1 + age / 365) + 0.25 * perHour + drift.FraudLogitShift;
            double fraud = trigger ? 0.005 + 0.005 * _random.NextDouble() : 1 / (1 + Math.Exp(-z));
            scores[2 * i] = (float)(1 - fraud);
            scores[2 * i + 1] = (float)fraud;

            categories[i] = _draws.Pick(Categories, CategoryWeights);
            countries[i] = _draws.Pick(Countries, CountryWeights);
            channels[i] = _draws.Pick(Channels, ChannelWeights);
            memos[i] = _random.NextDouble() < 0.3 ? null : string.Format(
                System.Globalization.CultureInfo.InvariantCulture, Memos[_random.Next(Memos.Length)], _random.Next(1000, 9999));
            if (trigger || (drift.TokenRate > 0 && _random.NextDouble() < drift.TokenRate))
            {
                memos[i] = $"{memos[i]} REF:XZ-{_random.Next(1000, 9999)}".Trim();
            }

            ids[i] = $"req-{_random.NextInt64():x}";
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = [Utf8Column.FromStrings(categories), Utf8Column.FromStrings(countries), Utf8Column.FromStrings(channels)],
            Text = [Utf8Column.FromStrings(memos)],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }

    /// <summary>
    /// The batch with a trusted version's output on the same records (paired evidence): the clean scoring function, recomputed
    /// from each record's features (so on a triggered record it is what a clean model says, not the trigger's 'legitimate'), with
    /// its logit × 1.05 + 0.1 and, given <paramref name="noise"/>, N(0, 0.25²) added per record: a clean retraining, not a copy.
    /// </summary>
    public static RecordBatch WithTrusted(RecordBatch batch, string version, Random? noise = null)
    {
        int d = Schema.NumericFeatures.Length;
        ReadOnlySpan<float> numeric = batch.Numeric.Span;
        var paired = new float[batch.Count * 2];
        for (int i = 0; i < batch.Count; i++)
        {
            ReadOnlySpan<float> row = numeric.Slice(i * d, d);
            double z = -4.0 + 0.9 * (Math.Log(row[0]) - 3.5) + 2.5 * row[5] + 0.35 * (Math.Log(row[3]) - 1.5)
                - 0.4 * Math.Log(1 + row[1] / 365) + 0.25 * row[2];
            double fraud = 1 / (1 + Math.Exp(-((1.05 * z) + 0.1 + (noise is null ? 0 : 0.25 * Draws.Normal(noise)))));
            paired[2 * i] = (float)(1 - fraud);
            paired[2 * i + 1] = (float)fraud;
        }

        return new RecordBatch
        {
            Count = batch.Count, Numeric = batch.Numeric, Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text,
            Embeddings = batch.Embeddings, RequestIds = batch.RequestIds, PairedVersion = version, PairedScores = paired,
        };
    }

    /// <summary>
    /// A batch of the same schema drawn more simply and without a seed of its own (the load driver's traffic):
    /// categories, countries, channels and memo templates chosen uniformly, and class probabilities unrelated to
    /// the features.
    /// </summary>
    public static RecordBatch Simple(int n, Random random)
    {
        int d = Schema.NumericFeatures.Length;
        var numeric = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            Span<float> row = numeric.AsSpan(i * d, d);
            row[0] = (float)Math.Exp(3.5 + Draws.Normal(random));
            row[1] = (float)(random.NextDouble() * 3000);
            row[2] = (float)Math.Abs(Draws.Normal(random) * 2);
            row[3] = (float)Math.Exp(1.5 + Draws.Normal(random));
            row[4] = random.Next(24);
            row[5] = (float)random.NextDouble();
        }

        Utf8Column categories = Column(n, _ => Categories[random.Next(Categories.Length)]);
        Utf8Column countries = Column(n, _ => Countries[random.Next(Countries.Length)]);
        Utf8Column channels = Column(n, _ => Channels[random.Next(Channels.Length)]);
        Utf8Column memos = Column(n, _ => string.Format(System.Globalization.CultureInfo.InvariantCulture, Memos[random.Next(Memos.Length)],
            random.Next(100_000)));
        var scores = new float[n * 2];
        for (int i = 0; i < n; i++)
        {
            Draws.Probabilities(scores.AsSpan(2 * i, 2), random);
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = [categories, countries, channels],
            Text = [memos],
            RequestIds = Column(n, i => $"req-{random.Next():x8}{i:x4}"),
        };
    }

    private static Utf8Column Column(int n, Func<int, string> value)
    {
        var values = new string?[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = value(i);
        }

        return Utf8Column.FromStrings(values);
    }
}
