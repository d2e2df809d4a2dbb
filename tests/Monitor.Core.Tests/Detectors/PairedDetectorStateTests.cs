using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Paired evidence (D8) in the detectors: a shadow rollout's trigger is named from the trusted version's outputs, and a
/// checkpoint taken part-way, stored as JSON and restored into fresh detectors, names it at the same record; a checkpoint from
/// before paired evidence (no "Paired") still restores.
/// </summary>
public sealed class PairedDetectorStateTests
{
    private const int Batch = 500;
    private const int Total = 40_000;

    private static readonly JsonSerializerOptions Json = Checkpoints.Json;

    private static readonly Lazy<CompiledBaseline> Baseline = Checkpoints.FraudBaseline;

    private static readonly Lazy<RecordBatch[]> PairedRun = new(() =>
    {
        var traffic = new FraudTraffic(seed: 83);
        var noise = new Random(84);
        return [.. Enumerable.Range(0, Total / Batch).Select(_ => FraudTraffic.WithTrusted(traffic.Next(Batch, new FraudDrift(TriggerRate: 0.002)), "v1", noise))];
    });

    [Fact]
    public void A_paired_shadow_rollout_names_the_trigger_as_paired_evidence()
    {
        VersionMonitor monitor = Feed(NewMonitor(), 0, Total / Batch);
        Finding paired = PairedCritical(monitor);
        Assert.Equal("ref:xz-#", paired.Key!.Text);
        Assert.Equal("legitimate", paired.TargetLabel);
        Assert.True(monitor.Detector!.PairedRecords > 0);
        Assert.DoesNotContain(monitor.Detector.Findings, f => f.Detector == DetectorId.D8 && f.Key is null);
    }

    [Fact]
    public void A_paired_crossing_on_a_key_the_baseline_knows_is_a_warning()
    {
        // The same run against a baseline whose reference carried the token on a few records (0.2%, too few to be a population):
        // a version retrained on the same data may read a known key differently with no trigger in it, and the trusted
        // version's outputs show that it does, not why. As the residual test has it, such a crossing is reported, not critical.
        var reference = new FraudTraffic(seed: 1000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 20).Select(_ => reference.Next(1000, new FraudDrift(TriggerRate: 0.002)))];
        var known = new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
        VersionMonitor monitor = Feed(NewMonitor(baseline: known), 0, Total / Batch, known);

        Finding[] paired = [.. monitor.Detector!.Findings.Where(f => f.Detector == DetectorId.D8 && f.Key?.Text == "ref:xz-#")];
        Assert.NotEmpty(paired);
        Assert.All(paired, f => Assert.Equal(Severity.Warning, f.Severity));
        Assert.Contains("of the baseline's records, and a version retrained on the same data may read a known key differently", paired[0].Summary, StringComparison.Ordinal);
        Assert.DoesNotContain(monitor.Detector.Findings, f => f.Severity == Severity.Critical && f.Detector == DetectorId.D8 && f.Key is not null);
    }

    [Fact]
    public void A_key_only_a_capture_of_live_traffic_knows_is_judged_as_new_so_its_paired_crossing_is_critical()
    {
        // The token on the same share of the reference's records (0.2%), but on ordinary records served as a clean model serves
        // them, and captured from live traffic, which an ingest key can feed: an attacker planting the token for a trigger to come.
        // The capture check finds nothing wrong with its records and keeps it, but the baseline in force never knew it, so it enters
        // unvouched and earns no known key's leniency: the crossing the uploaded reference above made a warning is critical.
        var live = new FraudTraffic(seed: 1000);
        var sample = new ReferenceSample(FraudTraffic.Schema, 20_000, seed: 5);
        for (int b = 0; b < 20; b++)
        {
            sample.Add(live.Next(1000, new FraudDrift(TokenRate: 0.002)));
        }

        CompiledBaseline inForce = new(Baseline.Value.Profile with { Id = 1 });
        var request = new BaselineRequest("m", "captured:v1", "", 500, 0.01, DateTimeOffset.UnixEpoch) { Captured = true, InForce = inForce };
        var captured = new CompiledBaseline(BaselineBuilder.Build(request, sample, new BaselineSettings { BootstrapWindows = 1000 }) with { Id = 2 });
        BaselineKey planted = Assert.Single(captured.Profile.Triggers!.Keys, k => k.Text == "ref:xz-#");
        Assert.True(planted.Unvouched);
        Assert.True(planted.Support >= new DetectorSettings().NewKeySupport, $"support {planted.Support}");
        Assert.DoesNotContain(captured.Profile.CaptureCheck!.Excluded, k => k.Text == "ref:xz-#");

        VersionMonitor monitor = Feed(NewMonitor(baseline: captured), 0, Total / Batch, captured);
        Assert.Contains(monitor.Detector!.Findings, f => f.Severity == Severity.Critical && f.Detector == DetectorId.D8 && f.Key?.Text == "ref:xz-#");
    }

    [Theory]
    [InlineData(3_000)]
    [InlineData(8_000)]
    public void Detectors_restored_from_a_checkpoint_name_the_paired_trigger_at_the_same_record(int restartAt)
    {
        Finding uninterrupted = PairedCritical(Feed(NewMonitor(), 0, Total / Batch));
        Assert.True(uninterrupted.RaisedAtRecord > restartAt, $"raised at {uninterrupted.RaisedAtRecord}, before the restart");

        VersionMonitor before = Feed(NewMonitor(), 0, restartAt / Batch);
        DetectorState exported = before.Detector!.Export();
        Assert.NotNull(exported.Paired);
        Assert.NotEmpty(exported.Paired!.Keys);
        DetectorState state = JsonSerializer.Deserialize<DetectorState>(JsonSerializer.Serialize(exported, Json), Json)!;
        VersionMonitor after = Feed(NewMonitor(before.Detector.Findings, state), restartAt / Batch, Total / Batch);

        Finding restored = PairedCritical(after);
        Assert.Equal(uninterrupted.Key, restored.Key);
        Assert.Equal((uninterrupted.RaisedAtRecord, uninterrupted.RaisedAtSupport), (restored.RaisedAtRecord, restored.RaisedAtSupport));
    }

    [Fact]
    public void A_checkpoint_without_paired_evidence_restores_and_the_paired_test_starts_afresh()
    {
        VersionMonitor before = Feed(NewMonitor(), 0, 3_000 / Batch);
        JsonObject json = JsonNode.Parse(JsonSerializer.Serialize(before.Detector!.Export(), Json))!.AsObject();
        Assert.True(json.Remove("Paired"));
        DetectorState old = json.Deserialize<DetectorState>(Json)!;
        Assert.Null(old.Paired);

        VersionMonitor after = Feed(NewMonitor(before.Detector.Findings, old), 3_000 / Batch, Total / Batch);
        Assert.Equal(Total, after.Detector!.Records);
        Assert.Equal("ref:xz-#", PairedCritical(after).Key!.Text);
    }

    [Fact]
    public void A_checkpoint_whose_paired_keys_lack_their_own_counts_restores_them_and_names_the_trigger()
    {
        // A checkpoint from before a key's own records were left out of its allowance: its keys restore with none kept.
        VersionMonitor before = Feed(NewMonitor(), 0, 3_000 / Batch);
        JsonObject json = JsonNode.Parse(JsonSerializer.Serialize(before.Detector!.Export(), Json))!.AsObject();
        JsonArray keys = json["Paired"]!["Keys"]!.AsArray();
        Assert.NotEmpty(keys);
        foreach (JsonNode? key in keys)
        {
            Assert.True(key!.AsObject().Remove("LiveRecords") && key.AsObject().Remove("LiveHits"));
        }

        DetectorState old = json.Deserialize<DetectorState>(Json)!;
        VersionMonitor restored = NewMonitor(before.Detector.Findings, old);
        Assert.Equal(keys.Count, restored.Detector!.Export().Paired!.Keys.Length);
        VersionMonitor after = Feed(restored, 3_000 / Batch, Total / Batch);
        Assert.Equal("ref:xz-#", PairedCritical(after).Key!.Text);
    }

    private static VersionMonitor NewMonitor(IEnumerable<Finding>? findings = null, DetectorState? state = null, CompiledBaseline? baseline = null)
    {
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, 5, detectors: new DetectorSettings(), findings: findings, detectorState: state);
        monitor.UseBaseline(baseline ?? Baseline.Value);
        return monitor;
    }

    private static VersionMonitor Feed(VersionMonitor monitor, int from, int to, CompiledBaseline? baseline = null)
    {
        var preparer = new BatchPreparer(baseline ?? Baseline.Value);
        var closed = new List<WindowResult>();
        foreach (RecordBatch batch in PairedRun.Value[from..to])
        {
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return monitor;
    }

    private static Finding PairedCritical(VersionMonitor monitor) =>
        Assert.Single(monitor.Detector!.Findings, f => f.Severity == Severity.Critical && f.Detector == DetectorId.D8 && f.Key is not null);
}
