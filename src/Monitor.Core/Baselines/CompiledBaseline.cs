using Monitor.Core.Schema;

namespace Monitor.Core.Baselines;

/// <summary>
/// A baseline profile with what the hot path needs precomputed: category lookups, bin positions
/// and the layout of every statistic in a flat array.
/// </summary>
public sealed class CompiledBaseline
{
    public CompiledBaseline(BaselineProfile profile)
    {
        Profile = profile;
        Vocabularies = new Utf8Vocabulary?[profile.Categorical.Length];
        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            if (profile.Categorical[c].Channel.Kind == ChannelKind.Categorical)
            {
                Vocabularies[c] = new Utf8Vocabulary(profile.Categorical[c].Categories);
            }
        }

        Positions = new double[profile.Numeric.Length][];
        NumericSlots = new int[profile.Numeric.Length];
        CategoricalSlots = new int[profile.Categorical.Length];
        int slot = 0;
        for (int c = 0; c < profile.Numeric.Length; c++)
        {
            Positions[c] = BinPositions(profile.Numeric[c].Edges);
            NumericSlots[c] = slot;
            slot += profile.Numeric[c].Channel.Statistics.Length;
            MaxBuckets = Math.Max(MaxBuckets, profile.Numeric[c].Probabilities.Length);
        }

        for (int c = 0; c < profile.Categorical.Length; c++)
        {
            CategoricalSlots[c] = slot;
            slot += profile.Categorical[c].Channel.Statistics.Length;
            MaxBuckets = Math.Max(MaxBuckets, profile.Categorical[c].Probabilities.Length);
        }

        SlotCount = slot;
    }

    public BaselineProfile Profile { get; }

    /// <summary>Lookup per categorical channel; null for the predicted class, which is an index already.</summary>
    public Utf8Vocabulary?[] Vocabularies { get; }

    /// <summary>Per numeric channel, the position of each bin for Wasserstein: interior midpoints, outer edges for the open bins.</summary>
    public double[][] Positions { get; }

    /// <summary>Index of each numeric channel's first statistic in the flat statistic array.</summary>
    public int[] NumericSlots { get; }

    public int[] CategoricalSlots { get; }

    /// <summary>Number of statistics per window.</summary>
    public int SlotCount { get; }

    /// <summary>Most bins or buckets in any channel.</summary>
    public int MaxBuckets { get; }

    /// <summary>Thresholds of every statistic in flat order.</summary>
    public double[] FlatThresholds()
    {
        var thresholds = new double[SlotCount];
        for (int c = 0; c < Profile.Numeric.Length; c++)
        {
            Profile.Numeric[c].Thresholds.CopyTo(thresholds, NumericSlots[c]);
        }

        for (int c = 0; c < Profile.Categorical.Length; c++)
        {
            Profile.Categorical[c].Thresholds.CopyTo(thresholds, CategoricalSlots[c]);
        }

        return thresholds;
    }

    private static double[] BinPositions(float[] edges)
    {
        if (edges.Length == 0)
        {
            return [0.0];
        }

        var positions = new double[edges.Length + 1];
        positions[0] = edges[0];
        for (int i = 1; i < edges.Length; i++)
        {
            positions[i] = 0.5 * ((double)edges[i - 1] + edges[i]);
        }

        positions[^1] = edges[^1];
        return positions;
    }
}
