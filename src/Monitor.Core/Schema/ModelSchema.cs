namespace Monitor.Core.Schema;

/// <summary>What a model's output looks like.</summary>
public enum OutputKind
{
    /// <summary>k ≥ 2 class probabilities per record.</summary>
    Classification,

    /// <summary>One probability of the positive class per record.</summary>
    Binary,

    /// <summary>One real value per record.</summary>
    Regression,
}

/// <summary>The inputs and output a model's mirrored records carry.</summary>
public sealed record ModelSchema
{
    /// <summary>Prefix reserved for the channels derived from the output.</summary>
    public const string OutputPrefix = "output.";

    /// <summary>Longest accepted feature, field or label name.</summary>
    public const int MaxNameLength = 128;

    public required string[] NumericFeatures { get; init; }
    public required string[] CategoricalFeatures { get; init; }
    public required string[] TextFields { get; init; }
    public required OutputKind OutputKind { get; init; }
    public required string[] ClassLabels { get; init; }
    public int EmbeddingWidth { get; init; }

    /// <summary>
    /// Features (or output channels such as output.class) whose drift over its calibrated threshold fails a
    /// window; drift elsewhere raises warnings only. A text field stands for its token-count channel.
    /// </summary>
    public string[] CriticalFeatures { get; init; } = [];

    /// <summary>Floats of output per record.</summary>
    public int OutputWidth => OutputKind == OutputKind.Classification ? ClassLabels.Length : 1;

    /// <summary>Labels of the predicted classes: the class labels, or negative/positive for a binary output.</summary>
    public string[] PredictedClassLabels => OutputKind switch
    {
        OutputKind.Classification => ClassLabels,
        OutputKind.Binary => ClassLabels.Length == 2 ? ClassLabels : ["negative", "positive"],
        _ => [],
    };

    /// <summary>Structural equality: same names in the same order, same output and embedding.</summary>
    public bool IsEquivalentTo(ModelSchema other) =>
        NumericFeatures.AsSpan().SequenceEqual(other.NumericFeatures)
        && CategoricalFeatures.AsSpan().SequenceEqual(other.CategoricalFeatures)
        && TextFields.AsSpan().SequenceEqual(other.TextFields)
        && OutputKind == other.OutputKind
        && ClassLabels.AsSpan().SequenceEqual(other.ClassLabels)
        && EmbeddingWidth == other.EmbeddingWidth;

    /// <summary>Every problem with the schema, each naming the field; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate(int maxFeatures)
    {
        var errors = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        CheckNames("numeric_features", NumericFeatures, seen, errors);
        CheckNames("categorical_features", CategoricalFeatures, seen, errors);
        CheckNames("text_fields", TextFields, seen, errors);

        int total = NumericFeatures.Length + CategoricalFeatures.Length + TextFields.Length;
        if (total == 0)
        {
            errors.Add("schema: declares no numeric, categorical or text feature");
        }

        if (total > maxFeatures)
        {
            errors.Add($"schema: declares {total} features and fields; the limit is {maxFeatures}");
        }

        var labels = new HashSet<string>(StringComparer.Ordinal);
        CheckNames("class_labels", ClassLabels, labels, errors, reservePrefix: false);
        switch (OutputKind)
        {
            case OutputKind.Classification when ClassLabels.Length < 2:
                errors.Add($"schema.class_labels: a classification output needs at least 2 labels, got {ClassLabels.Length}");
                break;
            case OutputKind.Binary when ClassLabels.Length is not (0 or 2):
                errors.Add($"schema.class_labels: a binary output takes 0 or 2 labels (negative, positive), got {ClassLabels.Length}");
                break;
            case OutputKind.Regression when ClassLabels.Length != 0:
                errors.Add("schema.class_labels: a regression output has no class labels");
                break;
        }

        if (EmbeddingWidth is < 0 or > 65_536)
        {
            errors.Add($"schema.embedding_width: {EmbeddingWidth} is outside 0..65536");
        }

        if (errors.Count == 0)
        {
            HashSet<string> channels = ChannelNames();
            var critical = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < CriticalFeatures.Length; i++)
            {
                string name = CriticalFeatures[i];
                if (!channels.Contains(name) && !TextFields.Contains(name, StringComparer.Ordinal))
                {
                    errors.Add($"schema.critical_features[{i}]: '{name}' is not a declared feature, text field or output channel " +
                        $"(one of {string.Join(", ", channels.Order(StringComparer.Ordinal))})");
                }
                else if (!critical.Add(CriticalChannel(name)))
                {
                    errors.Add($"schema.critical_features[{i}]: '{name}' is listed twice");
                }
            }
        }

        return errors;
    }

    /// <summary>The channel names whose drift fails a window.</summary>
    public IReadOnlySet<string> CriticalChannels() => CriticalFeatures.Select(CriticalChannel).ToHashSet(StringComparer.Ordinal);

    private string CriticalChannel(string name) => TextFields.Contains(name, StringComparer.Ordinal) ? name + ".tokens" : name;

    private HashSet<string> ChannelNames()
    {
        ChannelLayout layout = ChannelLayout.For(this);
        return [.. layout.Numeric.Select(c => c.Name).Concat(layout.Categorical.Select(c => c.Name))];
    }

    private static void CheckNames(string field, string[] names, HashSet<string> seen, List<string> errors, bool reservePrefix = true)
    {
        for (int i = 0; i < names.Length; i++)
        {
            string name = names[i];
            if (string.IsNullOrWhiteSpace(name))
            {
                errors.Add($"schema.{field}[{i}]: name is empty");
            }
            else if (name.Length > MaxNameLength)
            {
                errors.Add($"schema.{field}[{i}]: name is longer than {MaxNameLength} characters");
            }
            else if (name.Any(char.IsControl))
            {
                errors.Add($"schema.{field}[{i}]: name contains a control character");
            }
            else if (reservePrefix && name.StartsWith(OutputPrefix, StringComparison.Ordinal))
            {
                errors.Add($"schema.{field}[{i}]: '{name}' uses the reserved prefix '{OutputPrefix}'");
            }
            else if (!seen.Add(name))
            {
                errors.Add($"schema.{field}[{i}]: '{name}' is declared twice");
            }
        }
    }
}
