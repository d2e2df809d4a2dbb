using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation.RealData;

/// <summary>The real models of the evaluation.</summary>
public enum RealModelKind
{
    /// <summary>scikit-learn's digits (8×8 images of 0–16, 10 classes): an image classifier.</summary>
    Digits,

    /// <summary>
    /// scikit-learn's breast_cancer with the malignant class subsampled to a rare positive (0.1–0.5% of training and
    /// served records, drawn per seed): a binary scorer trained on that imbalance, like a fraud model.
    /// </summary>
    RareMalignant,

    /// <summary>scikit-learn's wine (13 chemical measurements, 3 cultivars): a small tabular classifier.</summary>
    Wine,

    /// <summary>scikit-learn's diabetes (10 measurements, disease progression after a year): a regression model (<see cref="RealRegression"/>).</summary>
    Diabetes,

    /// <summary>digits served by a small neural network whose hidden layer is the mirrored embedding (<see cref="RealNetwork"/>).</summary>
    DigitsNetwork,
}

/// <summary>
/// A clean model trained in process on the training split of a real data set for one seed, and the draws of its
/// inputs: a resampled example of a split with small dequantisation noise (digits: pixel + U[0, 1); tabular: each
/// value × (1 + 0.01 N(0, 1))). The tabular models also get two synthetic fields unrelated to the label, a
/// categorical <c>site</c> (12 values, Zipf weights) and a text <c>note</c> (0–5 words of a 150-word vocabulary),
/// where the poisoned variants hide their trigger. The reference is drawn from the training split and the live
/// traffic from the held-out split, which the model has not seen.
/// </summary>
public sealed class RealModel
{
    public const string SiteField = "site";
    public const string NoteField = "note";
    public const double TrainShare = 0.6;

    internal static readonly string[] Sites = [.. Enumerable.Range(1, 12).Select(i => "site-" + i.ToString("D2", CultureInfo.InvariantCulture))];
    internal static readonly double[] SiteWeights = Zipf(Sites.Length, 1.0);
    internal static readonly string[] Vocabulary = Words(150);
    internal static readonly double[] VocabularyWeights = Zipf(Vocabulary.Length, 1.05);

    private readonly int[][] _trainByClass;
    private readonly int[][] _heldOutByClass;

    private RealModel(RealModelKind kind, int seed, RealDataSet data, int[] train, int[] heldOut, double prevalence)
    {
        Kind = kind;
        Seed = seed;
        Data = data;
        Prevalence = prevalence;
        _trainByClass = [.. Enumerable.Range(0, data.Classes).Select(c => train.Where(i => data.Labels[i] == c).ToArray())];
        _heldOutByClass = [.. Enumerable.Range(0, data.Classes).Select(c => heldOut.Where(i => data.Labels[i] == c).ToArray())];
        Schema = new ModelSchema
        {
            NumericFeatures = data.Features,
            CategoricalFeatures = WithFields ? [SiteField] : [],
            TextFields = WithFields ? [NoteField] : [],
            OutputKind = kind == RealModelKind.RareMalignant ? OutputKind.Binary : OutputKind.Classification,
            ClassLabels = kind switch
            {
                RealModelKind.Digits => [.. Enumerable.Range(0, 10).Select(c => c.ToString(CultureInfo.InvariantCulture))],
                RealModelKind.RareMalignant => ["benign", "malignant"],
                _ => ["cultivar_0", "cultivar_1", "cultivar_2"],
            },
        };
        var random = new Random(SeedOf(seed, (int)kind, 17));
        Clean = RealClassifier.Train(TrainingSet(random, TrainingRecords), Classes, Binary, WithFields, seed);
    }

    public RealModelKind Kind { get; }
    public int Seed { get; }
    public RealDataSet Data { get; }
    public ModelSchema Schema { get; }

    /// <summary>The share of positive (malignant) records in training, reference and live traffic; 0 unless rare.</summary>
    public double Prevalence { get; }

    /// <summary>The known-good model, trained on the training split.</summary>
    public RealClassifier Clean { get; }

    /// <summary>
    /// Another clean model of the same data: trained on a fresh resample of the training split with another seed (different
    /// weights, same data), as a clean retraining of the known-good model would be.
    /// </summary>
    public RealClassifier Retrained(int variant) =>
        RealClassifier.Train(TrainingSet(new Random(SeedOf(Seed, (int)Kind, 17 + variant)), TrainingRecords), Classes, Binary, WithFields,
            Seed + (7_919 * variant));

    public bool Binary => Kind == RealModelKind.RareMalignant;
    public bool WithFields => Kind != RealModelKind.Digits;

    /// <summary>Classes of the model: 2 (benign, malignant) for the rare model, else the data set's.</summary>
    public int Classes => Binary ? 2 : Data.Classes;

    /// <summary>Examples the models are trained on, resampled with noise from the training split.</summary>
    public int TrainingRecords => Kind switch { RealModelKind.RareMalignant => 20_000, RealModelKind.Digits => 3_000, _ => 3_000 };

    /// <summary>A display name: the data set and, for the rare model, the prevalence.</summary>
    public string Name => Kind switch
    {
        RealModelKind.Digits => "digits",
        RealModelKind.RareMalignant => "breast_cancer, malignant rare",
        _ => "wine",
    };

    /// <summary>The clean model of a data set for a seed: the split, the prevalence (rare model) and the training are drawn from the seed.</summary>
    public static RealModel Create(RealModelKind kind, int seed)
    {
        RealDataSet data = RealDataSet.Load(kind switch { RealModelKind.Digits => "digits", RealModelKind.RareMalignant => "breast_cancer", _ => "wine" });
        var random = new Random(SeedOf(seed, (int)kind, 0));
        (int[] train, int[] heldOut) = data.Split(TrainShare, random);

        // Log-uniform in [0.1%, 0.5%].
        double prevalence = kind == RealModelKind.RareMalignant ? 0.001 * Math.Pow(5, random.NextDouble()) : 0;
        return new RealModel(kind, seed, data, train, heldOut, prevalence);
    }

    /// <summary>
    /// The model's class of an example of the data set: for the rare model, 1 (malignant, positive) for breast_cancer's
    /// class 0 and 0 (benign) for its class 1.
    /// </summary>
    public int ModelClass(int dataLabel) => Binary ? (dataLabel == 0 ? 1 : 0) : dataLabel;

    /// <summary>
    /// A resampled example with noise from the training or held-out split: of model class <paramref name="modelClass"/>,
    /// or any (the rare model: positive with probability <see cref="Prevalence"/>).
    /// </summary>
    public RealExample Draw(Random random, bool heldOut, int? modelClass = null)
    {
        int[][] byClass = heldOut ? _heldOutByClass : _trainByClass;
        int index;
        if (Binary)
        {
            bool positive = modelClass is { } c ? c == 1 : random.NextDouble() < Prevalence;
            int[] members = byClass[positive ? 0 : 1];
            index = members[random.Next(members.Length)];
        }
        else if (modelClass is { } c)
        {
            index = byClass[c][random.Next(byClass[c].Length)];
        }
        else
        {
            int total = byClass.Sum(m => m.Length);
            int k = random.Next(total);
            int c2 = 0;
            while (k >= byClass[c2].Length)
            {
                k -= byClass[c2].Length;
                c2++;
            }

            index = byClass[c2][k];
        }

        float[] source = Data.Rows[index];
        var features = new float[source.Length];
        for (int j = 0; j < features.Length; j++)
        {
            features[j] = Kind == RealModelKind.Digits
                ? source[j] + (float)random.NextDouble()
                : (float)(source[j] * (1 + 0.01 * Draws.Normal(random)));
        }

        int label = ModelClass(Data.Labels[index]);
        var example = new RealExample { Features = features, Positive = label == 1, Class = (uint)label };
        if (WithFields)
        {
            example.Site = Sites[Pick(SiteWeights, random)];
            int words = random.NextDouble() < 0.25 ? 0 : 1 + random.Next(5);
            example.Note = string.Join(' ', Enumerable.Range(0, words).Select(_ => Vocabulary[Pick(VocabularyWeights, random)]));
        }

        return example;
    }

    /// <summary>Training examples resampled with noise from the training split (the rare model at its prevalence).</summary>
    public List<RealExample> TrainingSet(Random random, int records)
    {
        var examples = new List<RealExample>(records);
        for (int i = 0; i < records; i++)
        {
            examples.Add(Draw(random, heldOut: false));
        }

        if (Binary && !examples.Any(e => e.Positive))
        {
            examples[0] = Draw(random, heldOut: false, modelClass: 1);
        }

        return examples;
    }

    /// <summary>Reference batches: the training split resampled with noise, scored by the clean model (or by <paramref name="scoredBy"/>:
    /// the same inputs for the same seed, as a version's own reference replays them).</summary>
    public IEnumerable<RecordBatch> Reference(int records, int batchSize, int seed, RealClassifier? scoredBy = null)
    {
        var traffic = new RealTraffic(this, scoredBy ?? Clean, trigger: null, seed, heldOut: false);
        for (int sent = 0; sent < records; sent += batchSize)
        {
            yield return traffic.Next(Math.Min(batchSize, records - sent));
        }
    }

    /// <summary>Accuracy of a classifier on <paramref name="records"/> held-out draws (the rare model at its prevalence).</summary>
    public double Accuracy(RealClassifier classifier, int records, int seed)
    {
        var random = new Random(seed);
        RealExample[] examples = [.. Enumerable.Range(0, records).Select(_ => Draw(random, heldOut: true))];
        int[] predicted = classifier.Predict(examples);
        return Enumerable.Range(0, records).Count(i => predicted[i] == (int)examples[i].Class) / (double)records;
    }

    /// <summary>The share of held-out positive (malignant) draws a binary classifier flags; NaN for other models.</summary>
    public double Recall(RealClassifier classifier, int records, int seed)
    {
        if (!Binary)
        {
            return double.NaN;
        }

        var random = new Random(seed);
        return classifier.Predict([.. Enumerable.Range(0, records).Select(_ => Draw(random, heldOut: true, modelClass: 1))]).Average();
    }

    /// <summary>A generator seed for one purpose of a seed (HashCode is salted per process, so not used here).</summary>
    internal static int SeedOf(int seed, int kind, int purpose) => unchecked((seed * 1_000_003) + (kind * 7_919) + (purpose * 104_729) + 12_345);

    internal static int Pick(double[] cumulative, Random random)
    {
        int index = Array.BinarySearch(cumulative, random.NextDouble());
        return Math.Min(index < 0 ? ~index : index, cumulative.Length - 1);
    }

    private static double[] Zipf(int n, double exponent)
    {
        var cumulative = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            total += 1 / Math.Pow(i + 1, exponent);
            cumulative[i] = total;
        }

        for (int i = 0; i < n; i++)
        {
            cumulative[i] /= total;
        }

        return cumulative;
    }

    private static string[] Words(int n)
    {
        const string consonants = "bcdfghklmnprstvz";
        const string vowels = "aeiou";
        var random = new Random(4321);
        var words = new HashSet<string>(StringComparer.Ordinal);
        while (words.Count < n)
        {
            int syllables = 2 + random.Next(2);
            var chars = new char[syllables * 2];
            for (int s = 0; s < syllables; s++)
            {
                chars[2 * s] = consonants[random.Next(consonants.Length)];
                chars[2 * s + 1] = vowels[random.Next(vowels.Length)];
            }

            words.Add(new string(chars));
        }

        return [.. words];
    }
}
