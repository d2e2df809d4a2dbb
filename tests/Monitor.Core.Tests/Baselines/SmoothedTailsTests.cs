using Monitor.Core.Baselines;
using Monitor.Core.Ingest;

namespace Monitor.Core.Tests.Baselines;

/// <summary>The generalised Pareto tails the calibration's bootstrap draws extremes from.</summary>
public sealed class SmoothedTailsTests
{
    [Fact]
    public void A_pareto_tail_is_fitted_with_its_shape_and_scale()
    {
        // Beyond any threshold u, Pareto(2.5) excesses are generalised Pareto with ξ = 1/2.5 = 0.4 and σ = 0.4·u.
        var random = new Random(7);
        RecordBatch batch = Column([.. Enumerable.Range(0, 100_000).Select(_ => HeavyTailTraffic.Draw(HeavyTail.Pareto, random))]);
        SmoothedTails tails = SmoothedTails.Fit(batch, features: 1);

        var (threshold, shape, scale) = Assert.NotNull(tails.Of(0, +1));
        Assert.InRange(threshold, Math.Pow(0.02, -0.4) * 0.97, Math.Pow(0.02, -0.4) * 1.03);
        Assert.InRange(shape, 0.3, 0.5);
        Assert.InRange(scale / (0.4 * threshold), 0.85, 1.15);
    }

    [Fact]
    public void A_bounded_tail_gets_a_negative_shape_and_values_beyond_the_threshold_are_redrawn_beyond_it()
    {
        var random = new Random(8);
        RecordBatch batch = Column([.. Enumerable.Range(0, 20_000).Select(_ => random.NextDouble())]);
        SmoothedTails tails = SmoothedTails.Fit(batch, features: 1);
        var (threshold, shape, _) = Assert.NotNull(tails.Of(0, +1));
        Assert.InRange(shape, -1.0, -0.7);
        double below = -Assert.NotNull(tails.Of(0, -1)).Threshold;

        float[] before = batch.Numeric.ToArray();
        tails.Apply(batch, new Random(9));
        float[] after = batch.Numeric.ToArray();
        int redrawn = 0;
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] > threshold)
            {
                Assert.True(after[i] > threshold);
                redrawn += after[i] != before[i] ? 1 : 0;
            }
            else if (before[i] >= below)
            {
                Assert.Equal(before[i], after[i]);
            }
        }

        Assert.InRange(redrawn, 350, 400);
    }

    [Fact]
    public void A_feature_of_few_distinct_values_is_left_as_it_is()
    {
        var random = new Random(10);
        RecordBatch batch = Column([.. Enumerable.Range(0, 20_000).Select(_ => (double)random.Next(5))]);
        SmoothedTails tails = SmoothedTails.Fit(batch, features: 1);
        Assert.False(tails.Any);
    }

    [Fact]
    public void Refitted_tails_differ_from_the_fit_as_a_refit_on_as_many_excesses_would()
    {
        var random = new Random(11);
        RecordBatch batch = Column([.. Enumerable.Range(0, 50_000).Select(_ => HeavyTailTraffic.Draw(HeavyTail.StudentT, random))]);
        SmoothedTails tails = SmoothedTails.Fit(batch, features: 1);
        double fitted = tails.Of(0, +1)!.Value.Shape;
        double[] shapes = [.. Enumerable.Range(0, 200).Select(i => tails.Refitted(new Random(i)).Of(0, +1)!.Value.Shape)];
        double mean = shapes.Average();
        double sd = Math.Sqrt(shapes.Sum(s => (s - mean) * (s - mean)) / (shapes.Length - 1));
        Assert.InRange(mean, fitted - 0.05, fitted + 0.05);
        // 1,000 excesses: the moments estimator's standard error at ξ ≈ 0.3 is about 0.05 to 0.07.
        Assert.InRange(sd, 0.03, 0.1);
    }

    private static RecordBatch Column(double[] values) => new()
    {
        Count = values.Length,
        Numeric = values.Select(v => (float)v).ToArray(),
        Scores = new float[values.Length],
        Categorical = [],
        Text = [],
    };
}
