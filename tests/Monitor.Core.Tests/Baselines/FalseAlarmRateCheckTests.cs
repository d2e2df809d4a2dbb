using Monitor.Core.Baselines;

namespace Monitor.Core.Tests.Baselines;

public sealed class FalseAlarmRateCheckTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    public void A_rate_outside_the_open_unit_interval_is_refused_naming_the_field(double rate) =>
        Assert.Equal($"false_alarm_rate must lie strictly between 0 and 1, got {rate}", BaselineSettings.FalseAlarmRateProblem("false_alarm_rate", rate, 2000));

    [Fact]
    public void A_rate_too_small_for_the_bootstrap_says_what_would_do()
    {
        Assert.Null(BaselineSettings.FalseAlarmRateProblem("x", 0.0025, 2000));
        Assert.Equal("x of 0.002 is too small to calibrate with 2000 bootstrap windows (Monitor:Baselines:BootstrapWindows): at least 5 of them " +
            "must be able to alarm, so use a rate of at least 0.0025 or at least 2500 bootstrap windows",
            BaselineSettings.FalseAlarmRateProblem("x", 0.002, 2000));
    }

    [Fact]
    public void The_builder_refuses_with_the_same_words()
    {
        var ex = Assert.Throws<BaselineException>(() => SchemaTraffic.Baseline(SchemaTraffic.Schema(), 3000, 500, alpha: 1.5, seed: 1));
        Assert.Equal("false_alarm_rate must lie strictly between 0 and 1, got 1.5", ex.Message);
    }
}
