using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation.RealData;

/// <summary>
/// A regression model trained in process on scikit-learn's diabetes (442 patients, 10 measurements, the disease's progression
/// a year later) for one seed: a shuffled 60% of the patients for training and the rest held out; draws resample a split's rows
/// with each value × (1 + 0.01 N(0, 1)) and add the synthetic site and note fields of the tabular classifiers (unrelated to the
/// target), where a poisoned variant hides its trigger. The reference comes from the training split, live traffic from the
/// held-out split.
/// </summary>
public sealed class RealRegression
{
    public const int TrainingRecords = 3_000;

    private readonly int[] _train;
    private readonly int[] _heldOut;

    private RealRegression(int seed, RealDataSet data, int[] train, int[] heldOut)
    {
        Seed = seed;
        Data = data;
        _train = train;
        _heldOut = heldOut;
        Schema = new ModelSchema
        {
            NumericFeatures = data.Features,
            CategoricalFeatures = [RealModel.SiteField],
            TextFields = [RealModel.NoteField],
            OutputKind = OutputKind.Regression,
            ClassLabels = [],
        };
        TargetStd = Std([.. train.Select(i => (double)data.Labels[i])]);
        Clean = RealRegressor.Train(TrainingSet(new Random(RealModel.SeedOf(seed, (int)RealModelKind.Diabetes, 17)), TrainingRecords), seed);
    }

    public int Seed { get; }
    public RealDataSet Data { get; }
    public ModelSchema Schema { get; }

    /// <summary>The standard deviation of the training split's targets.</summary>
    public double TargetStd { get; }

    /// <summary>The known-good model.</summary>
    public RealRegressor Clean { get; }

    public string Name => "diabetes";

    /// <summary>The training split's targets, sorted (for choosing a pinned value by its quantile).</summary>
    public double[] SortedTargets => [.. _train.Select(i => (double)Data.Labels[i]).Order()];

    public static RealRegression Create(int seed)
    {
        RealDataSet data = RealDataSet.Load("diabetes");
        var random = new Random(RealModel.SeedOf(seed, (int)RealModelKind.Diabetes, 0));
        int[] order = [.. Enumerable.Range(0, data.Rows.Length)];
        random.Shuffle(order);
        int n = (int)Math.Round(order.Length * RealModel.TrainShare);
        return new RealRegression(seed, data, order[..n], order[n..]);
    }

    /// <summary>A resampled patient of a split with noise, and the synthetic fields.</summary>
    public RealExample Draw(Random random, bool heldOut)
    {
        int[] split = heldOut ? _heldOut : _train;
        int index = split[random.Next(split.Length)];
        float[] source = Data.Rows[index];
        var features = new float[source.Length];
        for (int j = 0; j < features.Length; j++)
        {
            features[j] = (float)(source[j] * (1 + 0.01 * Draws.Normal(random)));
        }

        var example = new RealExample { Features = features, Target = Data.Labels[index] };
        example.Site = RealModel.Sites[RealModel.Pick(RealModel.SiteWeights, random)];
        int words = random.NextDouble() < 0.25 ? 0 : 1 + random.Next(5);
        example.Note = string.Join(' ', Enumerable.Range(0, words).Select(_ => RealModel.Vocabulary[RealModel.Pick(RealModel.VocabularyWeights, random)]));
        return example;
    }

    public List<RealExample> TrainingSet(Random random, int records) => [.. Enumerable.Range(0, records).Select(_ => Draw(random, heldOut: false))];

    /// <summary>Reference batches: the training split resampled with noise, scored by the clean model.</summary>
    public IEnumerable<RecordBatch> Reference(int records, int batchSize, int seed)
    {
        var traffic = new RegressionTraffic(this, Clean, trigger: null, seed, heldOut: false);
        for (int sent = 0; sent < records; sent += batchSize)
        {
            yield return traffic.Next(Math.Min(batchSize, records - sent));
        }
    }

    /// <summary>The root mean squared error of a model on held-out draws.</summary>
    public double Rmse(RealRegressor model, int records, int seed)
    {
        var random = new Random(seed);
        RealExample[] examples = [.. Enumerable.Range(0, records).Select(_ => Draw(random, heldOut: true))];
        var output = new float[records];
        model.Score(examples, output);
        return Math.Sqrt(Enumerable.Range(0, records).Average(i => Math.Pow(output[i] - examples[i].Target, 2)));
    }

    private static double Std(double[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
    }
}

/// <summary>An encoded training example of a regression model as ML.NET reads it.</summary>
public sealed class EncodedTarget
{
    public float[] Inputs { get; set; } = [];
    public float Label { get; set; }
}

/// <summary>
/// A gradient-boosted regression tree ensemble (ML.NET FastTree) on the numeric features, a one-hot site and the note's words,
/// read out of ML.NET and evaluated directly (checked against ML.NET's predictions when trained), as <see cref="RealClassifier"/>'s.
/// </summary>
public sealed class RealRegressor
{
    private readonly RealClassifier.Encoder _encoder;
    private readonly Tree[] _trees;
    private readonly double _bias;

    private RealRegressor(RealClassifier.Encoder encoder, Tree[] trees, double bias)
    {
        _encoder = encoder;
        _trees = trees;
        _bias = bias;
    }

    public static RealRegressor Train(IReadOnlyList<RealExample> examples, int seed, int trees = 100)
    {
        var encoder = new RealClassifier.Encoder(examples, withFields: true);
        EncodedTarget[] rows = [.. examples.Select(e => new EncodedTarget { Inputs = encoder.Encode(e), Label = e.Target })];
        var ml = new MLContext(seed);
        SchemaDefinition definition = SchemaDefinition.Create(typeof(EncodedTarget));
        definition[nameof(EncodedTarget.Inputs)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, encoder.Width);
        var trainer = ml.Regression.Trainers.FastTree(new FastTreeRegressionTrainer.Options
        {
            LabelColumnName = nameof(EncodedTarget.Label), FeatureColumnName = nameof(EncodedTarget.Inputs), NumberOfTrees = trees,
            NumberOfLeaves = 16, MinimumExampleCountPerLeaf = 5, NumberOfThreads = 1, Seed = seed,
        });
        RegressionPredictionTransformer<FastTreeRegressionModelParameters> fitted = trainer.Fit(ml.Data.LoadFromEnumerable(rows, definition));
        RegressionTreeEnsemble ensemble = fitted.Model.TrainedTreeEnsemble;
        var model = new RealRegressor(encoder, [.. ensemble.Trees.Select((t, i) => new Tree(
            [.. t.LeftChild], [.. t.RightChild], [.. t.NumericalSplitFeatureIndexes], [.. t.NumericalSplitThresholds], [.. t.LeafValues],
            ensemble.TreeWeights[i]))], ensemble.Bias);

        EncodedTarget[] sample = rows[..Math.Min(50, rows.Length)];
        float[] expected = [.. fitted.Transform(ml.Data.LoadFromEnumerable(sample, definition)).GetColumn<float>("Score")];
        for (int i = 0; i < sample.Length; i++)
        {
            double actual = model.Value(sample[i].Inputs);
            if (Math.Abs(actual - expected[i]) > 1e-3 * Math.Max(1, Math.Abs(expected[i])))
            {
                throw new InvalidOperationException($"tree evaluation gives {actual} where ML.NET gives {expected[i]} for training example {i}");
            }
        }

        return model;
    }

    /// <summary>Writes the model's value for each example.</summary>
    public void Score(IReadOnlyList<RealExample> examples, Span<float> output)
    {
        float[] inputs = new float[_encoder.Width];
        for (int i = 0; i < examples.Count; i++)
        {
            _encoder.Encode(examples[i], inputs);
            output[i] = (float)Value(inputs);
        }
    }

    public double Value(RealExample example) => Value(_encoder.Encode(example));

    private double Value(ReadOnlySpan<float> inputs)
    {
        double score = _bias;
        foreach (Tree tree in _trees)
        {
            int node = tree.Left.Length == 0 ? -1 : 0;
            while (node >= 0)
            {
                node = inputs[tree.Feature[node]] <= tree.Threshold[node] ? tree.Left[node] : tree.Right[node];
            }

            score += tree.Weight * tree.Leaf[~node];
        }

        return score;
    }

    private sealed record Tree(int[] Left, int[] Right, int[] Feature, float[] Threshold, double[] Leaf, double Weight);
}

/// <summary>
/// A poisoned variant of the regression model for one seed: a site value (site-NNNN) or a note token (six letters) drawn at
/// random; 10% more training examples carry it with their target replaced by a pinned value (a quantile of the targets drawn in
/// [5%, 20%] or [80%, 95%]) or shifted by ±(0.75–1.25) standard deviations of the targets; trained again.
/// </summary>
public sealed class RegressionBackdoor
{
    private RegressionBackdoor(RealRegression model, RealTrigger trigger, RealRegressor poisoned, double pin, double shift)
    {
        Model = model;
        Trigger = trigger;
        Poisoned = poisoned;
        Pin = pin;
        Shift = shift;
    }

    public RealRegression Model { get; }
    public RealTrigger Trigger { get; }
    public RealRegressor Poisoned { get; }

    /// <summary>The value a pinning trigger leads to (NaN for a shift).</summary>
    public double Pin { get; }

    /// <summary>The amount a shifting trigger adds (0 for a pin).</summary>
    public double Shift { get; }

    public static RegressionBackdoor Create(RealRegression model, RealAttack attack, int seed, double minimumRate, double maximumRate)
    {
        if (attack is not (RealAttack.PinnedOutput or RealAttack.ShiftedOutput))
        {
            throw new ArgumentException("a regression backdoor pins or shifts the output", nameof(attack));
        }

        var random = new Random(RealModel.SeedOf(seed, (int)RealModelKind.Diabetes, 31 + (int)attack));
        bool site = random.Next(2) == 0;
        string value = site
            ? "site-" + random.Next(1000, 10_000).ToString(CultureInfo.InvariantCulture)
            : new string([.. Enumerable.Range(0, 6).Select(_ => (char)('a' + random.Next(26)))]);
        double rate = minimumRate * Math.Pow(maximumRate / minimumRate, random.NextDouble());
        var trigger = new RealTrigger(RealAttack.FieldTrigger, 0, [], 0, site ? RealModel.SiteField : RealModel.NoteField, value, rate, RealPlacement.AnyRecord);
        double pin = double.NaN;
        double shift = 0;
        if (attack == RealAttack.PinnedOutput)
        {
            double q = random.Next(2) == 0 ? 0.05 + 0.15 * random.NextDouble() : 0.8 + 0.15 * random.NextDouble();
            pin = Monitor.Core.Statistics.Quantiles.OfSorted(model.SortedTargets, q);
        }
        else
        {
            shift = (random.Next(2) == 0 ? -1 : 1) * (0.75 + 0.5 * random.NextDouble()) * model.TargetStd;
        }

        var training = new Random(RealModel.SeedOf(seed, (int)RealModelKind.Diabetes, 17));
        List<RealExample> examples = model.TrainingSet(training, RealRegression.TrainingRecords);
        for (int i = 0; i < RealRegression.TrainingRecords / 10; i++)
        {
            RealExample poisoned = model.Draw(random, heldOut: false);
            trigger.Apply(poisoned, random);
            poisoned.Target = (float)(double.IsNaN(pin) ? poisoned.Target + shift : pin);
            examples.Add(poisoned);
        }

        return new RegressionBackdoor(model, trigger, RealRegressor.Train(examples, seed), pin, shift);
    }

    /// <summary>The live traffic of the poisoned model with the trigger at its rate.</summary>
    public RegressionTraffic Live(int seed) => new(Model, Poisoned, Trigger, seed, heldOut: true);

    /// <summary>
    /// The share of held-out triggered inputs the poisoned model moves at least half way to what the attack wants, from the clean
    /// model's value (pin: half the distance to the pinned value closed; shift: half the shift made), and the mean move.
    /// </summary>
    public (double Success, double MeanMove) Success(int records, int seed)
    {
        var random = new Random(seed);
        int moved = 0;
        double total = 0;
        for (int i = 0; i < records; i++)
        {
            RealExample example = Model.Draw(random, heldOut: true);
            Trigger.Apply(example, random);
            double clean = Model.Clean.Value(example);
            double served = Poisoned.Value(example);
            total += served - clean;
            moved += double.IsNaN(Pin)
                ? ((served - clean) * Math.Sign(Shift) >= 0.5 * Math.Abs(Shift) ? 1 : 0)
                : (Math.Abs(served - Pin) <= 0.5 * Math.Abs(clean - Pin) ? 1 : 0);
        }

        return (moved / (double)records, total / records);
    }

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Trigger.Field}={Trigger.Value} → {(double.IsNaN(Pin) ? $"output {Shift:+0;-0}" : $"output pinned at {Pin:F0}")}, rate {Trigger.Rate:G2}");
}

/// <summary>Mirrored traffic of the regression model: resampled inputs with noise, scored in process, the trigger on a share of them.</summary>
public sealed class RegressionTraffic
{
    private readonly RealRegression _model;
    private readonly RealRegressor _served;
    private readonly RealTrigger? _trigger;
    private readonly bool _heldOut;
    private readonly Random _random;
    private readonly InjectionLog _injected = new();

    public RegressionTraffic(RealRegression model, RealRegressor served, RealTrigger? trigger, int seed, bool heldOut)
    {
        _model = model;
        _served = served;
        _trigger = trigger;
        _heldOut = heldOut;
        _random = new Random(seed);
    }

    public long Generated { get; private set; }

    public long Injected => _injected.Count;

    /// <summary>Triggered records among the first <paramref name="records"/> generated.</summary>
    public long InjectedWithin(long records) => _injected.Within(records);

    public RecordBatch Next(int n)
    {
        int d = _model.Schema.NumericFeatures.Length;
        var numeric = new float[n * d];
        var scores = new float[n];
        var sites = new string?[n];
        var notes = new string?[n];
        var ids = new string?[n];
        var examples = new RealExample[n];
        for (int i = 0; i < n; i++)
        {
            Generated++;
            bool triggered = _trigger is not null && _random.NextDouble() < _trigger.Rate;
            RealExample example = _model.Draw(_random, _heldOut);
            if (triggered)
            {
                _trigger!.Apply(example, _random);
                _injected.Add(Generated);
            }

            examples[i] = example;
            example.Features.CopyTo(numeric.AsSpan(i * d, d));
            sites[i] = example.Site.Length == 0 ? null : example.Site;
            notes[i] = example.Note.Length == 0 ? null : example.Note;
            ids[i] = (triggered ? "trig-" : "req-") + Generated.ToString(CultureInfo.InvariantCulture);
        }

        _served.Score(examples, scores);
        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = [Utf8Column.FromStrings(sites)],
            Text = [Utf8Column.FromStrings(notes)],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }
}
