using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// D6 on the hand-made profile, with windows of 500 low-risk and 500 high-risk records: the baseline
/// expects 50 + 400 = 450 'fraud' of them.
/// </summary>
public sealed class LabelRateTests
{
    [Fact]
    public void A_class_served_more_often_than_the_inputs_explain_raises_an_alarm()
    {
        var labelRate = new LabelRate(TwoStrata(), new DetectorSettings(), Labels);
        Window(labelRate, lowRiskFraud: 200, highRiskFraud: 400);

        IReadOnlyList<ClassAlarm> alarms = labelRate.CloseWindow();
        // Variance 500·0.1·0.9·1.1 + 500·0.8·0.2·1.1 = 137.5; z = (600 − 450) / √(137.5 + 0.25) = ±12.8.
        Assert.Equal([Legitimate, Fraud], alarms.Select(a => a.Class));
        ClassAlarm fraud = alarms[1];
        Assert.Equal(DetectorId.D6, fraud.Detector);
        Assert.Equal(12.78, fraud.Z, 2);
        Assert.Equal(-12.78, alarms[0].Z, 2);
        Assert.Equal(1000, fraud.Support);
        Assert.Equal(0.6, fraud.Rate, 12);
        Assert.Equal(0.45, fraud.Expected, 12);
        Assert.Equal("class 'fraud' is predicted for 60.00 % of the last 1000 records; the baseline predicts 45.00 % for the same inputs (z = 12.8)", fraud.Summary);
    }

    [Fact]
    public void Classes_served_as_the_inputs_explain_raise_nothing()
    {
        var labelRate = new LabelRate(TwoStrata(), new DetectorSettings(), Labels);
        for (int w = 0; w < 20; w++)
        {
            Window(labelRate, lowRiskFraud: 50, highRiskFraud: 400);
            Assert.Empty(labelRate.CloseWindow());
        }
    }

    [Fact]
    public void A_shift_leaves_the_look_back_after_its_windows()
    {
        var labelRate = new LabelRate(TwoStrata(), new DetectorSettings { LabelRateWindows = 3 }, Labels);
        Window(labelRate, lowRiskFraud: 200, highRiskFraud: 400);
        Assert.NotEmpty(labelRate.CloseWindow());

        // Two windows: z = 150 / √300.25 = 8.7; three: 150 / √487.75 = 6.8, under 8; four: the shift is gone.
        bool[] alarmed = new bool[3];
        for (int w = 0; w < 3; w++)
        {
            Window(labelRate, lowRiskFraud: 50, highRiskFraud: 400);
            alarmed[w] = labelRate.CloseWindow().Count > 0;
        }

        Assert.Equal([true, false, false], alarmed);
    }

    private static void Window(LabelRate labelRate, int lowRiskFraud, int highRiskFraud)
    {
        for (int i = 0; i < 500; i++)
        {
            labelRate.Observe(i < lowRiskFraud ? Fraud : Legitimate, LowRisk);
            labelRate.Observe(i < highRiskFraud ? Fraud : Legitimate, HighRisk);
        }
    }
}
