using System.Text.Json;
using System.Text.Json.Serialization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// A restart must not cost the detectors their evidence: a checkpoint taken part-way through a trigger run, stored as
/// JSON and restored into fresh detectors, finds the trigger at the same record as detectors that never stopped.
/// </summary>
public sealed class DetectorStateTests
{
    private const int Batch = 500;
    private const int Total = 60_000;

    private static readonly JsonSerializerOptions Json = Checkpoints.Json;

    private static readonly Lazy<CompiledBaseline> Baseline = Checkpoints.FraudBaseline;

    private static readonly Lazy<RecordBatch[]> TriggerRun = new(() =>
    {
        var traffic = new FraudTraffic(seed: 79);
        return [.. Enumerable.Range(0, Total / Batch).Select(_ => traffic.Next(Batch, new FraudDrift(TriggerRate: 0.003)))];
    });

    [Theory]
    [InlineData(500, false)]
    [InlineData(4_000, false)]
    [InlineData(9_500, false)]
    [InlineData(15_000, false)]
    [InlineData(500, true)]
    [InlineData(4_000, true)]
    [InlineData(9_500, true)]
    [InlineData(15_000, true)]
    public void Detectors_restored_from_a_checkpoint_find_the_trigger_at_the_same_record_as_detectors_that_never_stopped(int restartAt, bool residualTest)
    {
        var settings = new DetectorSettings { ResidualTest = residualTest };
        Finding uninterrupted = Critical(Feed(NewMonitor(settings: settings), 0, Total / Batch));

        VersionMonitor before = Feed(NewMonitor(settings: settings), 0, restartAt / Batch);
        string stored = JsonSerializer.Serialize(before.Detector!.Export(), Json);
        DetectorState state = JsonSerializer.Deserialize<DetectorState>(stored, Json)!;
        Assert.Equal(restartAt, state.Records);
        VersionMonitor after = Feed(NewMonitor(before.Detector.Findings, state, settings), restartAt / Batch, Total / Batch);

        Finding restored = Critical(after);
        Assert.Equal(uninterrupted.Key, restored.Key);
        Assert.Equal((uninterrupted.RaisedAtRecord, uninterrupted.RaisedAtSupport), (restored.RaisedAtRecord, restored.RaisedAtSupport));
        Assert.Equal(Total, after.Detector!.Records);
    }

    [Fact]
    public void Without_the_checkpoint_a_restart_part_way_through_delays_the_finding()
    {
        Finding uninterrupted = Critical(Feed(NewMonitor(), 0, Total / Batch));
        // A restart at 2,000 records, before the uninterrupted finding (at record 3,216).
        VersionMonitor before = Feed(NewMonitor(), 0, 2_000 / Batch);
        VersionMonitor after = Feed(NewMonitor(before.Detector!.Findings, state: null), 2_000 / Batch, Total / Batch);

        // The counts before the restart are gone: the trigger is found later, on the evidence after it alone.
        Assert.True(uninterrupted.RaisedAtRecord > 2_000, $"raised at {uninterrupted.RaisedAtRecord}, before the restart");
        long late = 2_000 + Critical(after).RaisedAtRecord - uninterrupted.RaisedAtRecord;
        Assert.True(late > 1000, $"found {late} records later than without a restart");
    }

    [Fact]
    public void A_checkpoint_of_another_baseline_is_not_restored()
    {
        VersionMonitor before = Feed(NewMonitor(), 0, 20);
        DetectorState state = before.Detector!.Export() with { BaselineId = Baseline.Value.Profile.Id + 1 };
        VersionMonitor after = NewMonitor([], state);

        Assert.Equal(0, after.Detector!.Records);
        Assert.Equal(0, after.Detector.CandidateCount);
    }

    [Fact]
    public void A_checkpoint_keeps_what_the_candidate_table_turned_away_and_an_older_one_restores_without_it()
    {
        // A table of 16 holding warned keys on traffic all served four times the odds of 'legitimate' (a flood of forged
        // outputs: its common keys are warned populations), and later promotions that find it full.
        var settings = new DetectorSettings { Candidates = 16 };
        VersionMonitor before = NewMonitor(settings: settings);
        var preparer = new BatchPreparer(Baseline.Value);
        var traffic = new FraudTraffic(seed: 80);
        for (int b = 0; b < 60; b++)
        {
            RecordBatch batch = traffic.Next(Batch, new FraudDrift(FraudLogitShift: -Math.Log(4)));
            before.Add(batch, preparer.Prepare(batch), []);
        }

        CandidateLoad load = before.CandidateLoad!.Value;
        Assert.True(load.WarnedEvicted > 0, $"{load}");

        string stored = JsonSerializer.Serialize(before.Detector!.Export(), Json);
        VersionMonitor after = NewMonitor(before.Detector.Findings, JsonSerializer.Deserialize<DetectorState>(stored, Json), settings);
        Assert.Equal(load, after.CandidateLoad);

        // A checkpoint from before the counts were kept has no such field: the candidates restore, the counts start at 0.
        using JsonDocument document = JsonDocument.Parse(stored);
        string older = JsonSerializer.Serialize(document.RootElement.EnumerateObject()
            .Where(p => !p.Name.Equals(nameof(DetectorState.CandidatesTurnedAway), StringComparison.OrdinalIgnoreCase))
            .ToDictionary(p => p.Name, p => p.Value));
        Assert.DoesNotContain("TurnedAway", older, StringComparison.OrdinalIgnoreCase);
        VersionMonitor restored = NewMonitor(before.Detector.Findings, JsonSerializer.Deserialize<DetectorState>(older, Json), settings);
        Assert.Equal(load with { Refused = 0, WarnedEvicted = 0 }, restored.CandidateLoad);
    }

    private static VersionMonitor NewMonitor(IEnumerable<Finding>? findings = null, DetectorState? state = null, DetectorSettings? settings = null)
    {
        var monitor = new VersionMonitor("m", "v", TimeProvider.System, 5, detectors: settings ?? new DetectorSettings(), findings: findings, detectorState: state);
        monitor.UseBaseline(Baseline.Value);
        return monitor;
    }

    private static VersionMonitor Feed(VersionMonitor monitor, int from, int to)
    {
        var preparer = new BatchPreparer(Baseline.Value);
        var closed = new List<WindowResult>();
        foreach (RecordBatch batch in TriggerRun.Value[from..to])
        {
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return monitor;
    }

    private static Finding Critical(VersionMonitor monitor) => Assert.Single(monitor.Detector!.Findings, f => f.Severity == Severity.Critical);
}
