using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// D4: among a key's records with inputs against class c, the served P(c) stops following the
/// surrogate's: the mean residual (served − surrogate) rises above the baseline's by an effect of at
/// least <see cref="DetectorSettings.MinDecoupling"/> at z ≥ <see cref="DetectorSettings.DecouplingZ"/>.
/// </summary>
/// <param name="mean">Per class, the reference's mean residual (the baseline's, or a version's own: <see cref="EmbeddingReference.ResidualsFor"/>).</param>
/// <param name="std">Per class, its spread.</param>
/// <param name="own">Per class, whether they are the version's own (the finding names whose they are).</param>
internal sealed class Decoupling(double[] mean, double[] std, bool[] own, DetectorSettings settings, string[] labels)
{
    /// <summary>Fewest of the key's records with inputs against the class before their residual is judged.</summary>
    private const long MinRecords = 10;

    public Corroboration? Corroborate(Candidate candidate, int c)
    {
        long contrarian = candidate.ContrarianOfClass[c];
        if (contrarian < MinRecords)
        {
            return null;
        }

        double observed = candidate.Residual[c] / contrarian;
        double effect = observed - mean[c];
        double z = effect / (std[c] / Math.Sqrt(contrarian));
        if (effect >= settings.MinDecoupling && z >= settings.DecouplingZ)
        {
            return new Corroboration(DetectorId.D4, string.Create(CultureInfo.InvariantCulture,
                $"on its {contrarian} records with inputs against '{labels[c]}', the served P({labels[c]}) exceeds the surrogate's by {observed:F3} on average ({(own[c] ? "this version's reference" : "baseline")} {mean[c]:F3} ± {std[c]:F3}); z = {z:F1}"));
        }

        return null;
    }
}
