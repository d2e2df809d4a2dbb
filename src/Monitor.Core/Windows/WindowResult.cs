using Monitor.Core.Schema;

namespace Monitor.Core.Windows;

/// <summary>What one window showed for one channel, with each statistic's threshold and verdict.</summary>
public sealed record ChannelResult
{
    public required string Name { get; init; }
    public required ChannelKind Kind { get; init; }

    /// <summary>Values present (finite or non-empty) in the window.</summary>
    public required long Count { get; init; }

    public required long Missing { get; init; }
    public required double Mean { get; init; }
    public required double Std { get; init; }
    public required double BaselineMean { get; init; }
    public required double BaselineStd { get; init; }

    /// <summary>Bin or bucket counts in the window (the baseline's bins).</summary>
    public required long[] Counts { get; init; }

    public required Statistic[] Statistics { get; init; }
    public required double[] Values { get; init; }
    public required double[] Thresholds { get; init; }

    /// <summary>p-value per statistic, NaN where the statistic has none.</summary>
    public required double[] PValues { get; init; }

    public required bool[] Exceeded { get; init; }

    public bool Drifted => Exceeded.Contains(true);
}

/// <summary>The evaluation of one window of a model version against the baseline in force.</summary>
public sealed record WindowResult
{
    public required ulong Index { get; init; }
    public required long BaselineId { get; init; }
    public required DateTimeOffset OpenedAt { get; init; }

    /// <summary>When the window closed; null for the open window.</summary>
    public DateTimeOffset? ClosedAt { get; init; }

    public required long Records { get; init; }

    /// <summary>Whether the window reached its size; only complete windows are judged. A closed incomplete window was closed by time.</summary>
    public required bool Complete { get; init; }

    public required ChannelResult[] Channels { get; init; }

    public bool Drifted => Channels.Any(c => c.Drifted);

    public IEnumerable<string> DriftedChannels => Channels.Where(c => c.Drifted).Select(c => c.Name);
}
