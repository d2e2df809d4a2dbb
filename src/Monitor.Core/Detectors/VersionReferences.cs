using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// A version's own reference (docs/detectors.md, "Per-version references"): its outputs and embeddings on the baseline's
/// reference inputs, from which D5's geometry for that version is built as the baseline's is (<see cref="EmbeddingProfiles.Build"/>),
/// D3's confidence percentiles, the whole-output test's tails and D4's residuals (<see cref="OutputShape"/>).
/// </summary>
public static class VersionReferences
{
    /// <summary>Fewest records a reference is built from: the 99.9th percentiles it sets need a few hundred.</summary>
    public const int MinRecords = 200;

    /// <summary>The seed of the PCA sample and the clustering, as the baseline's (<see cref="TriggerSettings.Seed"/>).</summary>
    public const int Seed = 20_261_125;

    /// <summary>
    /// A version's reference from its records (validated against the baseline's schema, and carrying embeddings on every record
    /// when the schema declares them): the embedding profile, built as the baseline's is (the served class of each record read from
    /// its scores as the baseline's were, and its tail directions tied to the outputs served beyond the version's own tails; null for
    /// a model without an embedding), and the output-shape parts (<see cref="TriggerProfileBuilder.ReferenceOutputs"/>: strata from the
    /// baseline's surrogate on the same inputs; null when the baseline has no trigger profile).
    /// </summary>
    public static (EmbeddingProfile? Profile, ConfidencePercentiles? Confidence, OutputShape? Shape) Build(CompiledBaseline baseline, RecordBatch records)
    {
        ModelSchema schema = baseline.Profile.Schema;
        if (records.Count < MinRecords)
        {
            throw new ArgumentException($"{records.Count} records; a reference needs at least {MinRecords}", nameof(records));
        }

        int classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        if (classChannel < 0 || schema.OutputKind == OutputKind.Regression)
        {
            throw new ArgumentException("the model's outputs have no classes; a version's reference is of a classifier's outputs and embeddings", nameof(records));
        }

        var outputs = TriggerProfileBuilder.ReferenceOutputs(baseline, records);
        if (schema.EmbeddingWidth == 0)
        {
            return outputs is { } parts ? (null, parts.Confidence, parts.Shape)
                : throw new ArgumentException("the baseline has no trigger profile and the model no embedding: a reference would hold nothing", nameof(records));
        }

        int[] labels = new BatchPreparer(baseline).Prepare(records).Codes[classChannel][..records.Count];
        int[]? tailOutputs = outputs?.TailOutputs;
        EmbeddingProfile profile = EmbeddingProfiles.Build(schema, records, labels, schema.PredictedClassLabels.Length, Seed,
                tailOutputs is null ? null : i => tailOutputs[i])
            ?? throw new ArgumentException("every record needs an embedding of the schema's width", nameof(records));
        return (profile, outputs?.Confidence, outputs?.Shape);
    }
}
