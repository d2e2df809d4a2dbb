using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

/// <summary>D4 on the hand-made profile: the baseline's residual of P(fraud) where fraud is unexpected is 0 ± 0.05.</summary>
public sealed class DecouplingTests
{
    private static readonly DetectorSettings Settings = new();
    private static readonly DetectorKey Key = new(KeyKind.Category, "merchant", "mcc-7777");

    private static Decoupling Baseline(TriggerProfile profile) =>
        new(profile.ResidualMean, profile.ResidualStd, new bool[profile.Classes], Settings, Labels);

    [Fact]
    public void A_key_whose_served_output_leaves_the_surrogate_is_corroborated()
    {
        TriggerProfile profile = TwoStrata();
        Candidate candidate = Candidate(profile, Key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, servedFraud: 0.9, surrogateFraud: 0.1), 10));

        Corroboration evidence = Assert.IsType<Corroboration>(Baseline(profile).Corroborate(candidate, Fraud));
        // Mean residual 0.8 over 10 records: z = 0.8 / (0.05 / √10) = 50.6.
        Assert.Equal(
            "D4: on its 10 records with inputs against 'fraud', the served P(fraud) exceeds the surrogate's by 0.800 on average (baseline 0.000 ± 0.050); z = 50.6",
            evidence.ToString());
    }

    [Fact]
    public void A_key_whose_served_output_follows_the_surrogate_is_not_corroborated()
    {
        TriggerProfile profile = TwoStrata();
        var decoupling = Baseline(profile);

        // A small effect, however significant: 0.02 over 1,000 records is z = 12.6 but under the 0.5 the effect must reach.
        Assert.Null(decoupling.Corroborate(Candidate(profile, Key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, servedFraud: 0.12, surrogateFraud: 0.1), 1000)), Fraud));

        // A large effect on too few records to judge.
        Assert.Null(decoupling.Corroborate(Candidate(profile, Key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, servedFraud: 0.9, surrogateFraud: 0.1), 9)), Fraud));

        // Records where 'fraud' is expected carry no evidence about it.
        Assert.Null(decoupling.Corroborate(Candidate(profile, Key, Enumerable.Repeat(Record(profile, HighRisk, Fraud, servedFraud: 0.99, surrogateFraud: 0.1), 100)), Fraud));
    }
}
