namespace Monitor.Core.Detectors;

/// <summary>Where D5 takes the geometry a version's embeddings are judged against.</summary>
public enum EmbeddingSource
{
    /// <summary>The baseline's embedding profile: for the version(s) whose traffic built the baseline.</summary>
    Baseline,

    /// <summary>The version's own reference: its embeddings on the baseline's reference inputs.</summary>
    Own,

    /// <summary>None: another network's hidden layer is another space, so the version gets no embedding evidence.</summary>
    None,
}

/// <summary>
/// What D5 judges one version's embeddings against (docs/detectors.md, "Per-version references"): the baseline's profile,
/// the version's own, or nothing (then no outlier key, no corroboration, no clustering, and <see cref="Reason"/> says why).
/// A version's own reference also carries D3's confidence percentiles of its outputs (<see cref="Confidence"/>); every other
/// version's D3 keeps the baseline's (output space is shared across versions, unlike a hidden layer).
/// </summary>
public sealed record EmbeddingReference
{
    /// <summary>The baseline's profile: the default wherever no one decides otherwise (tools, the evaluation, core tests).</summary>
    public static EmbeddingReference Baseline { get; } = new() { Source = EmbeddingSource.Baseline };

    public required EmbeddingSource Source { get; init; }

    /// <summary>The version's own profile (<see cref="EmbeddingSource.Own"/> only; null for a model without an embedding).</summary>
    public EmbeddingProfile? Profile { get; init; }

    /// <summary>The stored id of the version's own reference (<see cref="EmbeddingSource.Own"/> only).</summary>
    public long Id { get; init; }

    /// <summary>
    /// D3's percentiles of the version's own outputs on the baseline's reference inputs (<see cref="EmbeddingSource.Own"/> only);
    /// null: D3 judges against the baseline's, as for a reference stored before they were kept.
    /// </summary>
    public ConfidencePercentiles? Confidence { get; init; }

    /// <summary>
    /// The whole-output test's tails and D4's residuals of the version's own outputs on the baseline's reference inputs
    /// (<see cref="EmbeddingSource.Own"/> only); null: the baseline's, as for a reference stored before they were kept.
    /// </summary>
    public OutputShape? Shape { get; init; }

    /// <summary>Why embedding evidence is not used (<see cref="EmbeddingSource.None"/> only), in plain words for reports.</summary>
    public string Reason { get; init; } = "";

    /// <summary>
    /// Names the geometry in a checkpoint: evidence counted against one geometry is not restored under another.
    /// Empty for the baseline's, as in every checkpoint written before per-version references.
    /// </summary>
    public string Tag => Source switch
    {
        EmbeddingSource.Own => $"own:{Id}",
        EmbeddingSource.None => "none",
        _ => "",
    };

    /// <summary>
    /// Names the percentiles D3 runs with under a baseline's trigger profile (<see cref="ConfidenceFor"/>) in a checkpoint, as
    /// <see cref="Tag"/> the geometry: the CUSUMs and a key's ultra-confident counts taken against one are not restored under
    /// another. Empty for the baseline's (also where the version's own do not fit the profile), as in every checkpoint written before.
    /// </summary>
    public string ConfidenceTag(TriggerProfile triggers) => UsesOwnConfidence(triggers) ? $"own:{Id}" : "";

    /// <summary>Per slot, whether D3 runs on the version's own percentiles there under this profile (<see cref="ConfidenceFor"/>); null where it uses none of them.</summary>
    public bool[]? OwnConfidenceSlots(TriggerProfile triggers) => UsesOwnConfidence(triggers) ? Confidence!.OwnSlots() : null;

    private bool UsesOwnConfidence(TriggerProfile triggers) => Source == EmbeddingSource.Own && Confidence is { } own && own.Fits(triggers);

    /// <param name="profile">The version's embedding geometry; null for a model without an embedding (D5 does not run).</param>
    public static EmbeddingReference Own(long id, EmbeddingProfile? profile, ConfidencePercentiles? confidence = null, OutputShape? shape = null) =>
        new() { Source = EmbeddingSource.Own, Id = id, Profile = profile, Confidence = confidence, Shape = shape };

    public static EmbeddingReference NotUsed(string reason) => new() { Source = EmbeddingSource.None, Reason = reason };

    /// <summary>The profile D5 runs with under a baseline's trigger profile; null: D5 does not run.</summary>
    public EmbeddingProfile? ProfileFor(TriggerProfile triggers) => Source switch
    {
        EmbeddingSource.Baseline => triggers.Embedding,
        EmbeddingSource.Own => Profile,
        _ => null,
    };

    /// <summary>Whether the whole-output test and D4 run on the version's own outputs' tails and residuals (where they rest on enough records) under this profile.</summary>
    public bool UsesOwnShape(TriggerProfile triggers) => Source == EmbeddingSource.Own && Shape is { } own && own.Fits(triggers);

    /// <summary>The tails the whole-output test runs with under a baseline's trigger profile: the version's own where it has them, else the baseline's.</summary>
    public TailProfile? TailsFor(TriggerProfile triggers) =>
        triggers.Tails is { } tails && UsesOwnShape(triggers) ? Shape!.TailsOver(tails, triggers.Classes) : triggers.Tails;

    /// <summary>
    /// D4's residual mean and spread per class under a baseline's trigger profile: the version's own where it has them, else the
    /// baseline's (<c>Own</c> says which, per class).
    /// </summary>
    public (double[] Mean, double[] Std, bool[] Own) ResidualsFor(TriggerProfile triggers) =>
        UsesOwnShape(triggers) ? Shape!.ResidualsOver(triggers) : (triggers.ResidualMean, triggers.ResidualStd, new bool[triggers.Classes]);

    /// <summary>The percentiles D3 runs with under a baseline's trigger profile: the version's own, or else the baseline's.</summary>
    public ConfidencePercentiles ConfidenceFor(TriggerProfile triggers) =>
        UsesOwnConfidence(triggers) ? Confidence!.Over(ConfidencePercentiles.Of(triggers)) : ConfidencePercentiles.Of(triggers);
}
