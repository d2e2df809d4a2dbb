using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// D4: among a key's records with inputs against class c, the served P(c) stops following the
/// surrogate's: the mean residual (served − surrogate) rises above the baseline's by an effect of at
/// least <see cref="DetectorSettings.MinDecoupling"/> at z ≥ <see cref="DetectorSettings.DecouplingZ"/>.
/// </summary>
internal sealed class Decoupling(TriggerProfile profile, DetectorSettings settings, string[] labels)
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

        double mean = candidate.Residual[c] / contrarian;
        double effect = mean - profile.ResidualMean[c];
        double z = effect / (profile.ResidualStd[c] / Math.Sqrt(contrarian));
        if (effect >= settings.MinDecoupling && z >= settings.DecouplingZ)
        {
            return new Corroboration(DetectorId.D4, string.Create(CultureInfo.InvariantCulture,
                $"on its {contrarian} records with inputs against '{labels[c]}', the served P({labels[c]}) exceeds the surrogate's by {mean:F3} on average (baseline {profile.ResidualMean[c]:F3} ± {profile.ResidualStd[c]:F3}); z = {z:F1}"));
        }

        return null;
    }
}
