using MathNet.Numerics.Distributions;

namespace Monitor.Core.Statistics;

/// <summary>Upper tail of the Poisson distribution: how surprising a count is against its expectation.</summary>
public static class PoissonTail
{
    /// <summary>P(X ≥ observed) for X ~ Poisson(expected); 0 when nothing is expected.</summary>
    public static double AtLeast(long observed, double expected) =>
        expected <= 0 ? 0 : 1 - Poisson.CDF(expected, observed - 1);
}
