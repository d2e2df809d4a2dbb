using Monitor.Core.Detectors;
using Monitor.Server.Metrics;

namespace Monitor.Server.Tests;

/// <summary>The metrics that follow counts the detectors keep since they started.</summary>
public sealed class MetricsTests
{
    [Fact]
    public void Keys_turned_away_keep_counting_after_the_detectors_are_built_afresh()
    {
        var metrics = new MonitorMetrics();
        metrics.CandidatesLoaded("m", "v", new CandidateLoad(16, 8, Refused: 5, WarnedEvicted: 1));
        metrics.CandidatesLoaded("m", "v", new CandidateLoad(16, 8, Refused: 8, WarnedEvicted: 1));
        Assert.Equal(8, metrics.CandidatesTurnedAway.WithLabels("m", "v", "refused").Value);

        // A new baseline builds the detectors afresh: their counts start again at 0, and what they turn away from then on is added.
        metrics.CandidatesLoaded("m", "v", new CandidateLoad(4, 0, Refused: 2, WarnedEvicted: 0));
        metrics.CandidatesLoaded("m", "v", new CandidateLoad(4, 0, Refused: 3, WarnedEvicted: 4));
        Assert.Equal(11, metrics.CandidatesTurnedAway.WithLabels("m", "v", "refused").Value);
        Assert.Equal(5, metrics.CandidatesTurnedAway.WithLabels("m", "v", "warned_evicted").Value);
        Assert.Equal(0, metrics.CandidatesTurnedAway.WithLabels("m", "other", "refused").Value);
    }
}
