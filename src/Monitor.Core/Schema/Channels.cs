namespace Monitor.Core.Schema;

/// <summary>What a channel measures.</summary>
public enum ChannelKind
{
    /// <summary>A numeric input feature.</summary>
    Numeric,

    /// <summary>A categorical input feature.</summary>
    Categorical,

    /// <summary>Tokens per record of a text field.</summary>
    Text,

    /// <summary>The predicted class of the output.</summary>
    OutputClass,

    /// <summary>A numeric view of the output (confidence, entropy, score or value).</summary>
    OutputNumeric,
}

/// <summary>Where a numeric channel's values come from.</summary>
public enum NumericSource
{
    Input,
    TextTokens,
    Confidence,
    Entropy,
    Score,
    Value,
}

/// <summary>A drift statistic computed for a channel in every window.</summary>
public enum Statistic
{
    Psi,
    JensenShannon,
    Hellinger,
    KolmogorovSmirnov,
    Wasserstein,
    MeanShift,
    StdShift,
    MissingRate,
    ChiSquared,
    LInfinity,
    UnseenRate,
}

/// <summary>Names of statistics as they appear in reports and metrics.</summary>
public static class StatisticNames
{
    public static string Of(Statistic statistic) => statistic switch
    {
        Statistic.Psi => "psi",
        Statistic.JensenShannon => "jensen_shannon",
        Statistic.Hellinger => "hellinger",
        Statistic.KolmogorovSmirnov => "ks",
        Statistic.Wasserstein => "wasserstein",
        Statistic.MeanShift => "mean_shift",
        Statistic.StdShift => "std_shift",
        Statistic.MissingRate => "missing_rate",
        Statistic.ChiSquared => "chi_squared",
        Statistic.LInfinity => "l_infinity",
        Statistic.UnseenRate => "unseen_rate",
        _ => throw new ArgumentOutOfRangeException(nameof(statistic)),
    };
}

/// <summary>A numeric quantity measured per record: an input feature or one derived from text or output.</summary>
public sealed record NumericChannel(string Name, ChannelKind Kind, NumericSource Source, int SourceIndex)
{
    public Statistic[] Statistics => Kind == ChannelKind.OutputNumeric ? OutputStatistics : InputStatistics;

    private static readonly Statistic[] InputStatistics =
    [
        Statistic.Psi, Statistic.JensenShannon, Statistic.Hellinger, Statistic.KolmogorovSmirnov,
        Statistic.Wasserstein, Statistic.MeanShift, Statistic.StdShift, Statistic.MissingRate,
    ];

    private static readonly Statistic[] OutputStatistics = InputStatistics[..^1];
}

/// <summary>A categorical quantity per record: an input feature or the predicted class.</summary>
public sealed record CategoricalChannel(string Name, ChannelKind Kind, int SourceIndex)
{
    public Statistic[] Statistics => Kind == ChannelKind.OutputClass ? OutputStatistics : InputStatistics;

    private static readonly Statistic[] InputStatistics =
    [
        Statistic.ChiSquared, Statistic.Psi, Statistic.JensenShannon, Statistic.LInfinity,
        Statistic.UnseenRate, Statistic.MissingRate,
    ];

    private static readonly Statistic[] OutputStatistics = InputStatistics[..4];
}

/// <summary>The channels a schema gives: every input feature, tokens per text field, and the output's views.</summary>
public sealed class ChannelLayout
{
    private ChannelLayout(NumericChannel[] numeric, CategoricalChannel[] categorical)
    {
        Numeric = numeric;
        Categorical = categorical;
    }

    public NumericChannel[] Numeric { get; }
    public CategoricalChannel[] Categorical { get; }

    public static ChannelLayout For(ModelSchema schema)
    {
        var numeric = new List<NumericChannel>();
        for (int i = 0; i < schema.NumericFeatures.Length; i++)
        {
            numeric.Add(new NumericChannel(schema.NumericFeatures[i], ChannelKind.Numeric, NumericSource.Input, i));
        }

        for (int i = 0; i < schema.TextFields.Length; i++)
        {
            numeric.Add(new NumericChannel(schema.TextFields[i] + ".tokens", ChannelKind.Text, NumericSource.TextTokens, i));
        }

        var categorical = new List<CategoricalChannel>();
        for (int i = 0; i < schema.CategoricalFeatures.Length; i++)
        {
            categorical.Add(new CategoricalChannel(schema.CategoricalFeatures[i], ChannelKind.Categorical, i));
        }

        const string p = ModelSchema.OutputPrefix;
        switch (schema.OutputKind)
        {
            case OutputKind.Classification:
                categorical.Add(new CategoricalChannel(p + "class", ChannelKind.OutputClass, 0));
                numeric.Add(new NumericChannel(p + "confidence", ChannelKind.OutputNumeric, NumericSource.Confidence, 0));
                numeric.Add(new NumericChannel(p + "entropy", ChannelKind.OutputNumeric, NumericSource.Entropy, 0));
                break;
            case OutputKind.Binary:
                categorical.Add(new CategoricalChannel(p + "class", ChannelKind.OutputClass, 0));
                numeric.Add(new NumericChannel(p + "score", ChannelKind.OutputNumeric, NumericSource.Score, 0));
                numeric.Add(new NumericChannel(p + "confidence", ChannelKind.OutputNumeric, NumericSource.Confidence, 0));
                numeric.Add(new NumericChannel(p + "entropy", ChannelKind.OutputNumeric, NumericSource.Entropy, 0));
                break;
            case OutputKind.Regression:
                numeric.Add(new NumericChannel(p + "value", ChannelKind.OutputNumeric, NumericSource.Value, 0));
                break;
        }

        return new ChannelLayout([.. numeric], [.. categorical]);
    }
}
