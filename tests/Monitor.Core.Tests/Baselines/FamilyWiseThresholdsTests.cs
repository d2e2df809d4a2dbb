using Monitor.Core.Baselines;

namespace Monitor.Core.Tests.Baselines;

public sealed class FamilyWiseThresholdsTests
{
    [Fact]
    public void Independent_statistics_share_alpha_and_the_whole_family_alarms_at_alpha()
    {
        const int windows = 4000;
        const int slots = 20;
        var random = new Random(3);
        double[] values = [.. Enumerable.Range(0, windows * slots).Select(_ => -Math.Log(1 - random.NextDouble()))];
        ThresholdSelection selection = FamilyWiseThresholds.Select(values, windows, slots, alpha: 0.02);

        Assert.InRange(selection.RealisedFalseAlarmRate, 0.019, 0.021);
        // For independent statistics p* is close to the Šidák level 1 − (1 − α)^(1/J).
        double sidak = 1 - Math.Pow(1 - 0.02, 1.0 / slots);
        Assert.InRange(selection.TailProbability, sidak * 0.75, sidak * 1.33);

        // On fresh draws from the same null, the family alarms at about α.
        int alarms = 0;
        const int fresh = 20_000;
        for (int w = 0; w < fresh; w++)
        {
            for (int s = 0; s < slots; s++)
            {
                if (-Math.Log(1 - random.NextDouble()) > selection.Thresholds[s])
                {
                    alarms++;
                    break;
                }
            }
        }

        Assert.InRange((double)alarms / fresh, 0.015, 0.026);
    }

    [Fact]
    public void Identical_statistics_cost_no_correction()
    {
        const int windows = 2000;
        const int slots = 10;
        var random = new Random(4);
        var values = new double[windows * slots];
        for (int w = 0; w < windows; w++)
        {
            double v = random.NextDouble();
            values.AsSpan(w * slots, slots).Fill(v);
        }

        ThresholdSelection selection = FamilyWiseThresholds.Select(values, windows, slots, alpha: 0.05);
        Assert.InRange(selection.TailProbability, 0.045, 0.055);
        Assert.All(selection.Thresholds, t => Assert.InRange(t, 0.93, 0.97));
    }

    [Fact]
    public void A_statistic_that_never_moved_alarms_on_any_change()
    {
        const int windows = 1000;
        var random = new Random(5);
        var values = new double[windows * 2];
        for (int w = 0; w < windows; w++)
        {
            values[w * 2] = random.NextDouble();
            values[w * 2 + 1] = 0;
        }

        ThresholdSelection selection = FamilyWiseThresholds.Select(values, windows, 2, alpha: 0.01);
        Assert.Equal(0.0, selection.Thresholds[1]);
        Assert.InRange(selection.Thresholds[0], 0.97, 1.0);
    }
}
