using Monitor.Core.Baselines;
using Monitor.Core.Detectors;

namespace Monitor.Server.Models;

/// <summary>
/// A version's own reference as stored: the embedding geometry built from its outputs on a baseline's reference inputs (null for a
/// model without an embedding), and D3's
/// confidence percentiles of those outputs (<paramref name="Confidence"/>; null in a reference stored before they were kept, whose
/// records are not stored: D3 then judges the version against the baseline's percentiles until the reference is uploaded again), the
/// whole-output test's tails and D4's residuals (<paramref name="Shape"/>, likewise), and whether it was captured from the version's own
/// live records rather than uploaded (<paramref name="Captured"/>).
/// </summary>
internal sealed record StoredReference(long Id, string Model, string Version, long BaselineId, DateTimeOffset UploadedAt, string UploadedBy,
    long RecordsReceived, int RecordsKept, EmbeddingProfile? Profile, ConfidencePercentiles? Confidence = null, OutputShape? Shape = null,
    bool Captured = false)
{
    /// <summary>
    /// What D5 judges the version against, and D3 its confidences, while <see cref="BaselineId"/> is in force (one object, so the
    /// ingest path allocates nothing).
    /// </summary>
    public EmbeddingReference Embedding { get; } = EmbeddingReference.Own(Id, Profile, Confidence, Shape);
}

/// <summary>
/// Which embedding geometry each version is judged against under a baseline (docs/detectors.md, "Per-version references"):
/// its own reference for that baseline when it has one; the baseline's when its traffic built the baseline; otherwise none.
/// </summary>
internal static class EmbeddingReferences
{
    /// <summary>The CLI command that uploads a reference, as the reports name it.</summary>
    public const string Command = "drift versions reference --model MODEL VERSION FILE";

    private static readonly EmbeddingReference NoReference = EmbeddingReference.NotUsed(
        "embedding evidence not used: this version has no reference of its own for the baseline in force, and another network's " +
        $"embeddings are not comparable with the baseline's; upload one with `{Command}`");

    /// <summary>Allocates nothing: it runs for every batch on the ingest path.</summary>
    public static EmbeddingReference For(VersionEntry version, CompiledBaseline baseline)
    {
        // A reference of an embedding model whose geometry did not read back is not used (the version then has none).
        if (version.Reference is { } own && own.BaselineId == baseline.Profile.Id && (own.Profile is not null || baseline.Profile.Schema.EmbeddingWidth == 0))
        {
            return own.Embedding;
        }

        return BuiltBaseline(version, baseline.Profile) ? EmbeddingReference.Baseline : NoReference;
    }

    /// <summary>
    /// Whether the version's traffic built the baseline: the version a capture was taken from; for a reference set, the version
    /// its upload named as having scored it (<c>scored_by_version</c>), or, when none was named, a version made known-good by an
    /// admin (or registered so) before the baseline was committed.
    /// </summary>
    public static bool BuiltBaseline(VersionEntry version, BaselineProfile baseline)
    {
        foreach (string named in (ReadOnlySpan<string>)["captured:", "reference:"])
        {
            if (baseline.Source.StartsWith(named, StringComparison.Ordinal))
            {
                return baseline.Source.AsSpan(named.Length).SequenceEqual(version.Version);
            }
        }

        return version.PromotedAt is { } promoted && promoted <= baseline.CreatedAt;
    }

    /// <summary>
    /// What D3 judges the version's confidences against under <paramref name="baseline"/>, in plain words: its own reference's
    /// percentiles, or the baseline's and why; empty without a baseline or trigger profile.
    /// </summary>
    public static string DescribeConfidence(VersionEntry version, CompiledBaseline? baseline)
    {
        if (baseline?.Profile.Triggers is null)
        {
            return "";
        }

        EmbeddingReference reference = For(version, baseline);
        StoredReference? own = version.Reference;
        if (reference.Source == EmbeddingSource.Own)
        {
            if (own!.Captured)
            {
                return $"D3, the whole-output test's tails and D4's residuals judged against baseline {baseline.Profile.Id}'s: this version's reference {own.Id} " +
                    "was captured from its live records, which any ingest key can send, so it holds the embedding geometry alone; upload the reference " +
                    $"set replayed through the version with `{Command} --replace` to judge its output shape against its own";
            }

            string d3 = own.Confidence is not null
                ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"D3 judged against this version's own reference {own.Id}: the 99.9th percentiles of confidence of its outputs on baseline {own.BaselineId}'s inputs")
                : $"D3 judged against baseline {baseline.Profile.Id}'s percentiles of confidence: this version's reference {own.Id} was stored " +
                  $"before references kept them, and its records were not kept; upload it again with `{Command} --replace` to judge D3 against it";
            return d3 + "; " + DescribeShape(reference, baseline.Profile.Triggers, own);
        }

        string why = reference.Source == EmbeddingSource.Baseline
            ? "this version's traffic built the baseline"
            : "this version has no reference of its own for the baseline in force (outputs are comparable across versions, so D3 still runs)";
        return $"D3 judged against baseline {baseline.Profile.Id}'s percentiles of confidence: {why}";
    }

    /// <summary>Whose tails the whole-output test, and whose residuals D4, judge a version with its own reference against, in plain words.</summary>
    private static string DescribeShape(EmbeddingReference reference, TriggerProfile triggers, StoredReference own)
    {
        if (!reference.UsesOwnShape(triggers))
        {
            return $"the whole-output test's tails and D4's residuals are the baseline's: reference {own.Id} was stored before references kept them; " +
                $"upload it again with `{Command} --replace` to judge them against it";
        }

        OutputShape shape = own.Shape!;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"the whole-output test's tails are its own in {shape.OwnStrata} of {triggers.Strata} strata and D4's residuals in {shape.OwnResidualClasses} of " +
            $"{triggers.Classes} classes (where its reference put at least {OutputShape.MinOwnRecords} records), the baseline's elsewhere");
    }

    /// <summary>What the version's embeddings are judged against under <paramref name="baseline"/>, in plain words; empty when no embedding is judged at all.</summary>
    public static string Describe(VersionEntry version, CompiledBaseline? baseline)
    {
        if (baseline is null || baseline.Profile.Schema.EmbeddingWidth == 0)
        {
            return "";
        }

        EmbeddingReference reference = For(version, baseline);
        StoredReference? own = version.Reference;
        return reference.Source switch
        {
            EmbeddingSource.Own when own!.Captured => string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"judged against this version's own reference {own.Id} ({own.RecordsReceived} of its live records, captured under baseline {own.BaselineId}, {own.UploadedAt:u}, started by {own.UploadedBy})"),
            EmbeddingSource.Own => string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"judged against this version's own reference {own!.Id} ({own.RecordsReceived} records on baseline {own.BaselineId}'s inputs, uploaded {own.UploadedAt:u} by {own.UploadedBy})"),
            EmbeddingSource.Baseline when baseline.Profile.Triggers?.Embedding is null =>
                $"embedding evidence not used: baseline {baseline.Profile.Id} has no embedding profile (its reference carried no embeddings)",
            EmbeddingSource.Baseline => $"judged against baseline {baseline.Profile.Id}'s embedding profile: this version's traffic built the baseline",
            _ => own is not null
                ? $"{reference.Reason} (its reference {own.Id} is for baseline {own.BaselineId}, not baseline {baseline.Profile.Id} in force)"
                : reference.Reason,
        };
    }
}
