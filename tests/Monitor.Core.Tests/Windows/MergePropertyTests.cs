using CsCheck;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Windows;

/// <summary>
/// Properties of window statistics over generated data (CsCheck; a failure prints the seed that reproduces it):
/// merging is associative and order-independent, and NaN or ±Inf never corrupt a statistic.
/// </summary>
public sealed class MergePropertyTests
{
    private const int Channels = 5;

    /// <summary>Mostly ordinary values, some far out, some NaN, +Inf or −Inf, some exactly on an edge.</summary>
    private static readonly Gen<float> Value = Gen.Frequency(
        (12, (IGen<float>)Gen.Float[-10f, 10f]),
        (2, Gen.Float[-1e6f, 1e6f]),
        (1, Gen.OneOf(float.NaN, float.PositiveInfinity, float.NegativeInfinity)),
        (1, Gen.OneOf(-1f, 0f, 0.5f, 2f)));

    /// <summary>A data set of up to 400 records × 5 channels, cut into 1–8 parts, and an order and grouping to merge them in.</summary>
    private static readonly Gen<(float[] Data, int[] Cuts, int[] Order, bool[] Nest)> Cases =
        Gen.Int[0, 400].SelectMany(records =>
            Gen.Select(
                Value.Array[records * Channels],
                Gen.Int[0, records].Array[0, 7].Select(cuts => cuts.Order().ToArray()),
                Gen.Bool.Array[8]))
        .SelectMany(c => Gen.Shuffle(Enumerable.Range(0, c.Item2.Length + 1).ToArray())
            .Select(order => (c.Item1, c.Item2, order, c.Item3)));

    private static readonly float[][] Edges = [.. Enumerable.Range(0, Channels).Select(c => new[] { -1f, 0f, 0.5f, 2f, 3f + c })];
    private static readonly NumericKernel Kernel = new(Edges, [.. Enumerable.Range(0, Channels).Select(c => (double)c)]);

    public static TheoryData<KernelPath> Paths => [.. Enum.GetValues<KernelPath>().Where(NumericKernel.Supports)];

    [Theory]
    [Trait("Category", "Kernels")]
    [MemberData(nameof(Paths))]
    public void Merging_parts_in_any_order_and_grouping_gives_the_statistics_of_the_whole(KernelPath path)
    {
        Cases.Sample((data, cuts, order, nest) =>
        {
            int records = data.Length / Channels;
            NumericTotals whole = Totals(data, 0, records, path);
            int[] bounds = [0, .. cuts, records];
            NumericTotals[] parts = [.. Enumerable.Range(0, bounds.Length - 1).Select(p => Totals(data, bounds[p], bounds[p + 1] - bounds[p], path))];

            // In part order, one after another...
            NumericTotals sequential = Kernel.CreateTotals();
            foreach (NumericTotals part in parts)
            {
                sequential.Add(part);
            }

            // ...and in the generated order, each part added either to the running total or to a side total merged at the end.
            NumericTotals left = Kernel.CreateTotals();
            NumericTotals right = Kernel.CreateTotals();
            for (int i = 0; i < order.Length; i++)
            {
                (nest[i % nest.Length] ? right : left).Add(parts[order[i]]);
            }

            left.Add(right);

            // Merging is exact on counts and associative up to double rounding on moments and sums...
            AssertSame(sequential, left);

            // ...and gives the whole's counts exactly, and its moments within the float lanes' rounding.
            for (int c = 0; c < Channels; c++)
            {
                Assert.Equal(whole.Counts[c], left.Counts[c]);
                Assert.Equal(whole.Missing[c], left.Missing[c]);
                double[] finite = [.. Enumerable.Range(0, records).Select(i => data[(i * Channels) + c]).Where(float.IsFinite).Select(v => (double)v)];
                AssertNear(finite, left.Moments[c], c);
                AssertNear(finite, whole.Moments[c], c);
            }
        }, iter: 300, threads: 1);
    }

    [Theory]
    [Trait("Category", "Kernels")]
    [MemberData(nameof(Paths))]
    public void NaN_and_infinities_are_counted_missing_and_leave_every_statistic_finite_and_equal_to_that_of_the_finite_values(KernelPath path)
    {
        Cases.Sample((data, _, _, _) =>
        {
            int records = data.Length / Channels;
            NumericTotals totals = Totals(data, 0, records, path);
            for (int c = 0; c < Channels; c++)
            {
                double[] finite = [.. Enumerable.Range(0, records).Select(i => data[(i * Channels) + c]).Where(float.IsFinite).Select(v => (double)v)];
                Assert.Equal(records - finite.Length, totals.Missing[c]);
                Assert.Equal(finite.Length, totals.Finite[c]);
                Assert.Equal(finite.Length, totals.Counts[c].Sum());
                RunningMoments moments = totals.Moments[c];
                Assert.Equal(finite.Length, moments.Count);
                Assert.True(double.IsFinite(moments.Mean) && double.IsFinite(moments.M2) && moments.M2 >= 0,
                    $"channel {c}: mean {moments.Mean}, M2 {moments.M2}");
                Assert.True(double.IsFinite(totals.Below[c]) && double.IsFinite(totals.Above[c]), $"channel {c}: outer sums");
                AssertNear(finite, moments, c);

                for (int b = 0; b <= Edges[c].Length; b++)
                {
                    Assert.Equal(finite.Count(v => Quantiles.BinOf(Edges[c], (float)v) == b), totals.Counts[c][b]);
                }
            }
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Running_moments_merge_associatively_and_commutatively_and_the_empty_one_is_neutral()
    {
        Gen<double[]> values = Gen.Double[-1e4, 1e4].Array[0, 50];
        Gen.Select(values, values, values).Sample((a, b, c) =>
        {
            RunningMoments x = Of(a), y = Of(b), z = Of(c);
            RunningMoments leftFirst = x;
            leftFirst.Merge(y);
            leftFirst.Merge(z);
            RunningMoments yz = y;
            yz.Merge(z);
            RunningMoments rightFirst = x;
            rightFirst.Merge(yz);
            RunningMoments reversed = z;
            reversed.Merge(y);
            reversed.Merge(x);
            RunningMoments direct = Of([.. a, .. b, .. c]);
            RunningMoments withEmpty = direct;
            withEmpty.Merge(default);
            foreach (RunningMoments m in new[] { leftFirst, rightFirst, reversed, withEmpty })
            {
                Assert.Equal(direct.Count, m.Count);
                Assert.True(Math.Abs(m.Mean - direct.Mean) <= 1e-9 * (1 + Math.Abs(direct.Mean)), $"mean {m.Mean} vs {direct.Mean}");
                Assert.True(Math.Abs(m.M2 - direct.M2) <= 1e-7 * (1 + direct.M2), $"M2 {m.M2} vs {direct.M2}");
            }
        }, iter: 1000, threads: 1);
    }

    [Fact]
    public void Window_accumulators_with_categories_merge_in_any_order_and_missing_values_never_corrupt_them()
    {
        ModelSchema schema = SchemaTraffic.Schema(numeric: 3, categorical: 1, classes: 3);
        var baseline = new CompiledBaseline(SchemaTraffic.Baseline(schema, 6000, 500, 0.05, seed: 4, new BaselineSettings { BootstrapWindows = 1000 }));
        var preparer = new BatchPreparer(baseline);
        Gen.Select(Gen.Int[1, 6], Gen.Int[0, 300], Gen.Int, Gen.Double[0, 0.5]).Sample((parts, size, seed, missingRate) =>
        {
            var random = new Random(seed);
            RecordBatch[] batches = [.. Enumerable.Range(0, parts).Select(_ => WithMissing(SchemaTraffic.Batch(schema, size, random), random, missingRate))];
            var whole = new WindowAccumulator(baseline);
            var pieces = new List<WindowAccumulator>();
            foreach (RecordBatch batch in batches)
            {
                PreparedBatch prepared = preparer.Prepare(batch);
                whole.Add(prepared, 0, prepared.Count);
                var piece = new WindowAccumulator(baseline);
                piece.Add(prepared, 0, prepared.Count);
                pieces.Add(piece);
            }

            var merged = new WindowAccumulator(baseline);
            foreach (WindowAccumulator piece in Enumerable.Reverse(pieces))
            {
                merged.Merge(piece);
            }

            Assert.Equal(whole.Records, merged.Records);
            for (int c = 0; c < whole.NumericCounts.Length; c++)
            {
                Assert.Equal(whole.NumericCounts[c], merged.NumericCounts[c]);
                Assert.Equal(whole.NumericMissing[c], merged.NumericMissing[c]);
                Assert.True(double.IsFinite(merged.MomentsOf(c).M2) && double.IsFinite(merged.MomentsOf(c).Mean));
                Assert.Equal(whole.MomentsOf(c).Mean, merged.MomentsOf(c).Mean, 1e-6);
            }

            Assert.Equal(whole.CategoricalCounts[0], merged.CategoricalCounts[0]);
            Assert.Equal(whole.CategoricalMissing[0], merged.CategoricalMissing[0]);
        }, iter: 60, threads: 1);
    }

    private static RecordBatch WithMissing(RecordBatch batch, Random random, double rate)
    {
        float[] numeric = batch.Numeric.ToArray();
        for (int i = 0; i < numeric.Length; i++)
        {
            if (random.NextDouble() < rate)
            {
                numeric[i] = random.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
            }
        }

        return new RecordBatch
        {
            Count = batch.Count,
            Numeric = numeric,
            Scores = batch.Scores,
            Categorical = batch.Categorical,
            Text = batch.Text,
        };
    }

    private static NumericTotals Totals(float[] data, int start, int count, KernelPath path)
    {
        NumericTotals totals = Kernel.CreateTotals();
        Kernel.AddRows(data, start * Channels, Channels, count, Channels, totals, path);
        return totals;
    }

    private static RunningMoments Of(double[] values)
    {
        var moments = default(RunningMoments);
        foreach (double v in values)
        {
            moments.Add(v);
        }

        return moments;
    }

    /// <summary>Moments within the rounding of float deviations summed in lanes (the kernel's documented precision).</summary>
    private static void AssertNear(double[] finite, RunningMoments moments, int channel)
    {
        Assert.Equal(finite.Length, moments.Count);
        if (finite.Length == 0)
        {
            return;
        }

        double mean = finite.Average();
        double m2 = finite.Sum(v => (v - mean) * (v - mean));
        double largest = finite.Max(Math.Abs);
        Assert.True(Math.Abs(moments.Mean - mean) <= 1e-5 * (largest + 1), $"channel {channel}: mean {moments.Mean}, expected {mean}");
        // Deviations are taken in float from a centre within the data, or from the channel's shift (here the channel
        // number) when a chunk starts with a missing value: the error scales with the squares about either.
        double centre = largest + channel;
        double squares = finite.Sum(v => (Math.Abs(v) + centre) * (Math.Abs(v) + centre));
        Assert.True(Math.Abs(moments.M2 - m2) <= (1e-4 * m2) + (1e-5 * squares) + 1e-9,
            $"channel {channel}: sum of squared deviations {moments.M2}, expected {m2}");
    }

    private static void AssertSame(NumericTotals expected, NumericTotals actual)
    {
        for (int c = 0; c < Channels; c++)
        {
            Assert.Equal(expected.Counts[c], actual.Counts[c]);
            Assert.Equal(expected.Missing[c], actual.Missing[c]);
            Assert.Equal(expected.Finite[c], actual.Finite[c]);
            RunningMoments e = expected.Moments[c], a = actual.Moments[c];
            Assert.Equal(e.Count, a.Count);
            double scale = Math.Sqrt(Math.Max(e.M2, 0)) + Math.Abs(e.Mean) + 1;
            Assert.True(Math.Abs(e.Mean - a.Mean) <= 1e-9 * scale, $"channel {c}: mean {a.Mean}, whole {e.Mean}");
            Assert.True(Math.Abs(e.M2 - a.M2) <= 1e-6 * (e.M2 + 1), $"channel {c}: M2 {a.M2}, whole {e.M2}");
            Assert.True(Math.Abs(expected.Below[c] - actual.Below[c]) <= 1e-9 * (Math.Abs(expected.Below[c]) + 1), $"channel {c}: below");
            Assert.True(Math.Abs(expected.Above[c] - actual.Above[c]) <= 1e-9 * (Math.Abs(expected.Above[c]) + 1), $"channel {c}: above");
        }
    }
}
