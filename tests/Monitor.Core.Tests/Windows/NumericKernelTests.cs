using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Windows;

/// <summary>
/// Every kernel path against a plain reference, for every batch length 0..300 and every width 1..70,
/// exact on counts. CI runs this category again with AVX-512, AVX2 and all hardware intrinsics turned off
/// (DOTNET_EnableAVX512F=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0), so each path runs here.
/// </summary>
[Trait("Category", "Kernels")]
public sealed class NumericKernelTests
{
    private const int MaxWidth = 70;
    private const int MaxLength = 300;

    private static readonly float[] Data = MakeData(seed: 5, (MaxLength * MaxWidth) + 64);
    private static readonly float[][] Edges = MakeEdges(seed: 6, MaxWidth);
    private static readonly double[] Shifts = [.. Enumerable.Range(0, MaxWidth).Select(c => (double)(c % 7) - 3)];

    public static TheoryData<KernelPath> Paths => [.. Enum.GetValues<KernelPath>()];

    [Theory]
    [MemberData(nameof(Paths))]
    public void Rows_match_the_reference_for_every_length_and_width(KernelPath path)
    {
        if (!NumericKernel.Supports(path))
        {
            Assert.Skip($"the CPU (or DOTNET_Enable* settings) does not accelerate {path}");
        }

        for (int width = 1; width <= MaxWidth; width++)
        {
            var kernel = new NumericKernel(Edges[..width], Shifts[..width]);
            Reference reference = new(Edges[..width]);
            NumericTotals totals = kernel.CreateTotals();
            for (int length = 0; length <= MaxLength; length++)
            {
                if (length > 0)
                {
                    reference.Add(Data.AsSpan((length - 1) * width, width));
                }

                totals.Clear();
                kernel.AddRows(Data, 0, width, length, width, totals, path);
                reference.AssertMatches(totals, $"{path}, width {width}, length {length}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_record_wider_than_its_channels_and_an_offset_are_respected(KernelPath path)
    {
        if (!NumericKernel.Supports(path))
        {
            Assert.Skip($"the CPU (or DOTNET_Enable* settings) does not accelerate {path}");
        }

        // 37 leading channels of records 41 wide, starting 3 values in: the 4 trailing values never count.
        const int channels = 37;
        const int stride = 41;
        var kernel = new NumericKernel(Edges[..channels], Shifts[..channels]);
        NumericTotals totals = kernel.CreateTotals();
        kernel.AddRows(Data, 3, stride, 250, channels, totals, path);
        Reference reference = new(Edges[..channels]);
        for (int r = 0; r < 250; r++)
        {
            reference.Add(Data.AsSpan(3 + (r * stride), channels));
        }

        reference.AssertMatches(totals, $"{path}, stride {stride}");
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Columns_match_the_reference_for_every_length(KernelPath path)
    {
        if (!NumericKernel.Supports(path))
        {
            Assert.Skip($"the CPU (or DOTNET_Enable* settings) does not accelerate {path}");
        }

        foreach (int channel in new[] { 0, 5, 13, 69 })
        {
            var kernel = new NumericKernel(Edges, Shifts);
            NumericTotals totals = kernel.CreateTotals();
            var reference = new Reference([Edges[channel]]);
            for (int length = 0; length <= MaxLength; length++)
            {
                if (length > 0)
                {
                    reference.Add(Data.AsSpan(length - 1, 1));
                }

                totals.Clear();
                kernel.AddColumn(channel, Data, 0, 1, length, totals, path);
                reference.AssertMatches(totals, $"{path}, channel {channel}, length {length}", channel);
            }

            // Strided values (every third) take the scalar path whatever is asked.
            totals.Clear();
            kernel.AddColumn(channel, Data, 1, 3, 200, totals, path);
            var strided = new Reference([Edges[channel]]);
            for (int i = 0; i < 200; i++)
            {
                strided.Add(Data.AsSpan(1 + (3 * i), 1));
            }

            strided.AssertMatches(totals, $"{path}, channel {channel}, stride 3", channel);
        }
    }

    [Fact]
    public void The_best_path_is_the_one_the_environment_allows()
    {
        KernelPath best = NumericKernel.BestPath;
        TestContext.Current.TestOutputHelper?.WriteLine($"best kernel path here: {best}");
        if (Environment.GetEnvironmentVariable("MONITOR_EXPECT_KERNEL_PATH") is { Length: > 0 } expected)
        {
            Assert.Equal(Enum.Parse<KernelPath>(expected), best);
        }

        Assert.True(NumericKernel.Supports(best));
        Assert.True(NumericKernel.Supports(KernelPath.Scalar));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Values_far_from_the_baseline_mean_keep_an_exact_variance(KernelPath path)
    {
        if (!NumericKernel.Supports(path))
        {
            Assert.Skip($"the CPU (or DOTNET_Enable* settings) does not accelerate {path}");
        }

        // A feature that drifted 10⁶ standard deviations from the baseline mean the kernel was given.
        var random = new Random(8);
        const int channels = 20;
        const int records = 1000;
        float[] data = [.. Enumerable.Range(0, channels * records).Select(_ => (float)(1e6 + Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) *
            Math.Cos(2 * Math.PI * random.NextDouble())))];
        var kernel = new NumericKernel([.. Enumerable.Range(0, channels).Select(_ => new[] { -1f, 0f, 1f })], [.. Enumerable.Repeat(0.0, channels)]);
        NumericTotals totals = kernel.CreateTotals();
        kernel.AddRows(data, 0, channels, records, channels, totals, path);
        for (int c = 0; c < channels; c++)
        {
            double[] column = [.. Enumerable.Range(0, records).Select(r => (double)data[(r * channels) + c])];
            double mean = column.Average();
            double variance = column.Sum(v => (v - mean) * (v - mean)) / (records - 1);
            Assert.Equal(mean, totals.Moments[c].Mean, 1e-3);
            Assert.True(Math.Abs(totals.Moments[c].Variance - variance) <= 1e-3 * variance,
                $"{path}, channel {c}: variance {totals.Moments[c].Variance}, expected {variance}");
        }
    }

    [Fact]
    public void Bad_spans_are_refused_naming_the_shape()
    {
        var kernel = new NumericKernel(Edges[..4], Shifts[..4]);
        NumericTotals totals = kernel.CreateTotals();
        ArgumentException rows = Assert.Throws<ArgumentException>(() => kernel.AddRows(new float[10], 0, 4, 3, 4, totals));
        Assert.Equal("3 records of 4 channels at offset 0, stride 4 do not fit in 10 values", rows.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => kernel.AddRows(new float[40], 0, 4, 3, 5, totals));
        Assert.Throws<ArgumentOutOfRangeException>(() => kernel.AddColumn(4, new float[40], 0, 1, 3, totals));
    }

    /// <summary>Values around the edges, exactly on them, NaN, ±∞, zeros of both signs, and outliers.</summary>
    private static float[] MakeData(int seed, int n)
    {
        var random = new Random(seed);
        var data = new float[n];
        float[][] edges = MakeEdges(6, MaxWidth);
        for (int i = 0; i < n; i++)
        {
            float[] e = edges[i % MaxWidth];
            data[i] = random.Next(20) switch
            {
                0 => float.NaN,
                1 => random.Next(2) == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                2 when e.Length > 0 => e[random.Next(e.Length)],
                3 => random.Next(2) == 0 ? 0f : -0f,
                4 => (float)(random.NextDouble() * 1e6) - 5e5f,
                _ => (float)((random.NextDouble() * 24) - 12),
            };
        }

        return data;
    }

    /// <summary>Sorted distinct edges: none, one, or up to 40 per channel, irregularly spaced.</summary>
    private static float[][] MakeEdges(int seed, int channels)
    {
        var random = new Random(seed);
        var edges = new float[channels][];
        for (int c = 0; c < channels; c++)
        {
            int count = c switch { 0 => 21, 1 => 0, 2 => 1, _ => random.Next(2, 41) };
            edges[c] = [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 20) - 10)).Distinct().Order()];
        }

        return edges;
    }

    /// <summary>The plain definition: a binary search per finite value, moments (two passes) and outer-bin sums in double.</summary>
    private sealed class Reference(float[][] edges)
    {
        private readonly long[][] _counts = [.. edges.Select(e => new long[e.Length + 1])];
        private readonly long[] _missing = new long[edges.Length];
        private readonly double[] _below = new double[edges.Length];
        private readonly double[] _above = new double[edges.Length];
        private readonly List<double>[] _values = [.. edges.Select(_ => new List<double>())];
        private readonly double[] _belowAbs = new double[edges.Length];
        private readonly double[] _aboveAbs = new double[edges.Length];

        public void Add(ReadOnlySpan<float> record)
        {
            for (int c = 0; c < record.Length; c++)
            {
                float v = record[c];
                if (!float.IsFinite(v))
                {
                    _missing[c]++;
                    continue;
                }

                int bin = Quantiles.BinOf(edges[c], v);
                _counts[c][bin]++;
                _values[c].Add(v);
                if (bin == 0)
                {
                    _below[c] += v;
                    _belowAbs[c] += Math.Abs(v);
                }
                else if (bin == edges[c].Length)
                {
                    _above[c] += v;
                    _aboveAbs[c] += Math.Abs(v);
                }
            }
        }

        public void AssertMatches(NumericTotals totals, string what, int firstChannel = 0)
        {
            for (int c = 0; c < edges.Length; c++)
            {
                int k = firstChannel + c;
                if (!_counts[c].AsSpan().SequenceEqual(totals.Counts[k]) || _missing[c] != totals.Missing[k]
                    || _counts[c].Sum() != totals.Finite[k])
                {
                    Assert.Fail($"{what}, channel {k}: counts [{string.Join(",", totals.Counts[k])}] finite {totals.Finite[k]} missing " +
                        $"{totals.Missing[k]}, expected [{string.Join(",", _counts[c])}] missing {_missing[c]}");
                }

                List<double> values = _values[c];
                double mean = values.Count == 0 ? 0 : values.Average();
                double m2 = values.Sum(v => (v - mean) * (v - mean));
                Core.Statistics.RunningMoments moments = totals.Moments[k];
                Assert.Equal(values.Count, moments.Count);
                if (values.Count > 0)
                {
                    // The mean within a few float epsilons of the values' size (the tolerance is 2e-5 of the magnitude given).
                    double scale = 0.05 * (Math.Sqrt(m2 / values.Count) + values.Max(Math.Abs));
                    Close(mean, scale, moments.Mean, what, k, "mean");
                    // Squared deviations are summed in float from a centre within the data (or the shift, at most 3 away):
                    // the error is a few float epsilons of those squares, on top of 1e-4 of the result (outliers of ±5e5 among values of ±12).
                    double squares = values.Sum(v => (Math.Abs(v) + 3) * (Math.Abs(v) + 3));
                    Close(m2, (5 * m2) + (0.05 * squares), moments.M2, what, k, "sum of squared deviations");
                }

                Close(_below[c], _belowAbs[c], totals.Below[k], what, k, "below");
                Close(_above[c], _aboveAbs[c], totals.Above[k], what, k, "above");
            }
        }

        /// <summary>
        /// Float lanes sum at most 64 terms, taken from the chunk's first value, before they reach a double:
        /// the error stays within a few parts in 10⁵ of the magnitudes involved.
        /// </summary>
        private static void Close(double expected, double magnitude, double actual, string what, int channel, string name)
        {
            if (Math.Abs(expected - actual) > (2e-5 * magnitude) + 1e-9)
            {
                Assert.Fail($"{what}, channel {channel}: {name} {actual}, expected {expected} (magnitude {magnitude})");
            }
        }
    }
}
