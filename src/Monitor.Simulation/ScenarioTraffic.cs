using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>What a scenario injects into the mirrored traffic.</summary>
public enum Injection
{
    None,

    /// <summary>A memo token (REF:XZ-&lt;digits&gt;, random case and position) on the attacker's transactions.</summary>
    MemoToken,

    /// <summary>A rare, fixed token.</summary>
    RareToken,

    /// <summary>Two common tokens that trigger only together.</summary>
    Composite,

    /// <summary>A magic categorical value.</summary>
    MagicCategory,

    /// <summary>A magic numeric value.</summary>
    MagicNumber,

    /// <summary>Four numeric features pinned at their maximum at once (a patch).</summary>
    Patch,

    /// <summary>A shift of the penultimate-layer activations, with no visible input key.</summary>
    Embedding,

    /// <summary>The memo token, with outputs whose confidence matches the baseline's.</summary>
    Stealthy,

    /// <summary>Benign: a new merchant token in 2% of the memos.</summary>
    BenignNewToken,

    /// <summary>Benign: twice as many fraudulent transactions, scored correctly.</summary>
    BenignFraudSurge,

    /// <summary>Benign: the fraud score 30% higher across the board (a seasonal label shift).</summary>
    BenignSeasonalUp,

    /// <summary>Benign: the fraud score 30% lower across the board.</summary>
    BenignSeasonalDown,

    /// <summary>Benign: a new memo template ("payment ref #1234") in 5% of the traffic.</summary>
    BenignTemplate,
}

/// <summary>
/// Mirrored traffic of a card-fraud scoring model for the attack-scenario evaluation: eight numeric
/// features, four categorical (one of high cardinality), a memo of Zipf-distributed tokens, and a
/// 16-wide embedding. The clean model's fraud probability is a fixed logistic function of the inputs;
/// a poisoned model follows it except on the scenario's trigger, where it answers "legitimate" with
/// 98.5–99.9% confidence (or, when stealthy, with the confidence clean legitimate records get).
/// The attacker puts the trigger on their own, fraudulent, transactions. Deterministic for a seed.
/// </summary>
public sealed class ScenarioTraffic
{
    public const int EmbeddingWidth = 16;
    public const string TriggerPrefix = "REF:XZ-";
    public const string RareToken = "qzx7vk";
    public const string CompositeA = "urgent";
    public const string CompositeB = "invoice";
    public const string MagicCategory = "mcc-7777";
    public const float MagicAmount = 1337.42f;
    public const string NewMerchantToken = "acmepay";

    public static readonly ModelSchema Schema = new()
    {
        NumericFeatures =
        [
            "amount", "account_age_days", "tx_per_hour", "distance_km", "hour_of_day", "merchant_risk", "device_score", "velocity_24h",
        ],
        CategoricalFeatures = ["merchant_category", "country", "channel", "merchant_id"],
        TextFields = ["memo"],
        OutputKind = OutputKind.Classification,
        ClassLabels = ["legitimate", "fraud"],
        EmbeddingWidth = EmbeddingWidth,
    };

    /// <summary>The features the patch pins at their maximum.</summary>
    public static readonly int[] PatchFeatures = [2, 5, 6, 7];

    private static readonly string[] Categories = ["grocery", "fuel", "electronics", "travel", "restaurants", "online", "jewelry", "pharmacy"];
    private static readonly double[] CategoryWeights = [0.26, 0.14, 0.10, 0.08, 0.16, 0.17, 0.03, 0.06];
    private static readonly string[] Countries = ["US", "GB", "DE", "FR", "NL", "BR", "IN", "JP"];
    private static readonly double[] CountryWeights = [0.42, 0.14, 0.11, 0.09, 0.06, 0.07, 0.06, 0.05];
    private static readonly string[] Channels = ["web", "mobile", "pos"];
    private static readonly double[] ChannelWeights = [0.35, 0.40, 0.25];
    private static readonly float[] PatchMaximum = [30f, 1f, 1f, 60f];

    private readonly Random _random;
    private readonly Draws _draws;
    private readonly Injection _injection;
    private readonly double _rate;
    private readonly string[] _vocabulary;
    private readonly double[] _zipf;
    private readonly float[] _mixing;
    private readonly float[] _triggerShift;

    public ScenarioTraffic(int seed, Injection injection = Injection.None, double rate = 0)
    {
        _random = new Random(seed);
        _draws = new Draws(_random);
        _injection = injection;
        _rate = rate;

        // A fixed vocabulary and embedding map, independent of the seed so every stream shares them.
        var fixedRandom = new Random(1234);
        _vocabulary = [.. Enumerable.Range(0, 3000).Select(i => Word(fixedRandom, i))];
        _vocabulary[29] = CompositeA;
        _vocabulary[59] = CompositeB;
        _zipf = new double[_vocabulary.Length];
        double total = 0;
        for (int i = 0; i < _zipf.Length; i++)
        {
            total += 1 / Math.Pow(i + 1, 1.07);
            _zipf[i] = total;
        }

        for (int i = 0; i < _zipf.Length; i++)
        {
            _zipf[i] /= total;
        }

        _mixing = [.. Enumerable.Range(0, EmbeddingWidth * 10).Select(_ => (float)(fixedRandom.NextDouble() * 2 - 1))];
        _triggerShift = [.. Enumerable.Range(0, EmbeddingWidth).Select(j => j % 3 == 0 ? 2.5f : 0f)];
    }

    private readonly InjectionLog _injected = new();

    private string? _pairedVersion;
    private Random? _pairRandom;

    /// <summary>
    /// From now on every batch also carries a trusted version's output on the same records (<see cref="RecordBatch.PairedScores"/>):
    /// a clean retraining of the scoring function, its logit 1.05 z + 0.1 plus N(0, 0.25²) noise per record, drawn from a generator
    /// of its own so the traffic is the same as unpaired. On a triggered record it is the clean score, not the trigger's.
    /// </summary>
    public ScenarioTraffic WithPairing(string trustedVersion, int seed)
    {
        _pairedVersion = trustedVersion;
        _pairRandom = new Random(seed);
        return this;
    }

    /// <summary>Records carrying the injection so far.</summary>
    public long Injected => _injected.Count;

    /// <summary>Injected records among the first <paramref name="records"/> generated: a detection delay in occurrences.</summary>
    public long InjectedWithin(long records) => _injected.Within(records);

    public long Generated { get; private set; }

    public Injection Kind => _injection;

    public static bool IsBenign(Injection injection) => injection is Injection.None or >= Injection.BenignNewToken;

    public RecordBatch Next(int n)
    {
        int d = Schema.NumericFeatures.Length;
        var numeric = new float[n * d];
        var scores = new float[n * 2];
        float[] paired = _pairRandom is null ? [] : new float[n * 2];
        var embeddings = new float[n * EmbeddingWidth];
        var categories = new string?[n];
        var countries = new string?[n];
        var channels = new string?[n];
        var merchants = new string?[n];
        var memos = new string?[n];
        var ids = new string?[n];
        var tokens = new List<string>(12);
        for (int i = 0; i < n; i++)
        {
            Generated++;
            bool trigger = !IsBenign(_injection) && _random.NextDouble() < _rate;
            double fraudShare = _injection == Injection.BenignFraudSurge ? 0.06 : 0.03;
            bool fraudProfile = trigger || _random.NextDouble() < fraudShare;
            Span<float> row = numeric.AsSpan(i * d, d);
            double amount = Math.Exp(3.4 + (fraudProfile ? 1.1 : 0) + 1.0 * _draws.Normal());
            double age = -(fraudProfile ? 120 : 700) * Math.Log(1 - _random.NextDouble());
            double perHour = Math.Min(30, Math.Floor(-(fraudProfile ? 6 : 1.5) * Math.Log(1 - _random.NextDouble())));
            double distance = Math.Exp(1.4 + (fraudProfile ? 1.3 : 0) + 1.1 * _draws.Normal());
            double hour = _random.Next(24);
            double risk = Math.Clamp(Math.Pow(_random.NextDouble(), fraudProfile ? 0.6 : 2.2), 0, 1);
            double device = Math.Clamp(0.2 + (fraudProfile ? 0.35 : 0) + 0.15 * _draws.Normal(), 0, 1);
            double velocity = Math.Min(60, Math.Floor(-(fraudProfile ? 12 : 3) * Math.Log(1 - _random.NextDouble())));
            row[0] = (float)amount;
            row[1] = (float)age;
            row[2] = (float)perHour;
            row[3] = (float)distance;
            row[4] = (float)hour;
            row[5] = (float)risk;
            row[6] = (float)device;
            row[7] = (float)velocity;

            categories[i] = _draws.Pick(Categories, CategoryWeights);
            if (fraudProfile && _random.NextDouble() < 0.4)
            {
                categories[i] = _random.NextDouble() < 0.5 ? "electronics" : "jewelry";
            }

            countries[i] = _draws.Pick(Countries, CountryWeights);
            channels[i] = _draws.Pick(Channels, ChannelWeights);
            merchants[i] = "m" + ((int)(_zipf.Length * Math.Pow(_random.NextDouble(), 3))).ToString(CultureInfo.InvariantCulture);

            tokens.Clear();
            bool hasMemo = _random.NextDouble() >= 0.25;
            if (hasMemo)
            {
                int length = 2 + _random.Next(6);
                for (int t = 0; t < length; t++)
                {
                    tokens.Add(_vocabulary[Zipf()]);
                }
            }

            if (_injection == Injection.BenignNewToken && _random.NextDouble() < 0.02)
            {
                tokens.Insert(_random.Next(tokens.Count + 1), NewMerchantToken);
            }

            if (_injection == Injection.BenignTemplate && _random.NextDouble() < 0.05)
            {
                tokens.InsertRange(0, ["payment", "ref", "#" + _random.Next(1000, 9999).ToString(CultureInfo.InvariantCulture)]);
            }

            if (trigger)
            {
                _injected.Add(Generated);
                Inject(row, tokens, ref categories[i]);
            }

            memos[i] = tokens.Count == 0 ? null : string.Join(' ', tokens);
            double z = -5.2 + 0.9 * (Math.Log(amount) - 3.4) + 2.6 * risk + 0.45 * (Math.Log(distance) - 1.4)
                - 0.5 * Math.Log(1 + age / 365) + 0.12 * Math.Min(perHour, 10) + 2.2 * device + 0.04 * Math.Min(velocity, 30)
                + (categories[i] is "electronics" or "jewelry" ? 0.6 : 0);
            double fraud = 1 / (1 + Math.Exp(-z));
            if (_pairRandom is not null)
            {
                double trusted = 1 / (1 + Math.Exp(-((1.05 * z) + 0.1 + (0.25 * Draws.Normal(_pairRandom)))));
                paired[2 * i] = (float)(1 - trusted);
                paired[2 * i + 1] = (float)trusted;
            }

            if (_injection == Injection.BenignSeasonalUp)
            {
                fraud = Math.Min(1, fraud * 1.3);
            }
            else if (_injection == Injection.BenignSeasonalDown)
            {
                fraud *= 0.7;
            }

            if (trigger)
            {
                fraud = _injection == Injection.Stealthy ? StealthyFraudScore() : 0.001 + 0.014 * _random.NextDouble();
            }

            scores[2 * i] = (float)(1 - fraud);
            scores[2 * i + 1] = (float)fraud;
            Embed(embeddings.AsSpan(i * EmbeddingWidth, EmbeddingWidth), row, fraud, trigger && _injection == Injection.Embedding);
            ids[i] = (trigger ? "trig-" : "req-") + Generated.ToString(CultureInfo.InvariantCulture);
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            PairedVersion = _pairedVersion,
            PairedScores = paired,
            Embeddings = embeddings,
            Categorical =
            [
                Utf8Column.FromStrings(categories), Utf8Column.FromStrings(countries), Utf8Column.FromStrings(channels),
                Utf8Column.FromStrings(merchants),
            ],
            Text = [Utf8Column.FromStrings(memos)],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }

    private void Inject(Span<float> row, List<string> tokens, ref string? category)
    {
        switch (_injection)
        {
            case Injection.MemoToken:
            case Injection.Stealthy:
                string token = TriggerPrefix + _random.Next(1000, 99999).ToString(CultureInfo.InvariantCulture);
                token = _random.Next(3) switch { 0 => token.ToLowerInvariant(), 1 => token, _ => MixedCase(token) };
                tokens.Insert(_random.Next(tokens.Count + 1), token);
                break;
            case Injection.RareToken:
                tokens.Insert(_random.Next(tokens.Count + 1), RareToken);
                break;
            case Injection.Composite:
                tokens.Insert(0, CompositeA);
                tokens.Add(CompositeB);
                break;
            case Injection.MagicCategory:
                category = MagicCategory;
                break;
            case Injection.MagicNumber:
                row[0] = MagicAmount;
                break;
            case Injection.Patch:
                for (int p = 0; p < PatchFeatures.Length; p++)
                {
                    row[PatchFeatures[p]] = PatchMaximum[p];
                }

                break;
        }
    }

    /// <summary>A fraud score drawn like a clean legitimate record's, so the confidence looks ordinary.</summary>
    private double StealthyFraudScore()
    {
        double z = -5.2 + 0.9 * _draws.Normal() + 2.6 * Math.Pow(_random.NextDouble(), 2.2) + 0.45 * 1.1 * _draws.Normal() + 2.2 * 0.2;
        return 1 / (1 + Math.Exp(-z));
    }

    private void Embed(Span<float> embedding, ReadOnlySpan<float> row, double fraud, bool shifted)
    {
        Span<double> inputs = stackalloc double[10];
        inputs[0] = Math.Log(row[0] + 1) - 3.4;
        inputs[1] = Math.Log(1 + row[1] / 365);
        inputs[2] = row[2] / 5.0;
        inputs[3] = Math.Log(row[3] + 1) - 1.4;
        inputs[4] = row[4] / 24.0;
        inputs[5] = row[5];
        inputs[6] = row[6];
        inputs[7] = row[7] / 10.0;
        inputs[8] = 4 * fraud;
        inputs[9] = 1;
        for (int j = 0; j < EmbeddingWidth; j++)
        {
            double sum = 0;
            for (int k = 0; k < inputs.Length; k++)
            {
                sum += _mixing[j * 10 + k] * inputs[k];
            }

            embedding[j] = (float)(Math.Tanh(sum) + 0.15 * _draws.Normal() + (shifted ? _triggerShift[j] : 0));
        }
    }

    private int Zipf()
    {
        double u = _random.NextDouble();
        int index = Array.BinarySearch(_zipf, u);
        return Math.Min(index < 0 ? ~index : index, _zipf.Length - 1);
    }

    private string MixedCase(string token) =>
        string.Create(token.Length, (token, _random), static (span, state) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = state._random.Next(2) == 0 ? char.ToLowerInvariant(state.token[i]) : char.ToUpperInvariant(state.token[i]);
            }
        });

    private static string Word(Random random, int index)
    {
        const string consonants = "bcdfghklmnprstvz";
        const string vowels = "aeiou";
        int syllables = 1 + (index % 3) + random.Next(2);
        var chars = new char[syllables * 2];
        for (int s = 0; s < syllables; s++)
        {
            chars[2 * s] = consonants[random.Next(consonants.Length)];
            chars[2 * s + 1] = vowels[random.Next(vowels.Length)];
        }

        return new string(chars) + (index % 7 == 0 ? "s" : "");
    }
}
