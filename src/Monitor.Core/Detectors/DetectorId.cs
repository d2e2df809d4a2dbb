using System.Text.Json.Serialization;

namespace Monitor.Core.Detectors;

/// <summary>
/// The trigger detectors. A member's name is the identifier findings carry on the wire, in metrics
/// labels, in logs and in the store ("D1" … "D8").
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DetectorId>))]
public enum DetectorId
{
    /// <summary>Key skew on text keys (tokens, variants, bigrams, pairs, character n-grams): their records carry a label far more often than the baseline predicts.</summary>
    D1 = 1,

    /// <summary>Key skew on value keys (categories, exact values, fine bins).</summary>
    D2,

    /// <summary>Ultra-confidence: outputs beyond the baseline's 99.9th percentile of confidence, per class (Bernoulli CUSUM).</summary>
    D3,

    /// <summary>Decoupling: among a key's records the served output stops following the surrogate.</summary>
    D4,

    /// <summary>Activations: embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance, and per-class activation clustering.</summary>
    D5,

    /// <summary>Label rate: a class's rate over recent windows against the stratified expectation.</summary>
    D6,

    /// <summary>
    /// Identical requests: a key's records mostly repeat inputs it already counted (exactly, or with one group of
    /// fields changed). Evidence counts distinct inputs, so the repeats are reported here, at Info, never as a trigger.
    /// </summary>
    D7,

    /// <summary>
    /// Paired evidence: on records that carry a trusted version's output for the same request, a key whose records the version
    /// serves a class far above the trusted version's, or version-wide disagreement on records the trusted version was sure of.
    /// </summary>
    D8,
}
