using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// D1/D2 on the hand-made profile: a key on 40 low-risk records, where the baseline serves 'fraud' to
/// 10%. All 40 served 'fraud' is x = 40 against 4 expected, variance 40·0.1·0.9·(1 + 40/5000) = 3.63, so
/// z = 36 / √3.88 = 18.3.
/// </summary>
public sealed class KeySkewTestTests
{
    private static readonly DetectorSettings Settings = new();
    private static readonly DetectorKey Token = new(KeyKind.Token, "memo", "ref:xz");

    [Fact]
    public void A_new_key_whose_records_are_all_served_the_unexpected_class_is_skewed()
    {
        TriggerProfile profile = TwoStrata();
        var test = new KeySkewTest(profile, Settings, Labels);
        Candidate candidate = Candidate(profile, Token, Enumerable.Repeat(Record(profile, LowRisk, Fraud), 40));

        KeySkew skew = Assert.IsType<KeySkew>(test.Test(candidate, test.Known(KeyHash.Of(KeyKind.Token, 0, "ref:xz".AsSpan())), Fraud));
        Assert.Equal((Fraud, 40L, 40L, 1.0, null, true), (skew.Class, skew.Support, skew.Contrarian, skew.Rate, skew.KeyRate, skew.IsNewKey));
        Assert.Equal(0.1, skew.ExpectedRate, 12);
        Assert.Equal(18.28, skew.Z, 2);
        Assert.Null(test.Test(candidate, null, Legitimate));

        Finding finding = test.Finding(candidate, skew, Severity.Warning, [], records: 1234, DateTimeOffset.UnixEpoch);
        Assert.Equal(DetectorId.D1, finding.Detector);
        Assert.Equal((1234L, 40L, 10.0), (finding.RaisedAtRecord, finding.RaisedAtSupport, finding.Lift));
        Assert.Equal(
            "token 'ref:xz' in memo: of 40 records carrying it, 40 have inputs for which the baseline gives 'fraud' less than even odds, " +
            "yet 100.0 % of those were served 'fraud' where the baseline predicts 10.0 % (pooled z = 18.3; the key is new)", finding.Summary);

        var category = new DetectorKey(KeyKind.Category, "merchant", "mcc-7777");
        Assert.Equal(DetectorId.D2, test.Finding(Candidate(profile, category, []), skew, Severity.Warning, [], 0, DateTimeOffset.UnixEpoch).Detector);
    }

    [Fact]
    public void A_key_served_at_the_baseline_rate_is_not_skewed()
    {
        TriggerProfile profile = TwoStrata();
        var test = new KeySkewTest(profile, Settings, Labels);
        RecordContext[] records = [.. Enumerable.Repeat(Record(profile, LowRisk, Fraud), 4), .. Enumerable.Repeat(Record(profile, LowRisk, Legitimate), 36)];
        Assert.Null(test.Test(Candidate(profile, Token, records), null, Fraud));
    }

    [Fact]
    public void A_key_as_skewed_in_the_baseline_is_not_skewed_now()
    {
        var known = new BaselineKey
        {
            Kind = KeyKind.Token,
            Field = 0,
            Text = "ref:xz",
            Support = 200,
            LabelCounts = [100, 100],
            ContrarianCounts = [0, 100],
            ContrarianHits = [0, 95],
        };
        TriggerProfile profile = TwoStrata(keys: [known]);
        var test = new KeySkewTest(profile, Settings, Labels);
        BaselineKey found = Assert.IsType<BaselineKey>(test.Known(known.Hash()));

        Assert.Null(test.Test(Candidate(profile, Token, Enumerable.Repeat(Record(profile, LowRisk, Fraud), 40)), found, Fraud));
    }

    [Fact]
    public void A_shift_of_all_traffic_is_not_a_key_skew()
    {
        TriggerProfile profile = TwoStrata();
        var test = new KeySkewTest(profile, Settings, Labels);
        Candidate candidate = Candidate(profile, Token, Enumerable.Repeat(Record(profile, LowRisk, Fraud), 40));

        // Today's traffic counts once it holds 1,000 records where 'fraud' is unexpected.
        for (int i = 0; i < 999; i++)
        {
            test.Observe(LowRisk, Fraud);
        }

        Assert.NotNull(test.Test(candidate, null, Fraud));
        test.Observe(LowRisk, Fraud);
        Assert.Null(test.Test(candidate, null, Fraud));
    }
}
