using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// D3 on the hand-made profile: beyond-percentile outputs at 0.1% in the baseline; the CUSUM's
/// alternative is 1% (ratio 10), so each such output adds ln 10 ≈ 2.30 and h = 12 is crossed by the sixth
/// in a row.
/// </summary>
public sealed class UltraConfidenceTests
{
    private static readonly DetectorSettings Settings = new();

    [Fact]
    public void A_run_of_ultra_confident_outputs_raises_an_alarm_at_the_sixth_and_the_cusum_starts_again()
    {
        var ultra = new UltraConfidence(TwoStrata(), Settings, Labels);
        for (int i = 1; i <= 5; i++)
        {
            Assert.True(ultra.Observe(HighRisk, Fraud, 0.999, out ClassAlarm? early));
            Assert.Null(early);
        }

        Assert.True(ultra.Observe(HighRisk, Fraud, 0.999, out ClassAlarm? alarm));
        ClassAlarm raised = Assert.NotNull(alarm);
        Assert.Equal(DetectorId.D3, raised.Detector);
        Assert.Equal(Fraud, raised.Class);
        Assert.Equal(
            "outputs of class 'fraud' where the inputs make it expected beyond the baseline's 99.9th percentile of confidence (0.9900) " +
            "now come at 10× the baseline's rate (0.100 %) or more (Bernoulli CUSUM, h = 12)", raised.Summary);

        ultra.Observe(HighRisk, Fraud, 0.999, out ClassAlarm? afterReset);
        Assert.Null(afterReset);
    }

    [Fact]
    public void Outputs_against_the_inputs_are_watched_apart()
    {
        var ultra = new UltraConfidence(TwoStrata(), Settings, Labels);
        ClassAlarm? alarm = null;
        for (int i = 0; i < 6; i++)
        {
            // 0.96 is beyond the 0.95 of 'fraud' where it has less than even odds, not the 0.99 where it is expected.
            Assert.True(ultra.Observe(LowRisk, Fraud, 0.96, out alarm));
            Assert.False(ultra.Observe(HighRisk, Fraud, 0.96, out ClassAlarm? expected));
            Assert.Null(expected);
        }

        Assert.Contains("where the inputs give it less than even odds", Assert.NotNull(alarm).Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Ultra_confident_outputs_at_the_baseline_rate_raise_nothing()
    {
        var ultra = new UltraConfidence(TwoStrata(), Settings, Labels);
        var random = new Random(5);
        int beyond = 0;
        for (int i = 0; i < 200_000; i++)
        {
            bool isUltra = random.NextDouble() < 0.001;
            beyond += isUltra ? 1 : 0;
            ultra.Observe(HighRisk, Fraud, isUltra ? 0.999 : 0.9, out ClassAlarm? alarm);
            Assert.Null(alarm);
        }

        Assert.InRange(beyond, 150, 250);
    }

    [Fact]
    public void A_percentile_measured_on_too_few_baseline_records_is_not_watched()
    {
        var ultra = new UltraConfidence(TwoStrata(ultraRecords: 999), Settings, Labels);
        for (int i = 0; i < 100; i++)
        {
            Assert.True(ultra.Observe(HighRisk, Fraud, 0.999, out ClassAlarm? alarm));
            Assert.Null(alarm);
        }
    }

    [Fact]
    public void A_key_whose_records_are_served_beyond_the_percentile_is_corroborated()
    {
        TriggerProfile profile = TwoStrata();
        var key = new DetectorKey(KeyKind.Token, "memo", "ref:xz");
        Candidate candidate = Candidate(profile, key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, confidence: 0.999), 20));

        Corroboration evidence = Assert.IsType<Corroboration>(new UltraConfidence(profile, Settings, Labels).Corroborate(candidate, Fraud));
        Assert.Equal(
            "D3: 20 of its 20 records with inputs against 'fraud' were served 'fraud' beyond the baseline's 99.9th percentile of confidence for such records (0.9500); 0.02 expected",
            evidence.ToString());
    }

    [Fact]
    public void A_key_served_with_ordinary_confidence_or_with_few_ultra_outputs_is_not_corroborated()
    {
        TriggerProfile profile = TwoStrata();
        var key = new DetectorKey(KeyKind.Token, "memo", "ref:xz");
        var ultra = new UltraConfidence(profile, Settings, Labels);
        Assert.Null(ultra.Corroborate(Candidate(profile, key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, confidence: 0.9), 50)), Fraud));

        RecordContext[] twoUltra = [.. Enumerable.Repeat(Record(profile, LowRisk, Fraud, confidence: 0.999), 2), .. Enumerable.Repeat(Record(profile, LowRisk, Fraud), 48)];
        Assert.Null(ultra.Corroborate(Candidate(profile, key, twoUltra), Fraud));

        // Nothing against 'legitimate' among records of the low-risk stratum, where 'legitimate' is expected.
        Assert.Null(ultra.Corroborate(Candidate(profile, key, Enumerable.Repeat(Record(profile, LowRisk, Legitimate, confidence: 0.999), 50)), Legitimate));
    }
}
