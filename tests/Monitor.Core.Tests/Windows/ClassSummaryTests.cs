using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Windows;

/// <summary>The output summary (predicted class, its probability, entropy) of every path against the scalar one.</summary>
[Trait("Category", "Kernels")]
public sealed class ClassSummaryTests
{
    public static TheoryData<KernelPath> Paths => [.. Enum.GetValues<KernelPath>()];

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_path_agrees_with_the_scalar_summary_for_every_length_and_width(KernelPath path)
    {
        if (!NumericKernel.Supports(path))
        {
            Assert.Skip($"the CPU (or DOTNET_Enable* settings) does not accelerate {path}");
        }

        var random = new Random(3);
        var summary = new ClassSummary();
        var reference = new ClassSummary();
        foreach (int k in new[] { 2, 3, 7, 8, 9, 10, 16, 17, 40 })
        {
            for (int n = 0; n <= 300; n += n < 20 ? 1 : 37)
            {
                float[] scores = Scores(random, n, k);
                var (best, max, entropy) = (new int[n], new float[n], new float[n]);
                var (bestRef, maxRef, entropyRef) = (new int[n], new float[n], new float[n]);
                summary.Summarise(scores, k, best, max, entropy, path);
                reference.Summarise(scores, k, bestRef, maxRef, entropyRef, KernelPath.Scalar);
                Assert.Equal(bestRef, best);
                Assert.Equal(maxRef, max);
                for (int i = 0; i < n; i++)
                {
                    Assert.True(Math.Abs(entropyRef[i] - entropy[i]) <= 2e-6 * Math.Max(1, entropyRef[i]),
                        $"{path}, k {k}, n {n}, record {i}: entropy {entropy[i]}, expected {entropyRef[i]}");
                }
            }
        }
    }

    [Fact]
    public void Ties_go_to_the_first_class_and_zero_probabilities_add_no_entropy()
    {
        float[] scores = [0.5f, 0.5f, 0f, 0f, 0f, 1f, 0f, 0f, 0.25f, 0.25f, 0.25f, 0.25f];
        foreach (KernelPath path in Enum.GetValues<KernelPath>().Where(NumericKernel.Supports))
        {
            var (best, max, entropy) = (new int[3], new float[3], new float[3]);
            new ClassSummary().Summarise(scores, 4, best, max, entropy, path);
            Assert.Equal([0, 1, 0], best);
            Assert.Equal([0.5f, 1f, 0.25f], max);
            Assert.Equal(1.0, entropy[0], 1e-6);
            Assert.Equal(0.0, entropy[1], 1e-6);
            Assert.Equal(2.0, entropy[2], 1e-6);
        }
    }

    /// <summary>Random probability vectors, some with exact ties, zeros and tiny values.</summary>
    private static float[] Scores(Random random, int n, int k)
    {
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            Span<float> p = scores.AsSpan(i * k, k);
            float total = 0;
            for (int c = 0; c < k; c++)
            {
                p[c] = random.Next(6) switch
                {
                    0 => 0f,
                    1 => 1e-30f,
                    2 => 0.25f,
                    _ => (float)Math.Exp(3 * random.NextDouble()),
                };
                total += p[c];
            }

            for (int c = 0; c < k; c++)
            {
                p[c] = total > 0 ? p[c] / total : 1f / k;
            }
        }

        return scores;
    }
}
