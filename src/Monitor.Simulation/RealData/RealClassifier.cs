using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Transforms;

namespace Monitor.Simulation.RealData;

/// <summary>One input of a real model: numeric features and, on the tabular models, the synthetic site and note fields.</summary>
public sealed class RealExample
{
    public float[] Features { get; set; } = [];
    public string Site { get; set; } = "";
    public string Note { get; set; } = "";
    public bool Positive { get; set; }
    public uint Class { get; set; }
}

/// <summary>
/// A gradient-boosted tree classifier trained in process with ML.NET (FastTree: binary, or one-versus-all over the
/// classes with calibrated probabilities), scoring one example at a time. The site field is one-hot encoded and the
/// note field is a bag of its whitespace tokens.
/// </summary>
public sealed class RealClassifier
{
    private readonly PredictionEngine<RealExample, MulticlassScore>? _multiclass;
    private readonly PredictionEngine<RealExample, BinaryScore>? _binary;

    private RealClassifier(int classes, PredictionEngine<RealExample, MulticlassScore>? multiclass, PredictionEngine<RealExample, BinaryScore>? binary)
    {
        Classes = classes;
        _multiclass = multiclass;
        _binary = binary;
    }

    /// <summary>Classes of the output; 2 for a binary model, whose output is the positive class's probability.</summary>
    public int Classes { get; }

    public bool Binary => _binary is not null;

    /// <summary>Output floats per record: the class probabilities, or the positive class's probability.</summary>
    public int OutputWidth => Binary ? 1 : Classes;

    /// <summary>Trains on the examples: binary on <see cref="RealExample.Positive"/> when <paramref name="binary"/>, else on <see cref="RealExample.Class"/>.</summary>
    public static RealClassifier Train(IReadOnlyList<RealExample> examples, int classes, bool binary, bool withFields, int seed, int trees = 40)
    {
        var ml = new MLContext(seed);
        SchemaDefinition definition = Definition(examples[0].Features.Length);
        IDataView data = ml.Data.LoadFromEnumerable(examples, definition);
        IEstimator<ITransformer> features = withFields
            ? ml.Transforms.Categorical.OneHotEncoding("SiteVector", nameof(RealExample.Site))
                .Append(ml.Transforms.Text.TokenizeIntoWords("NoteTokens", nameof(RealExample.Note), [' ']))
                .Append(ml.Transforms.Conversion.MapValueToKey("NoteKeys", "NoteTokens"))
                .Append(ml.Transforms.Text.ProduceNgrams("NoteVector", "NoteKeys", ngramLength: 1, useAllLengths: false))
                .Append(ml.Transforms.Concatenate("Inputs", nameof(RealExample.Features), "SiteVector", "NoteVector"))
            : ml.Transforms.Concatenate("Inputs", nameof(RealExample.Features));
        FastTreeBinaryTrainer.Options Options(string label) => new()
        {
            LabelColumnName = label, FeatureColumnName = "Inputs", NumberOfTrees = trees, NumberOfLeaves = 16,
            MinimumExampleCountPerLeaf = 5, NumberOfThreads = 1, Seed = seed,
        };

        if (binary)
        {
            ITransformer model = features.Append(ml.BinaryClassification.Trainers.FastTree(Options(nameof(RealExample.Positive)))).Fit(data);
            return new RealClassifier(2, null, ml.Model.CreatePredictionEngine<RealExample, BinaryScore>(model, inputSchemaDefinition: definition));
        }

        // Keys by value, so score i is class i (every class is present in the training examples).
        ITransformer multiclass = features
            .Append(ml.Transforms.Conversion.MapValueToKey("Label", nameof(RealExample.Class), keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue))
            .Append(ml.MulticlassClassification.Trainers.OneVersusAll(ml.BinaryClassification.Trainers.FastTree(Options("Label"))))
            .Fit(data);
        return new RealClassifier(classes, ml.Model.CreatePredictionEngine<RealExample, MulticlassScore>(multiclass, inputSchemaDefinition: definition), null);
    }

    /// <summary>Writes the model's output for one example: <see cref="OutputWidth"/> floats.</summary>
    public void Score(RealExample example, Span<float> output)
    {
        if (_binary is not null)
        {
            output[0] = Math.Clamp(_binary.Predict(example).Probability, 0f, 1f);
            return;
        }

        float[] scores = _multiclass!.Predict(example).Score;
        float total = 0;
        for (int c = 0; c < Classes; c++)
        {
            total += scores[c];
        }

        for (int c = 0; c < Classes; c++)
        {
            output[c] = total > 0 ? scores[c] / total : 1f / Classes;
        }
    }

    /// <summary>The predicted class: the most probable, or positive (1) when the binary probability is at least ½.</summary>
    public int Predict(RealExample example)
    {
        Span<float> output = stackalloc float[OutputWidth];
        Score(example, output);
        return Binary ? (output[0] >= 0.5f ? 1 : 0) : ArgMax(output);
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

    private static SchemaDefinition Definition(int width)
    {
        SchemaDefinition definition = SchemaDefinition.Create(typeof(RealExample));
        definition[nameof(RealExample.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, width);
        return definition;
    }
}

/// <summary>The multiclass output ML.NET writes.</summary>
internal sealed class MulticlassScore
{
    public float[] Score { get; set; } = [];
}

/// <summary>The binary output ML.NET writes.</summary>
internal sealed class BinaryScore
{
    public float Probability { get; set; }
}
