using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Per-version references (docs/detectors.md): a clean retraining whose hidden layer is another network's
/// (<see cref="RetrainedEmbedding"/>) judged against the baseline's embedding profile, against its own reference (its
/// embeddings on the baseline's reference inputs), and with no embedding evidence; and the baseline's own version as before.
/// The counts these tests print are the ones docs/detectors.md quotes.
/// </summary>
public sealed class VersionReferenceTests(ITestOutputHelper output)
{
    private const int ReferenceSeed = 4100;
    private const int Records = 20_000;
    private const int Batch = 500;

    private static readonly RetrainedEmbedding Retrained = new(ScenarioTraffic.EmbeddingWidth, seed: 4101);

    private static readonly Lazy<CompiledBaseline> Baseline = new(() => new CompiledBaseline(ReferenceBaseline.Fit(ScenarioTraffic.Schema,
        [ReferenceSet()], windowRecords: Batch, settings: new BaselineSettings { BootstrapWindows = 1000 })));

    /// <summary>The candidate's reference: the baseline's reference inputs replayed through it (the same records, its embeddings).</summary>
    private static readonly Lazy<EmbeddingProfile> Own = new(() => VersionReferences.Build(Baseline.Value, Retrained.Apply(ReferenceSet())));

    [Fact]
    public void A_retrained_clean_candidate_judged_against_its_own_reference_gives_no_embedding_evidence()
    {
        Outcome own = Run(EmbeddingReference.Own(1, Own.Value), retrained: true);
        Outcome old = Run(EmbeddingReference.Baseline, retrained: true);

        // The old behaviour, for the record: most of the candidate's clean records are outliers of the baseline's geometry.
        Assert.True(old.Outliers > Records / 2, $"{old.Outliers} outliers against the baseline's profile");
        Assert.True(own.Outliers <= Records * 0.004, $"{own.Outliers} of {Records} outliers against its own reference");
        Assert.Empty(own.EmbeddingFindings);
    }

    [Fact]
    public void A_version_without_a_reference_gets_no_embedding_evidence_at_all()
    {
        Outcome none = Run(EmbeddingReference.NotUsed("no reference"), retrained: true);

        Assert.Equal(0, none.Outliers);
        Assert.Empty(none.EmbeddingFindings);
        Assert.Equal(EmbeddingSource.None, none.Monitor.Embedding.Source);
        Assert.Null(none.Monitor.Detector!.Embedding.ProfileFor(Baseline.Value.Profile.Triggers!));
    }

    [Fact]
    public void The_baseline_s_own_version_is_judged_against_the_baseline_s_profile_as_before()
    {
        Outcome same = Run(EmbeddingReference.Baseline, retrained: false);

        Assert.NotNull(Baseline.Value.Profile.Triggers!.Embedding);
        Assert.True(same.Outliers <= Records * 0.004, $"{same.Outliers} of {Records} outliers");
        Assert.Empty(same.EmbeddingFindings);
    }

    /// <summary>A reference switched in on the running detector: what D5 counted against the old geometry is dropped, the rest kept.</summary>
    [Fact]
    public void Switching_the_reference_keeps_the_evidence_but_what_D5_counted()
    {
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(Baseline.Value);
        var traffic = new ScenarioTraffic(seed: 4102);
        var closed = new List<WindowResult>();
        var preparer = new BatchPreparer(Baseline.Value);
        for (int b = 0; b < 20; b++)
        {
            RecordBatch batch = Retrained.Apply(traffic.Next(Batch));
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        DetectorState before = monitor.ExportDetectors()!;
        Assert.Contains(before.Candidates, c => c.Key.Kind == KeyKind.EmbeddingOutlier);

        monitor.UseEmbedding(EmbeddingReference.Own(7, Own.Value));
        DetectorState after = monitor.ExportDetectors()!;

        Assert.Equal("own:7", after.EmbeddingReference);
        Assert.Equal(before.Records, after.Records);
        Assert.DoesNotContain(after.Candidates, c => c.Key.Kind == KeyKind.EmbeddingOutlier || c.Outliers > 0 || c.Embedded > 0);
        Assert.Equal(before.Candidates.Count(c => c.Key.Kind != KeyKind.EmbeddingOutlier), after.Candidates.Length);
    }

    private Outcome Run(EmbeddingReference reference, bool retrained, Injection injection = Injection.None)
    {
        CompiledBaseline baseline = Baseline.Value;
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline, reference);
        EmbeddingProfile? profile = reference.ProfileFor(baseline.Profile.Triggers!);
        var traffic = new ScenarioTraffic(seed: 4103, injection);
        var closed = new List<WindowResult>();
        var preparer = new BatchPreparer(baseline);
        long outliers = 0;
        var projection = new double[profile?.ComponentCount ?? 0];
        for (int sent = 0; sent < Records; sent += Batch)
        {
            RecordBatch batch = traffic.Next(Batch);
            batch = retrained ? Retrained.Apply(batch) : batch;
            for (int i = 0; i < batch.Count && profile is not null; i++)
            {
                outliers += profile.IsOutlier(batch.Embeddings.Span.Slice(i * profile.Width, profile.Width), projection) ? 1 : 0;
            }

            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        Finding[] embedding = [.. monitor.Findings.Where(f => f.Detector == DetectorId.D5 || f.Key?.Kind == KeyKind.EmbeddingOutlier
            || f.Corroboration.Any(c => c.Detector == DetectorId.D5))];
        output.WriteLine($"{reference.Source} ({(retrained ? "retrained candidate" : "baseline's version")}, {injection}): {outliers} of {Records} clean records " +
            $"embedding outliers; {embedding.Length} findings with embedding evidence ({embedding.Count(f => f.Severity == Severity.Critical)} critical), " +
            $"{monitor.Findings.Count(f => f.Severity == Severity.Critical)} critical findings in all");
        foreach (Finding finding in embedding)
        {
            output.WriteLine($"  {finding.Severity} {finding.Detector}: {finding.Summary}");
        }

        return new Outcome(monitor, outliers, embedding);
    }

    private static RecordBatch ReferenceSet() => new ScenarioTraffic(ReferenceSeed).Next(6000);

    private sealed record Outcome(VersionMonitor Monitor, long Outliers, Finding[] EmbeddingFindings);
}
