using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// The residual rank test of a regression output (beside <see cref="RegressionKeyTest"/>'s tail and pinned tests), as
/// <see cref="KeyRankTest"/> is for classes: are a key's records served values raised (or lowered) relative to today's records
/// with the same expected value, more often than chance? The tail tests count a record only in its stratum's highest or lowest
/// 2% of the baseline's residuals, against today's rate there times the tolerance; where today's traffic has a heavier tail
/// than the baseline (live inputs the model was not trained on), that allowance grows, and a shift of about one standard
/// deviation of the residual, which puts most of a key's records in the upper tenth but only a third in the top 2%, was missed.
/// <list type="bullet">
/// <item>A record's rank u is the share of today's records of its stratum with a lower residual: today's residuals are a
/// histogram per stratum in <see cref="Cells"/> cells (each of the baseline's <see cref="RegressionProfile.Bins"/> residual
/// bins cut in <see cref="Sub"/> equal widths, one cell below the baseline's smallest residual and one above its largest),
/// forgetting at each window's close as <see cref="KeyOutputTest.LiveWindows"/> windows; a record is ranked against the
/// histogram as of the last close, ties within a cell broken by a draw fixed by the record (a randomised probability integral
/// transform: u is uniform for a record exchangeable with today's records of its stratum, however the residual is
/// distributed), and only where the stratum holds <see cref="KeyRankTest.MinRecords"/> records.</item>
/// <item>Raised: u &gt; θ; lowered: u &lt; 1 − θ, for θ in <see cref="KeyRankTest.Thresholds"/>. The null allows
/// p₀(θ) = min(0.95, t · (1 − θ) · L), t = <see cref="DetectorSettings.RankTolerance"/>, L the record's lift: the largest
/// tail lift the baseline measured among its keys (a word the model reads lifts every key of its records alike).</item>
/// <item>The e-value mixes, with the null, the likelihood ratios of the Bernoulli alternatives
/// <see cref="KeyRankTest.Alternatives"/> for each θ (Ville's bound), held in the candidate's rank slots; the bar is the tail
/// tests' (<see cref="RegressionKeyTest.LogBar"/>, Bonferroni over <see cref="RegressionKeyTest.TestCount"/> tests per key);
/// a crossing needs <see cref="DetectorSettings.MinKeyHits"/> records above the lower θ.</item>
/// <item>Only keys that do not place a record in the input space are tested (<see cref="Tests"/>): text tokens and their
/// variants and character grams, categorical values the surrogate has no weight of its own for, value patterns. A key the
/// baseline holds (on <see cref="DetectorSettings.NewKeySupport"/> of its records or more) gives a warning: a version may read
/// a known key differently without a trigger in it.</item>
/// </list>
/// </summary>
internal sealed class RegressionRankTest
{
    /// <summary>Cells each baseline residual bin is cut into.</summary>
    public const int Sub = 8;

    /// <summary>Cells per stratum: the bins' cells, one below the baseline's smallest residual, one above its largest.</summary>
    public const int Cells = RegressionProfile.Bins * Sub + 2;

    /// <summary>The directions, in the order of a candidate's rank slots.</summary>
    public const int Raised = 0;
    public const int Lowered = 1;

    private static readonly int T = KeyRankTest.Thresholds.Length;
    private static readonly int Q = KeyRankTest.Alternatives.Length;

    private readonly RegressionProfile _profile;
    private readonly DetectorSettings _settings;
    private readonly int _strata;
    private readonly Dictionary<ulong, long> _known = [];

    /// <summary>Today's residuals: [stratum × Cells + cell], forgetting at each close, halving at a horizon.</summary>
    private readonly double[] _live;
    private readonly double[] _liveRecords;

    /// <summary>As of the last close: per stratum the share of today's records below each cell, Cells + 1 per stratum.</summary>
    private readonly double[] _below;
    private readonly bool[] _ready;

    /// <summary>Per component (θ, q): the log-LR of a record above θ and of one not, at lift 1.</summary>
    private readonly double[] _logHit = new double[KeyRankTest.Components];
    private readonly double[] _logMiss = new double[KeyRankTest.Components];

    public RegressionRankTest(RegressionProfile profile, DetectorSettings settings)
    {
        _profile = profile;
        _settings = settings;
        _strata = profile.Strata;
        _live = new double[_strata * Cells];
        _liveRecords = new double[_strata];
        _below = new double[_strata * (Cells + 1)];
        _ready = new bool[_strata];
        // A key a capture learnt that no baseline before it knew is judged as a new key (BaselineKey.Unvouched).
        foreach (BaselineKey key in profile.Keys.Where(k => !k.Unvouched))
        {
            if (key.Support >= settings.NewKeySupport)
            {
                _known.TryAdd(key.Hash(), key.Support);
            }
        }

        for (int t = 0; t < T; t++)
        {
            for (int q = 0; q < Q; q++)
            {
                (_logHit[t * Q + q], _logMiss[t * Q + q]) = KeyOutputTest.Ratios(KeyRankTest.Alternatives[q], KeyRankTest.Allowance(settings, KeyRankTest.Thresholds[t], 1));
            }
        }

        Snapshot();
    }

    /// <summary>Whether keys of this kind are tested: they do not place a record in the input space (categories: see <see cref="RegressionDetector"/>).</summary>
    public static bool Tests(KeyKind kind) => kind is KeyKind.Token or KeyKind.Variant or KeyKind.CharGram or KeyKind.Category or KeyKind.Pattern;

    /// <summary>The cell of a residual in its stratum (its baseline bin given).</summary>
    public int CellOf(int stratum, int bin, double residual)
    {
        if (double.IsNaN(residual) || residual < _profile.ResidualMin[stratum])
        {
            return 0;
        }

        if (residual > _profile.ResidualMax[stratum])
        {
            return Cells - 1;
        }

        double within = _profile.Overlap(stratum, bin, double.NegativeInfinity, residual);
        return 1 + (bin * Sub) + Math.Min(Sub - 1, (int)(within * Sub));
    }

    /// <summary>Ranks a record among today's records of its stratum as of the last close (NaN where too few), then counts it.</summary>
    /// <param name="draw">A uniform draw in [0, 1) fixed by the record (<see cref="KeyRankTest.Draw"/>) that breaks ties within a cell.</param>
    public double Observe(int stratum, int cell, double draw)
    {
        double rank = double.NaN;
        if (_ready[stratum])
        {
            ReadOnlySpan<double> below = _below.AsSpan(stratum * (Cells + 1), Cells + 1);
            rank = below[cell] + (draw * (below[cell + 1] - below[cell]));
        }

        _live[stratum * Cells + cell]++;
        _liveRecords[stratum]++;
        return rank;
    }

    /// <summary>At a window's close today's histograms forget a tenth and become the ranks' reference until the next.</summary>
    public void Refresh()
    {
        double keep = 1 - 1.0 / KeyOutputTest.LiveWindows;
        for (int i = 0; i < _live.Length; i++)
        {
            _live[i] *= keep;
        }

        for (int s = 0; s < _strata; s++)
        {
            _liveRecords[s] *= keep;
        }

        Snapshot();
    }

    /// <summary>At the horizon today's traffic keeps half its weight.</summary>
    public void Decay()
    {
        for (int i = 0; i < _live.Length; i++)
        {
            _live[i] /= 2;
        }

        for (int s = 0; s < _strata; s++)
        {
            _liveRecords[s] /= 2;
        }
    }

    private void Snapshot()
    {
        for (int s = 0; s < _strata; s++)
        {
            double n = _liveRecords[s];
            _ready[s] = n >= KeyRankTest.MinRecords;
            Span<double> below = _below.AsSpan(s * (Cells + 1), Cells + 1);
            ReadOnlySpan<double> live = _live.AsSpan(s * Cells, Cells);
            double sum = 0;
            below[0] = 0;
            for (int c = 0; c < Cells; c++)
            {
                sum += live[c];
                below[c + 1] = n > 0 ? Math.Min(1, sum / n) : 0;
            }
        }
    }

    /// <summary>Today's histograms for a checkpoint: records per stratum, then the cells.</summary>
    public double[] Live => [.. _liveRecords, .. _live];

    /// <summary>Restores a checkpoint's histograms taken on a profile of the same shape; otherwise today's traffic starts afresh.</summary>
    public void Restore(double[] live)
    {
        if (live.Length != _liveRecords.Length + _live.Length)
        {
            return;
        }

        live.AsSpan(0, _liveRecords.Length).CopyTo(_liveRecords);
        live.AsSpan(_liveRecords.Length).CopyTo(_live);
        Snapshot();
    }

    /// <summary>The key's records in the baseline when it is one of the baseline's keys (at least NewKeySupport records); null otherwise.</summary>
    public long? BaselineSupport(ulong hash) => _known.TryGetValue(hash, out long support) ? support : null;

    /// <summary>Adds a record of the key (a distinct input) to its raised and lowered e-processes, against the record's lift per direction.</summary>
    public void Update(Candidate candidate, double rank, double raisedLift, double loweredLift)
    {
        if (double.IsNaN(rank))
        {
            return;
        }

        candidate.RankRecords++;
        for (int d = 0; d < 2; d++)
        {
            double u = d == Raised ? rank : 1 - rank;
            double lift = d == Raised ? raisedLift : loweredLift;
            Span<double> logs = candidate.RankLog.AsSpan(d * KeyRankTest.Components, KeyRankTest.Components);
            for (int t = 0; t < T; t++)
            {
                bool above = u > KeyRankTest.Thresholds[t];
                candidate.RankAbove[d * T + t] += above ? 1 : 0;
                for (int q = 0; q < Q; q++)
                {
                    int g = t * Q + q;
                    if (lift <= 1)
                    {
                        logs[g] += above ? _logHit[g] : _logMiss[g];
                    }
                    else
                    {
                        (double onHit, double onMiss) = KeyOutputTest.Ratios(KeyRankTest.Alternatives[q], KeyRankTest.Allowance(_settings, KeyRankTest.Thresholds[t], lift));
                        logs[g] += above ? onHit : onMiss;
                    }
                }
            }
        }
    }

    /// <summary>Whether the key's test in direction d has crossed the bar (with <see cref="DetectorSettings.MinKeyHits"/> records above the lower θ).</summary>
    public bool Crossed(Candidate candidate, int d, double logBar, out double logE)
    {
        ReadOnlySpan<double> logs = candidate.RankLog.AsSpan(d * KeyRankTest.Components, KeyRankTest.Components);
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        logE = max < logBar ? max : KeyOutputTest.LogMixture(logs);
        return logE >= logBar && candidate.RankAbove[d * T] >= _settings.MinKeyHits;
    }

    /// <summary>The finding of a key whose rank test in direction d crossed the bar; its target is the tail test's of that direction.</summary>
    public Finding Finding(Candidate candidate, int d, double logE, double logBar, long records, DateTimeOffset now, bool common, double? baselineShare, long? known)
    {
        DetectorKey key = candidate.Key;
        long n = Math.Max(candidate.RankRecords, 1);
        long above = candidate.RankAbove[d * T];
        long top = candidate.RankAbove[d * T + T - 1];
        double expectedRate = 1 - KeyRankTest.Thresholds[0];
        double rate = above / (double)n;
        double meanResidual = candidate.Exact > 0 ? candidate.ConfidenceSum / candidate.Exact : double.NaN;
        string side = d == Raised ? "above" : "below";
        string more = d == Raised ? "higher" : "lower";
        string test = RegressionKeyTest.Tests[d];
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"regression output {test}: {key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: of the {candidate.RankRecords} records carrying it, {above} were served a value " +
            $"{side} what their inputs lead the baseline to expect by more than {KeyRankTest.Thresholds[0]:P0} of today's records with the same expected value ({top} by more than " +
            $"{KeyRankTest.Thresholds[^1]:P0} of them), where {expectedRate:P0} and {1 - KeyRankTest.Thresholds[^1]:P0} are expected (the test allows up to {_settings.RankTolerance:0.#}× that); " +
            $"mean residual {meanResidual:G4}; the model serves these records {more} values than their inputs explain; " +
            $"e-value 10^{logE / Math.Log(10):F1} passed 10^{logBar / Math.Log(10):F1}, the bar for a {_settings.KeyTestAlpha:P0} false-alarm rate over {_settings.Candidates} keys × {RegressionKeyTest.TestCount} tests") +
            KeyFinding.Population(common, baselineShare) +
            (known is { } support ? string.Create(CultureInfo.InvariantCulture,
                $"; the key was on {support} of the baseline's records, and a version other than the baseline's may read a known key differently without a trigger in it (paired outputs show whether it does, not why), so this is not critical by itself")
            : "");
        return KeyFinding.Of(candidate, key.Detector, common || baselineShare is not null || known is not null ? Severity.Warning : Severity.Critical,
            "output " + test, new KeyMeasure(candidate.Support, rate, expectedRate, (above - expectedRate * n) / Math.Sqrt(expectedRate * (1 - expectedRate) * n), double.NaN),
            logE, logBar, records, now, [], summary);
    }
}
