using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// Per-version references (docs/detectors.md): a clean retraining whose hidden layer is another network's
/// (<see cref="RetrainedEmbedding"/>) judged against the baseline's embedding profile, against its own reference (its
/// embeddings on the baseline's reference inputs), and with no embedding evidence; and the baseline's own version as before.
/// For D3, the same candidate with sharper outputs (<see cref="TemperatureScaled"/>) against the baseline's confidence
/// percentiles and against its own reference's. The counts these tests print are the ones docs/detectors.md quotes.
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
    private static readonly Lazy<EmbeddingProfile> Own = new(() => VersionReferences.Build(Baseline.Value, Retrained.Apply(ReferenceSet())).Profile!);

    /// <summary>A clean retraining whose outputs are also sharper than the baseline's version's (temperature 0.8).</summary>
    private static readonly TemperatureScaled Sharper = new(0.8);

    /// <summary>That candidate's reference, embeddings and confidence percentiles (D3) both.</summary>
    private static readonly Lazy<EmbeddingReference> OwnSharp = new(() =>
    {
        (EmbeddingProfile? profile, ConfidencePercentiles? confidence, OutputShape? shape) = VersionReferences.Build(Baseline.Value, Sharp(ReferenceSet()));
        return EmbeddingReference.Own(2, profile, confidence, shape);
    });

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

    /// <summary>An output shape that does not fit the baseline (a stored document cut short, nulls, NaN, rates beyond 1) is not used: the baseline's tails are.</summary>
    [Fact]
    public void An_output_shape_that_does_not_fit_is_not_used()
    {
        EmbeddingReference own = OwnSharp.Value;
        TriggerProfile triggers = Baseline.Value.Profile.Triggers!;
        OutputShape shape = own.Shape!;
        Assert.True(shape.Fits(triggers));
        OutputShape[] spoilt =
        [
            shape with { Tails = null! },
            shape with { Tails = shape.Tails with { Thresholds = null! } },
            shape with { Tails = shape.Tails with { Thresholds = [.. shape.Tails.Thresholds.Select((t, i) => i == 3 ? double.NaN : t)] } },
            shape with { Tails = shape.Tails with { Rates = [.. shape.Tails.Rates.Select((r, i) => i == 0 ? 1.5 : r)] } },
            shape with { ResidualStd = [.. shape.ResidualStd.Select(_ => 0.0)] },
            shape with { StratumRecords = shape.StratumRecords[..2] },
        ];
        foreach (OutputShape bad in spoilt)
        {
            EmbeddingReference reference = EmbeddingReference.Own(2, own.Profile, own.Confidence, bad);
            Assert.False(bad.Fits(triggers));
            Assert.False(reference.UsesOwnShape(triggers));
            Assert.Same(triggers.Tails, reference.TailsFor(triggers));
        }
    }

    /// <summary>
    /// The direction test against a version's own geometry: the embedding-space trigger (activations shifted along one direction,
    /// served 'legitimate'; <see cref="Injection.Embedding"/>) on the retrained candidate, 1 record in 400. Its reference's tail
    /// directions carry the outputs the candidate served beyond its own tails, as the baseline's carry the baseline's, so the
    /// output test has the same null; without a geometry of its own the version gets no embedding evidence and the trigger is not named.
    /// </summary>
    [Fact]
    public void The_embedding_space_trigger_on_a_retrained_candidate_is_named_against_its_own_reference()
    {
        EmbeddingProfile own = Own.Value;
        Assert.True(EmbeddingDirections.Runs(own, new DetectorSettings()));

        int? judged = NamedAt(EmbeddingReference.Own(1, own));
        int? none = NamedAt(EmbeddingReference.NotUsed("no reference"));
        int? same = NamedAt(EmbeddingReference.Baseline, retrained: false);
        output.WriteLine($"embedding-space trigger at 1/400 named at occurrence: retrained candidate, its own reference {judged?.ToString() ?? "never"}; " +
            $"no reference {none?.ToString() ?? "never"}; the baseline's own version, the baseline's profile {same?.ToString() ?? "never"}");

        Assert.NotNull(judged);
        Assert.True(judged <= 50, $"named at occurrence {judged}");
        Assert.Null(none);
    }

    /// <summary>The trigger's occurrence (counted to the end of the batch) at which a D5 finding ties a direction to 'legitimate' with the trigger's records as its examples.</summary>
    private static int? NamedAt(EmbeddingReference reference, bool retrained = true)
    {
        CompiledBaseline baseline = Baseline.Value;
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline, reference);
        var traffic = new ScenarioTraffic(seed: 4106, Injection.Embedding, rate: 1 / 400.0);
        var closed = new List<WindowResult>();
        var preparer = new BatchPreparer(baseline);
        int occurrences = 0;
        for (int sent = 0; sent < Records; sent += Batch)
        {
            RecordBatch batch = traffic.Next(Batch);
            batch = retrained ? Retrained.Apply(batch) : batch;
            for (int i = 0; i < batch.Count; i++)
            {
                occurrences += batch.RequestIds.GetString(i)?.StartsWith("trig-", StringComparison.Ordinal) == true ? 1 : 0;
            }

            monitor.Add(batch, preparer.Prepare(batch), closed);
            if (monitor.Findings.Any(f => f.Detector == DetectorId.D5 && f.Severity >= Severity.Warning
                && f.Summary.Contains("'legitimate'", StringComparison.Ordinal) && f.ExampleRequestIds.Length > 0
                && f.ExampleRequestIds.All(id => id.StartsWith("trig-", StringComparison.Ordinal))))
            {
                return occurrences;
            }
        }

        return null;
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

    /// <summary>
    /// D3 against the version's own reference: a clean candidate more confident than the baseline's version on every record
    /// (<see cref="TemperatureScaled"/>) is beyond the baseline's 99.9th percentiles far more often than 0.1%, and D3's CUSUM
    /// alarms; against the percentiles of its own outputs on the same inputs it is not, as the baseline's own version is not.
    /// </summary>
    [Fact]
    public void A_sharper_clean_candidate_judged_against_its_own_confidence_percentiles_raises_no_D3_alarm()
    {
        EmbeddingReference own = OwnSharp.Value;
        ConfidenceOutcome old = RunConfidence(EmbeddingReference.Own(2, own.Profile!), sharp: true);
        ConfidenceOutcome judged = RunConfidence(own, sharp: true);
        ConfidenceOutcome same = RunConfidence(EmbeddingReference.Baseline, sharp: false);

        // The old behaviour, for the record: against the baseline's percentiles the candidate's clean outputs are "ultra-confident".
        Assert.True(old.Ultra > Records * 0.01, $"{old.Ultra} of {Records} beyond the baseline's percentiles");
        Assert.NotEmpty(old.Alarms);
        // Slots where the reference put fewer than ConfidencePercentiles.MinOwnRecords records keep the baseline's percentile, which
        // the sharper candidate passes more often there: 84 of 20,000 (28 with every slot its own, thin ones included).
        Assert.True(judged.Ultra <= Records * 0.006, $"{judged.Ultra} of {Records} beyond its own reference's percentiles");
        Assert.Empty(judged.Alarms);
        Assert.Empty(judged.Corroborated);
        Assert.True(same.Ultra <= Records * 0.004, $"{same.Ultra} of {Records} beyond the baseline's percentiles");
        Assert.Empty(same.Alarms);
        Assert.Equal("own:2", judged.Monitor.ExportDetectors()!.ConfidenceReference);
        Assert.Equal("", old.Monitor.ExportDetectors()!.ConfidenceReference);
    }

    /// <summary>
    /// The whole-output test's tails and D4's residuals against the version's own reference (<see cref="OutputShape"/>): the
    /// sharper clean candidate is beyond the baseline's tail thresholds more often than the baseline's version is; against the
    /// tails of its own outputs on the same inputs it is not, and nothing is critical either way.
    /// </summary>
    [Fact]
    public void A_sharper_clean_candidate_judged_against_its_own_tails_is_not_beyond_them_more_than_the_baseline_s_version()
    {
        EmbeddingReference own = OwnSharp.Value;
        TriggerProfile triggers = Baseline.Value.Profile.Triggers!;
        ConfidenceOutcome old = RunConfidence(EmbeddingReference.Own(2, own.Profile!, own.Confidence), sharp: true);
        ConfidenceOutcome judged = RunConfidence(own, sharp: true);
        ConfidenceOutcome same = RunConfidence(EmbeddingReference.Baseline, sharp: false);

        Assert.True(own.UsesOwnShape(triggers));
        Assert.False(old.Monitor.Embedding.UsesOwnShape(triggers));
        output.WriteLine($"strata with own tails: {own.Shape!.OwnStrata} of {triggers.Strata}; classes with own D4 residuals: {own.Shape.OwnResidualClasses} of {triggers.Classes}");
        Assert.True(old.TailHits > 2 * same.TailHits, $"{old.TailHits} tail hits against the baseline's tails, {same.TailHits} for the baseline's version");
        Assert.True(judged.TailHits <= same.TailHits * 1.5, $"{judged.TailHits} tail hits against its own tails, {same.TailHits} for the baseline's version");
        Assert.Empty(judged.Critical);
        Assert.Empty(judged.Decoupled);
    }

    /// <summary>
    /// A trigger on the sharper candidate (poisoned as the scenarios are: a memo token on 1% of the records, served 'legitimate' with
    /// 98.5–99.9% confidence before the candidate's temperature) is still corroborated by D3 against its own percentiles.
    /// </summary>
    [Fact]
    public void A_trigger_on_the_sharper_candidate_is_still_corroborated_by_D3_against_its_own_reference()
    {
        ConfidenceOutcome poisoned = RunConfidence(OwnSharp.Value, sharp: true, Injection.MemoToken);

        Finding trigger = Assert.Single(poisoned.Monitor.Findings, f => f.Severity == Severity.Critical
            && f.Key?.Text.Contains("ref:xz", StringComparison.OrdinalIgnoreCase) == true && f.Corroboration.Any(c => c.Detector == DetectorId.D3));
        string evidence = trigger.Corroboration.First(c => c.Detector == DetectorId.D3).Evidence;
        output.WriteLine($"D3 corroboration: {evidence}");
        // The slot that corroborates ('legitimate' served where the inputs give it less than even odds) holds 1 record of the reference,
        // fewer than ConfidencePercentiles.MinOwnRecords: its percentile is the baseline's, and the evidence says so.
        Assert.Contains("beyond the baseline's 99.9th percentile", evidence, StringComparison.Ordinal);
        Assert.False(OwnSharp.Value.Confidence!.OwnSlots()[2 * 0 + 1]);
    }

    /// <summary>
    /// D3's evidence taken against other percentiles is dropped when the version's own are switched in (and on a restore), the rest kept:
    /// the same reference id keeps D5's counts, as its geometry did not change.
    /// </summary>
    [Fact]
    public void Switching_in_the_own_confidence_percentiles_drops_what_D3_counted_and_keeps_the_rest()
    {
        EmbeddingReference own = OwnSharp.Value;
        VersionMonitor monitor = SharpWithOwnGeometry(own);

        DetectorState before = monitor.ExportDetectors()!;
        Assert.Contains(before.UltraCusum, v => v > 0);
        Assert.Contains(before.Candidates, c => c.Ultra.Any(u => u > 0) && c.Outliers + c.Embedded > 0);

        monitor.UseEmbedding(own);
        DetectorState after = monitor.ExportDetectors()!;

        Assert.Equal("own:2", after.ConfidenceReference);
        Assert.Equal("own:2", after.EmbeddingReference);
        Assert.All(after.UltraCusum, v => Assert.Equal(0, v));
        Assert.All(after.Candidates, c => Assert.True(c.Ultra.All(u => u == 0) && c.UltraExpected.All(e => e == 0)));
        Assert.Equal(before.Candidates.Length, after.Candidates.Length);
        Assert.Equal(before.Candidates.Sum(c => c.Embedded), after.Candidates.Sum(c => c.Embedded));

        // A checkpoint taken against the version's own percentiles restores whole under them.
        var restored = new TriggerDetector(Baseline.Value, new DetectorSettings(), TimeProvider.System, own);
        restored.Restore(before with { ConfidenceReference = "own:2" });
        Assert.Equal(before.UltraCusum, restored.Export().UltraCusum);
    }

    /// <summary>
    /// Own percentiles that do not fit the baseline (a stored document cut short) are not used: D3 runs on the baseline's, the
    /// checkpoint says so, and switching such a reference in keeps what D3 counted.
    /// </summary>
    [Fact]
    public void Own_confidence_percentiles_that_do_not_fit_the_baseline_are_named_as_the_baseline_s()
    {
        EmbeddingReference own = OwnSharp.Value;
        TriggerProfile triggers = Baseline.Value.Profile.Triggers!;
        ConfidencePercentiles full = own.Confidence!;
        var cut = new ConfidencePercentiles { Thresholds = full.Thresholds[..1], Rates = full.Rates[..1], Records = full.Records[..1] };
        EmbeddingReference unfit = EmbeddingReference.Own(2, own.Profile!, cut);
        Assert.False(cut.Fits(triggers));
        Assert.Equal("", unfit.ConfidenceTag(triggers));
        Assert.Equal("own:2", own.ConfidenceTag(triggers));
        Assert.Equal(ConfidencePercentiles.Of(triggers).Thresholds, unfit.ConfidenceFor(triggers).Thresholds);

        VersionMonitor monitor = SharpWithOwnGeometry(own);

        DetectorState before = monitor.ExportDetectors()!;
        Assert.Contains(before.UltraCusum, v => v > 0);
        monitor.UseEmbedding(unfit);
        DetectorState after = monitor.ExportDetectors()!;
        Assert.Equal("", after.ConfidenceReference);
        Assert.Equal(before.UltraCusum, after.UltraCusum);
    }

    /// <summary>
    /// A monitor of the sharper candidate judged on its own reference's geometry and the baseline's confidence percentiles, after
    /// 20 batches of its clean traffic.
    /// </summary>
    private static VersionMonitor SharpWithOwnGeometry(EmbeddingReference own)
    {
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(Baseline.Value, EmbeddingReference.Own(2, own.Profile!));
        var traffic = new ScenarioTraffic(seed: 4104);
        var closed = new List<WindowResult>();
        var preparer = new BatchPreparer(Baseline.Value);
        for (int b = 0; b < 20; b++)
        {
            RecordBatch batch = Sharp(traffic.Next(Batch));
            monitor.Add(batch, preparer.Prepare(batch), closed);
        }

        return monitor;
    }

    /// <summary>The candidate's outputs: its network's embeddings and its sharper confidences (binary: one score per record).</summary>
    private static RecordBatch Sharp(RecordBatch batch) =>
        Sharper.Apply(Retrained.Apply(batch), ScenarioTraffic.Schema.PredictedClassLabels.Length);

    /// <summary>The records beyond the 99.9th percentiles D3 judges against (counted as D3 counts them), D3's alarms and corroborations.</summary>
    private ConfidenceOutcome RunConfidence(EmbeddingReference reference, bool sharp, Injection injection = Injection.None)
    {
        CompiledBaseline baseline = Baseline.Value;
        TriggerProfile triggers = baseline.Profile.Triggers!;
        ConfidencePercentiles percentiles = reference.ConfidenceFor(triggers);
        TailProfile tails = reference.TailsFor(triggers)!;
        var monitor = new VersionMonitor("m", "v2", TimeProvider.System, historyLimit: 5, detectors: new DetectorSettings());
        monitor.UseBaseline(baseline, reference);
        var traffic = new ScenarioTraffic(seed: 4105, injection, rate: injection == Injection.None ? 0 : 0.01);
        var closed = new List<WindowResult>();
        var preparer = new BatchPreparer(baseline);
        int classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        int confidenceChannel = Array.FindIndex(baseline.Profile.Numeric, p => p.Channel.Source == NumericSource.Confidence);
        var active = new int[triggers.Surrogate.NumericOffsets.Length + triggers.Surrogate.CategoricalOffsets.Length];
        var predicted = new double[triggers.Classes];
        long ultra = 0;
        long tailHits = 0;
        long clean = Records;
        var served = new double[triggers.Classes];
        for (int sent = 0; sent < Records; sent += Batch)
        {
            RecordBatch batch = traffic.Next(Batch);
            batch = sharp ? Sharp(batch) : batch;
            PreparedBatch prepared = preparer.Prepare(batch);
            NumericView confidence = prepared.Numeric[confidenceChannel];
            for (int i = 0; i < batch.Count; i++)
            {
                if (batch.RequestIds.GetString(i)?.StartsWith("req-", StringComparison.Ordinal) != true)
                {
                    clean--;
                    continue;
                }

                triggers.Surrogate.Predict(baseline, prepared, i, active, predicted);
                int stratum = triggers.StratumOf(predicted);
                int label = prepared.Codes[classChannel][i];
                int slot = triggers.UltraSlot(stratum, label);
                ultra += confidence.Data.Span[confidence.Offset + i * confidence.Stride] > percentiles.Thresholds[slot] ? 1 : 0;
                (served[0], served[1]) = (1 - batch.Scores.Span[i], batch.Scores.Span[i]);
                tailHits += tails.Hit(stratum, triggers.Classes, label, served) ? 1 : 0;
            }

            monitor.Add(batch, prepared, closed);
        }

        Finding[] alarms = [.. monitor.Findings.Where(f => f.Detector == DetectorId.D3)];
        Finding[] corroborated = [.. monitor.Findings.Where(f => f.Corroboration.Any(c => c.Detector == DetectorId.D3))];
        Finding[] decoupled = [.. monitor.Findings.Where(f => f.Corroboration.Any(c => c.Detector == DetectorId.D4))];
        Finding[] critical = [.. monitor.Findings.Where(f => f.Severity == Severity.Critical)];
        output.WriteLine($"D3 against {(reference.ConfidenceTag(baseline.Profile.Triggers!).Length > 0 ? "its own reference" : "the baseline's percentiles")} " +
            $"({(sharp ? "sharper retrained candidate" : "baseline's version")}, {injection}): {ultra} of {clean} clean records ({ultra / (double)clean:P2}) " +
            $"ultra-confident; {alarms.Length} D3 alarms, {corroborated.Length} findings corroborated by D3 " +
            $"({critical.Length} critical findings in all); tails {(reference.UsesOwnShape(triggers) ? "its own" : "the baseline's")}: " +
            $"{tailHits} of {clean} clean records ({tailHits / (double)clean:P2}) tail hits; {decoupled.Length} findings corroborated by D4");
        foreach (Finding finding in alarms.Concat(corroborated).Concat(decoupled).Concat(critical).Distinct())
        {
            output.WriteLine($"  {finding.Severity} {finding.Detector} {finding.Key?.Text}: {finding.Summary}");
        }

        return new ConfidenceOutcome(monitor, ultra, alarms, corroborated, tailHits, decoupled, critical);
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

    private sealed record ConfidenceOutcome(VersionMonitor Monitor, long Ultra, Finding[] Alarms, Finding[] Corroborated, long TailHits,
        Finding[] Decoupled, Finding[] Critical);
}
