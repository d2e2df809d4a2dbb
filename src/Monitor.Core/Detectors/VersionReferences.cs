using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// A version's own reference (docs/detectors.md, "Per-version references"): its outputs and embeddings on the baseline's
/// reference inputs, from which D5's geometry for that version is built as the baseline's is (<see cref="EmbeddingProfiles.Build"/>),
/// and D3's confidence percentiles (<see cref="Confidence"/>).
/// </summary>
public static class VersionReferences
{
    /// <summary>Fewest records a reference is built from: the 99.9th percentiles it sets need a few hundred.</summary>
    public const int MinRecords = 200;

    /// <summary>The seed of the PCA sample and the clustering, as the baseline's (<see cref="TriggerSettings.Seed"/>).</summary>
    public const int Seed = 20_261_125;

    /// <summary>
    /// The embedding profile of a version's reference records (validated against the baseline's schema, embeddings on every
    /// record); the served class of each record is read from its scores as the baseline's were.
    /// </summary>
    public static EmbeddingProfile Build(CompiledBaseline baseline, RecordBatch records)
    {
        ModelSchema schema = baseline.Profile.Schema;
        if (schema.EmbeddingWidth == 0)
        {
            throw new ArgumentException("the model's schema declares no embedding", nameof(records));
        }

        if (records.Count < MinRecords)
        {
            throw new ArgumentException($"{records.Count} records; a reference needs at least {MinRecords}", nameof(records));
        }

        int classChannel = Array.FindIndex(baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
        if (classChannel < 0 || schema.OutputKind == OutputKind.Regression)
        {
            throw new ArgumentException("the model's outputs have no classes; only classifiers' embeddings are judged (D5)", nameof(records));
        }

        int[] labels = new BatchPreparer(baseline).Prepare(records).Codes[classChannel][..records.Count];
        return EmbeddingProfiles.Build(schema, records, labels, schema.PredictedClassLabels.Length, Seed)
            ?? throw new ArgumentException("every record needs an embedding of the schema's width", nameof(records));
    }

    /// <summary>
    /// D3's confidence percentiles of a version's reference records, measured as the baseline's are
    /// (<see cref="TriggerProfileBuilder.ReferenceConfidence"/>: strata from the baseline's surrogate on the same inputs); null when
    /// the baseline has no trigger profile.
    /// </summary>
    public static ConfidencePercentiles? Confidence(CompiledBaseline baseline, RecordBatch records) =>
        TriggerProfileBuilder.ReferenceConfidence(baseline, records);
}
