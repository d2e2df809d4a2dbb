using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;

namespace Monitor.Simulation.RealData;

/// <summary>One input of a real model: numeric features and, on the tabular models, the synthetic site and note fields.</summary>
public sealed class RealExample
{
    public float[] Features { get; set; } = [];
    public string Site { get; set; } = "";
    public string Note { get; set; } = "";
    public bool Positive { get; set; }
    public uint Class { get; set; }

    /// <summary>The regression target (the diabetes model's disease progression); 0 for classifiers.</summary>
    public float Target { get; set; }
}

/// <summary>An encoded training example as ML.NET reads it.</summary>
public sealed class EncodedExample
{
    public float[] Inputs { get; set; } = [];
    public bool Label { get; set; }
}

/// <summary>
/// A gradient-boosted tree classifier trained in process with ML.NET: FastTree with Platt calibration, one binary model
/// for the rare model's positive class, or one per class (one-versus-all) with the calibrated probabilities normalised
/// to sum to 1. The inputs are the numeric features, a one-hot site and a bag of the note's words (the vocabularies
/// of the training examples). The trained trees and calibrators are read out of ML.NET and evaluated directly, checked
/// against ML.NET's own predictions when trained: ML.NET's per-call scoring costs about 400 µs a record, too slow to
/// score millions of mirrored records.
/// </summary>
public sealed class RealClassifier
{
    private readonly Encoder _encoder;
    private readonly TreeModel[] _models;

    private RealClassifier(int classes, bool binary, Encoder encoder, TreeModel[] models)
    {
        Classes = classes;
        Binary = binary;
        _encoder = encoder;
        _models = models;
    }

    /// <summary>Classes of the output; 2 for a binary model, whose output is the positive class's probability.</summary>
    public int Classes { get; }

    public bool Binary { get; }

    /// <summary>Output floats per record: the class probabilities, or the positive class's probability.</summary>
    public int OutputWidth => Binary ? 1 : Classes;

    /// <summary>Trains on the examples: binary on <see cref="RealExample.Positive"/> when <paramref name="binary"/>, else on <see cref="RealExample.Class"/>.</summary>
    public static RealClassifier Train(IReadOnlyList<RealExample> examples, int classes, bool binary, bool withFields, int seed, int trees = 40)
    {
        var encoder = new Encoder(examples, withFields);
        float[][] inputs = [.. examples.Select(encoder.Encode)];
        var ml = new MLContext(seed);
        SchemaDefinition definition = SchemaDefinition.Create(typeof(EncodedExample));
        definition[nameof(EncodedExample.Inputs)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, encoder.Width);
        var options = new FastTreeBinaryTrainer.Options
        {
            LabelColumnName = nameof(EncodedExample.Label), FeatureColumnName = nameof(EncodedExample.Inputs), NumberOfTrees = trees,
            NumberOfLeaves = 16, MinimumExampleCountPerLeaf = 5, NumberOfThreads = 1, Seed = seed,
        };

        var models = new TreeModel[binary ? 1 : classes];
        for (int m = 0; m < models.Length; m++)
        {
            int positive = binary ? 1 : m;
            EncodedExample[] rows = [.. examples.Select((e, i) => new EncodedExample
            {
                Inputs = inputs[i], Label = binary ? e.Positive : e.Class == positive,
            })];
            var trainer = ml.BinaryClassification.Trainers.FastTree(options);
            BinaryPredictionTransformer<CalibratedModelParametersBase<FastTreeBinaryModelParameters, PlattCalibrator>> fitted =
                trainer.Fit(ml.Data.LoadFromEnumerable(rows, definition));
            models[m] = new TreeModel(fitted.Model.SubModel.TrainedTreeEnsemble, fitted.Model.Calibrator);
            Check(ml, fitted, definition, models[m], rows);
        }

        return new RealClassifier(classes, binary, encoder, models);
    }

    /// <summary>Writes the model's outputs for a batch of examples, <see cref="OutputWidth"/> floats each, row-major.</summary>
    public void Score(IReadOnlyList<RealExample> examples, Span<float> output)
    {
        float[] inputs = new float[_encoder.Width];
        for (int i = 0; i < examples.Count; i++)
        {
            _encoder.Encode(examples[i], inputs);
            Span<float> scores = output.Slice(i * OutputWidth, OutputWidth);
            if (Binary)
            {
                scores[0] = (float)_models[0].Probability(inputs);
                continue;
            }

            double total = 0;
            for (int c = 0; c < Classes; c++)
            {
                double p = _models[c].Probability(inputs);
                scores[c] = (float)p;
                total += p;
            }

            for (int c = 0; c < Classes; c++)
            {
                scores[c] = total > 0 ? (float)(scores[c] / total) : 1f / Classes;
            }
        }
    }

    /// <summary>The predicted classes: the most probable, or positive (1) when the binary probability is at least ½.</summary>
    public int[] Predict(IReadOnlyList<RealExample> examples)
    {
        var output = new float[examples.Count * OutputWidth];
        Score(examples, output);
        var predicted = new int[examples.Count];
        for (int i = 0; i < predicted.Length; i++)
        {
            ReadOnlySpan<float> scores = output.AsSpan(i * OutputWidth, OutputWidth);
            predicted[i] = Binary ? (scores[0] >= 0.5f ? 1 : 0) : ArgMax(scores);
        }

        return predicted;
    }

    public static int ArgMax(ReadOnlySpan<float> scores)
    {
        int best = 0;
        for (int c = 1; c < scores.Length; c++)
        {
            if (scores[c] > scores[best])
            {
                best = c;
            }
        }

        return best;
    }

    /// <summary>The trees read out of ML.NET give ML.NET's probabilities on the first training examples, or training fails.</summary>
    private static void Check(MLContext ml, BinaryPredictionTransformer<CalibratedModelParametersBase<FastTreeBinaryModelParameters, PlattCalibrator>> fitted, SchemaDefinition definition, TreeModel model, EncodedExample[] rows)
    {
        EncodedExample[] sample = rows[..Math.Min(50, rows.Length)];
        IDataView scored = fitted.Transform(ml.Data.LoadFromEnumerable(sample, definition));
        float[] expected = [.. scored.GetColumn<float>("Probability")];
        for (int i = 0; i < sample.Length; i++)
        {
            double actual = model.Probability(sample[i].Inputs);
            if (Math.Abs(actual - expected[i]) > 1e-4)
            {
                throw new InvalidOperationException($"tree evaluation gives {actual} where ML.NET gives {expected[i]} for training example {i}");
            }
        }
    }

    /// <summary>A FastTree ensemble (x ≤ threshold goes to the left child; a negative child is ~leaf) and its Platt calibrator.</summary>
    private sealed class TreeModel
    {
        private readonly Tree[] _trees;
        private readonly double _bias;
        private readonly double _slope;
        private readonly double _offset;

        public TreeModel(RegressionTreeEnsemble ensemble, PlattCalibrator calibrator)
        {
            _trees = [.. ensemble.Trees.Select((t, i) => new Tree(
                [.. t.LeftChild], [.. t.RightChild], [.. t.NumericalSplitFeatureIndexes], [.. t.NumericalSplitThresholds], [.. t.LeafValues],
                ensemble.TreeWeights[i]))];
            _bias = ensemble.Bias;
            _slope = calibrator.Slope;
            _offset = calibrator.Offset;
        }

        public double Probability(ReadOnlySpan<float> inputs)
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

            return 1 / (1 + Math.Exp((_slope * (float)score) + _offset));
        }

        private sealed record Tree(int[] Left, int[] Right, int[] Feature, float[] Threshold, double[] Leaf, double Weight);
    }

    /// <summary>
    /// The model's input vector: the numeric features, then a one-hot site and the counts of the note's words over the
    /// values and words of the training examples (unseen ones are dropped, as a fitted encoder would).
    /// </summary>
    internal sealed class Encoder
    {
        private readonly int _numeric;
        private readonly Dictionary<string, int> _sites = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _words = new(StringComparer.Ordinal);

        public Encoder(IReadOnlyList<RealExample> examples, bool withFields)
        {
            _numeric = examples[0].Features.Length;
            if (withFields)
            {
                foreach (string site in examples.Select(e => e.Site).Where(s => s.Length > 0).Distinct().Order(StringComparer.Ordinal))
                {
                    _sites[site] = _sites.Count;
                }

                foreach (string word in examples.SelectMany(e => e.Note.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct().Order(StringComparer.Ordinal))
                {
                    _words[word] = _words.Count;
                }
            }
        }

        public int Width => _numeric + _sites.Count + _words.Count;

        public float[] Encode(RealExample example)
        {
            var inputs = new float[Width];
            Encode(example, inputs);
            return inputs;
        }

        public void Encode(RealExample example, Span<float> inputs)
        {
            inputs.Clear();
            example.Features.CopyTo(inputs);
            if (_sites.TryGetValue(example.Site, out int site))
            {
                inputs[_numeric + site] = 1;
            }

            foreach (Range range in example.Note.AsSpan().Split(' '))
            {
                if (example.Note[range] is { Length: > 0 } word && _words.TryGetValue(word, out int index))
                {
                    inputs[_numeric + _sites.Count + index] += 1;
                }
            }
        }
    }
}
