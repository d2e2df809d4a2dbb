using Monitor.Core.Baselines;
using Monitor.Core.Schema;
using Monitor.Core.Versions;
using Monitor.Core.Windows;

namespace Monitor.Core.Tests.Windows;

public sealed class ReferenceFitTests
{
    private static readonly BaselineProfile Baseline = new()
    {
        Id = 7,
        Model = "fraud",
        Schema = SchemaTraffic.Schema(numeric: 1, categorical: 0),
        CreatedAt = DateTimeOffset.UnixEpoch,
        Source = "reference",
        WindowRecords = 1000,
        FalseAlarmRate = 0.01,
        CalibratedFalseAlarmRate = 0.01,
        ThresholdQuantile = 0.999,
        BootstrapWindows = 2000,
        RecordsReceived = 20_000,
        RecordsProfiled = 10_000,
        RecordsCalibration = 10_000,
        Numeric = [],
        Categorical = [],
    };

    [Fact]
    public void Counts_complete_windows_judged_against_the_baseline_only()
    {
        WindowResult[] history =
        [
            Window(baselineId: 7, drifted: true),
            Window(baselineId: 7, drifted: false),
            Window(baselineId: 7, drifted: true, complete: false),
            Window(baselineId: 6, drifted: true),
        ];
        Assert.Equal(new ReferenceFit(2, 1), ReferenceFit.Of(history, 7));
    }

    [Theory]
    [InlineData(10, 6, true)]
    [InlineData(10, 5, false)]
    [InlineData(9, 9, false)]
    [InlineData(50, 26, true)]
    public void Most_of_at_least_ten_windows_is_more_than_half(int judged, int drifted, bool mostly) =>
        Assert.Equal(mostly, new ReferenceFit(judged, drifted).MostlyDrifted);

    [Fact]
    public void A_trusted_version_that_mostly_drifts_is_told_the_reference_does_not_represent_it()
    {
        string? warning = new ReferenceFit(12, 11).Warning("fraud", "v3", VersionState.KnownGood, Baseline);
        Assert.NotNull(warning);
        Assert.Contains("11 of the last 12 windows of trusted version 'v3' drifted against baseline 7", warning);
        Assert.Contains("1%", warning);
        Assert.Contains("drift baseline capture -m fraud --from-version v3", warning);
    }

    [Fact]
    public void A_candidate_that_drifts_says_nothing_about_the_reference_unless_the_baseline_is_its_own()
    {
        var fit = new ReferenceFit(12, 11);
        Assert.Null(fit.Warning("fraud", "v4", VersionState.Candidate, Baseline));
        Assert.Null(fit.Warning("fraud", "v4", VersionState.Suspect, Baseline));
        Assert.NotNull(fit.Warning("fraud", "v4", VersionState.ObservedClean, Baseline with { Source = "captured:v4" }));
        Assert.Null(new ReferenceFit(12, 2).Warning("fraud", "v3", VersionState.KnownGood, Baseline));
    }

    private static WindowResult Window(long baselineId, bool drifted, bool complete = true) => new()
    {
        Index = 0,
        BaselineId = baselineId,
        OpenedAt = DateTimeOffset.UnixEpoch,
        ClosedAt = DateTimeOffset.UnixEpoch,
        Records = 1000,
        Complete = complete,
        Channels =
        [
            new ChannelResult
            {
                Name = "x0",
                Kind = ChannelKind.Numeric,
                Count = 1000,
                Missing = 0,
                Mean = 0,
                Std = 1,
                BaselineMean = 0,
                BaselineStd = 1,
                Counts = [],
                Statistics = [Statistic.Psi],
                Values = [drifted ? 1 : 0],
                Thresholds = [0.5],
                PValues = [double.NaN],
                Exceeded = [drifted],
            },
        ],
    };
}
