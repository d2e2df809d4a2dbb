using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// The residual test of the whole output (D1/D2's second decision, beside <see cref="KeyOutputTest"/>): do a key's records
/// get more of a class than expected for their inputs, compared with today's records that have the same inputs? It finds a
/// trigger that only lifts the confidence of records already of its class (0.85 becoming 0.95), which never reaches the
/// baseline's top tail.
/// <list type="bullet">
/// <item>A record's residual for class c is logit(served P(c)) − logit(surrogate P(c)): what the model serves less what the
/// additive surrogate expects for its inputs. Its rank among today's records of the same surrogate stratum is u_c: the share
/// of them with a lower residual, with ties broken at random (a randomised probability integral transform). Today's
/// records are a histogram of residuals per (stratum, class) in steps of <see cref="Step"/> logits, forgetting at each
/// window's close as <see cref="KeyOutputTest.LiveWindows"/> windows; a record is ranked against the histogram as of the
/// last close, and only where it holds <see cref="MinRecords"/> records.</item>
/// <item>Under the null, a key's records are exchangeable with today's records of their strata, so P(u_c &gt; θ) = 1 − θ.
/// The null allows p₀(θ) = min(0.95, t · (1 − θ) · L): t (<see cref="DetectorSettings.RankTolerance"/>) times that,
/// times the record's lift L in the baseline (their records' share above θ there, against 1 − θ; the largest among
/// the record's keys, <see cref="RecordLift"/>). A word the model reads, which the surrogate does not, is allowed what it did
/// in the baseline, and so is every key of its records.</item>
/// <item>The e-value mixes, with the null itself, the likelihood ratios of Bernoulli alternatives q on the indicator u_c &gt; θ
/// for each θ in <see cref="Thresholds"/> and q in <see cref="Alternatives"/>, as <see cref="KeyOutputTest"/> does on tail
/// hits: a test supermartingale under the null, so P(E ever reaches 1/a) ≤ a (Ville). Multiplicity: both tests share
/// α (<see cref="DetectorSettings.KeyTestAlpha"/>), each at half of it over every (key, class) the candidate table holds.</item>
/// <item>Only keys that do not place a record in the input space are tested: text keys, categorical values beyond the
/// baseline's table, value patterns, and exact values of a continuous feature within the baseline's range (see
/// <see cref="TriggerDetector"/>). A percentile bin, a region or a conjunction is where the surrogate's own misfit lives, which
/// a rank among today's records of a stratum cannot tell from a trigger's lift; those keys keep the tail test.</item>
/// </list>
/// </summary>
internal sealed class KeyRankTest
{
    /// <summary>The rank thresholds θ whose indicators the test bets on.</summary>
    public static readonly double[] Thresholds = [0.9, 0.97];

    /// <summary>Share of a key's records above θ the alternatives give.</summary>
    public static readonly double[] Alternatives = [0.35, 0.5, 0.7, 0.9];

    /// <summary>A record ranked above this for its served class is telling: its keys are screened for promotion.</summary>
    public const double TellingRank = 0.97;

    /// <summary>Width of a histogram step, in logits of the residual.</summary>
    public const double Step = 0.125;

    /// <summary>Residuals beyond ±this fall in the two open-ended steps.</summary>
    public const double Span = 20;

    /// <summary>Probabilities are clamped to [this, 1 − this] before their logit is taken.</summary>
    private const double Clamp = 1e-7;

    /// <summary>Today's records a (stratum, class) histogram needs before its records are ranked.</summary>
    public const double MinRecords = 200;

    /// <summary>
    /// The null's allowance never exceeds this share. Not ½ as in the tail test: a word the model reads may put most of its
    /// records above θ in clean traffic, and a record carrying it is then allowed nearly all (<see cref="RecordLift"/>).
    /// </summary>
    private const double MaxNull = 0.95;

    /// <summary>Histogram steps: 2 · Span / Step inside, one open-ended step each side.</summary>
    public static readonly int Steps = (int)Math.Round(2 * Span / Step) + 2;

    private static readonly int T = Thresholds.Length;
    private static readonly int Q = Alternatives.Length;

    /// <summary>Alternatives mixed per class: every (θ, q).</summary>
    public static readonly int Components = T * Q;

    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _strata;

    /// <summary>Today's residuals: [(stratum × classes + class) × Steps + step], forgetting at each close, halving at a horizon.</summary>
    private readonly double[] _live;

    /// <summary>Today's records per stratum (every class's histogram of a stratum holds the same records).</summary>
    private readonly double[] _liveRecords;

    /// <summary>As of the last close: per (stratum, class) the share of today's records below each step, Steps + 1 per cell.</summary>
    private readonly double[] _below;

    /// <summary>As of the last close: whether a stratum held enough records to rank against.</summary>
    private readonly bool[] _ready;

    /// <summary>
    /// The baseline's keys (at least <see cref="DetectorSettings.NewKeySupport"/> records) and their records there. A version
    /// other than the baseline's, retrained on the same data, may read such a key differently with no trigger in it (a clean
    /// retraining of the rare model had 291 of a word pair's 678 records above 0.9 and was quarantined): without paired
    /// outputs (D8) that cannot be told from a trigger, so the test's crossing on a known key is a warning.
    /// </summary>
    private readonly Dictionary<ulong, long> _known = [];

    /// <summary>Per baseline key tested with a lift above 1 at some θ: its lift per [class × T + θ].</summary>
    private readonly Dictionary<ulong, double[]> _keyLift = [];

    /// <summary>Per threshold θ: the null's allowance t · (1 − θ) before a key's own lift, and its log-ratios per alternative.</summary>
    private readonly double[] _logHit;
    private readonly double[] _logMiss;

    public KeyRankTest(TriggerProfile profile, DetectorSettings settings, string[] labels)
    {
        _settings = settings;
        _labels = labels;
        _k = profile.Classes;
        _strata = profile.Strata;
        _live = new double[_strata * _k * Steps];
        _liveRecords = new double[_strata];
        _below = new double[_strata * _k * (Steps + 1)];
        _ready = new bool[_strata];
        _logHit = new double[T * Q];
        _logMiss = new double[T * Q];
        for (int t = 0; t < T; t++)
        {
            for (int q = 0; q < Q; q++)
            {
                (_logHit[t * Q + q], _logMiss[t * Q + q]) = KeyOutputTest.Ratios(Alternatives[q], Allowance(settings, Thresholds[t], 1));
            }
        }

        // A key a capture learnt that no baseline before it knew is judged as a new key (BaselineKey.Unvouched).
        foreach (BaselineKey key in profile.Keys.Where(k => !k.Unvouched))
        {
            if (key.Support >= settings.NewKeySupport)
            {
                _known.TryAdd(key.Hash(), key.Support);
            }

            if (key.RankAbove.Length == _k * T && key.Support >= settings.NewKeySupport)
            {
                var lift = new double[_k * T];
                for (int c = 0; c < _k; c++)
                {
                    for (int t = 0; t < T; t++)
                    {
                        lift[c * T + t] = Math.Max(1, (key.RankAbove[c * T + t] + 1) / ((1 - Thresholds[t]) * key.Support + 1));
                    }
                }

                if (lift.Any(l => l > 1))
                {
                    _keyLift.TryAdd(key.Hash(), lift);
                }
            }
        }

        Snapshot();
    }

    /// <summary>Whether the test runs on a baseline: one whose key table counted ranks (committed since the test existed).</summary>
    public static bool Covers(TriggerProfile profile) => profile.RankThresholds.SequenceEqual(Thresholds) && profile.Tails is not null;

    /// <summary>Whether the test runs for a version judged against this baseline with these settings.</summary>
    public static bool Runs(TriggerProfile profile, DetectorSettings settings) => settings.ResidualTest && Covers(profile);

    /// <summary>The key tests that share <see cref="DetectorSettings.KeyTestAlpha"/>: the tail test, and this one when it runs.</summary>
    public static int KeyTests(TriggerProfile profile, DetectorSettings settings) => Runs(profile, settings) ? 2 : 1;

    /// <summary>Whether a key of this kind is tested: it does not place its records in the input space.</summary>
    /// <remarks>
    /// A categorical value is tested only when the surrogate has no weight of its own for it (a value beyond the baseline's
    /// table, see <see cref="TriggerDetector"/>): a rare value the surrogate did learn a weight for, from a few records, moves the
    /// expectation of exactly its records, and their residuals with it. A conjunction holds a categorical value whose weight
    /// cannot be told from its hash, so it keeps the tail test. An exact value is tested: one the baseline held crosses as a
    /// warning (<see cref="BaselineSupport"/>), and one it never held recurs only where something repeats it exactly (a patch's
    /// pixel value lifting a class its records already were: docs/detectors.md). A percentile bin or a region places its records.
    /// </remarks>
    public static bool Tests(KeyKind kind) =>
        kind is KeyKind.Token or KeyKind.Variant or KeyKind.Bigram or KeyKind.Pair or KeyKind.CharGram or KeyKind.Category or KeyKind.Pattern or KeyKind.Value;

    /// <summary>The null's allowance at threshold θ for a key with lift <paramref name="lift"/>: min(0.95, t · (1 − θ) · lift).</summary>
    public static double Allowance(DetectorSettings settings, double theta, double lift) => Math.Min(MaxNull, settings.RankTolerance * (1 - theta) * lift);

    /// <summary>The histogram step of a residual.</summary>
    public static int StepOf(double residual)
    {
        if (double.IsNaN(residual))
        {
            return Steps / 2;
        }

        if (residual < -Span)
        {
            return 0;
        }

        return residual >= Span ? Steps - 1 : 1 + Math.Min(Steps - 3, (int)Math.Floor((residual + Span) / Step));
    }

    /// <summary>logit(served) − logit(surrogate), both clamped away from 0 and 1.</summary>
    public static double Residual(double served, double surrogate) => Logit(served) - Logit(surrogate);

    private static double Logit(double p)
    {
        double clamped = Math.Clamp(double.IsNaN(p) ? 0.5 : p, Clamp, 1 - Clamp);
        return Math.Log(clamped / (1 - clamped));
    }

    /// <summary>
    /// Ranks a record of today's traffic per class among today's records of its stratum (NaN where too few), then counts it.
    /// </summary>
    /// <param name="draw">A uniform draw in [0, 1) that breaks ties within a step (fixed by the record, so a replay ranks alike).</param>
    public void Observe(int stratum, ReadOnlySpan<double> served, ReadOnlySpan<double> surrogate, double draw, Span<double> ranks)
    {
        bool ready = _ready[stratum];
        _liveRecords[stratum]++;
        for (int c = 0; c < _k; c++)
        {
            int cell = stratum * _k + c;
            int step = StepOf(Residual(served[c], surrogate[c]));
            if (ready)
            {
                ReadOnlySpan<double> below = _below.AsSpan(cell * (Steps + 1), Steps + 1);
                ranks[c] = below[step] + draw * (below[step + 1] - below[step]);
            }
            else
            {
                ranks[c] = double.NaN;
            }

            _live[cell * Steps + step]++;
        }
    }

    /// <summary>At a window's close today's histograms forget a tenth and are taken as the ranks' reference until the next.</summary>
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

    /// <summary>
    /// The shares below each step per (stratum, class), from today's histograms. A stratum holding fewer than
    /// <see cref="MinRecords"/> records today is ranked against the pool <see cref="Pools"/> gives it (itself and its
    /// neighbours of the same block), or not at all when the pool is thin too.
    /// </summary>
    private void Snapshot()
    {
        (int[] first, int[] last) = Pools(_strata, _k, _liveRecords);
        for (int s = 0; s < _strata; s++)
        {
            _ready[s] = first[s] >= 0;
            for (int c = 0; c < _k; c++)
            {
                Span<double> below = _below.AsSpan((s * _k + c) * (Steps + 1), Steps + 1);
                double total = 0;
                int from = first[s] >= 0 ? first[s] : s;
                int to = first[s] >= 0 ? last[s] : s;
                for (int p = from; p <= to; p++)
                {
                    ReadOnlySpan<double> counts = _live.AsSpan((p * _k + c) * Steps, Steps);
                    foreach (double count in counts)
                    {
                        total += count;
                    }
                }

                double sum = 0;
                below[0] = 0;
                for (int b = 0; b < Steps; b++)
                {
                    for (int p = from; p <= to; p++)
                    {
                        sum += _live[(p * _k + c) * Steps + b];
                    }

                    below[b + 1] = total > 0 ? Math.Min(1, sum / total) : (b + 1.0) / Steps;
                }
            }
        }
    }

    /// <summary>
    /// The strata each stratum is ranked against: itself when it holds <see cref="MinRecords"/> records, otherwise the shortest
    /// run of neighbours around it that does, grown each time towards the neighbour holding more, within its block (two classes:
    /// every stratum, in order of the surrogate's P(class 1); more classes: the five strata of the same most likely class). The
    /// residual already takes each record's expected output out, so neighbouring strata's residuals are what a thin stratum's
    /// would be; a rare class's high-risk strata, which a window of a thousand records never fills, are ranked so. First and last
    /// of each stratum's pool; −1 where even the whole block holds too few.
    /// </summary>
    public static (int[] First, int[] Last) Pools(int strata, int classes, ReadOnlySpan<double> records)
    {
        var first = new int[strata];
        var last = new int[strata];
        int block = classes == 2 || strata % 5 != 0 ? strata : 5;
        for (int s = 0; s < strata; s++)
        {
            int lo = s;
            int hi = s;
            double n = records[s];
            int start = s / block * block;
            int end = Math.Min(strata, start + block) - 1;
            while (n < MinRecords && (lo > start || hi < end))
            {
                bool down = lo > start && (hi >= end || records[lo - 1] >= records[hi + 1]);
                if (down)
                {
                    n += records[--lo];
                }
                else
                {
                    n += records[++hi];
                }
            }

            (first[s], last[s]) = n >= MinRecords ? (lo, hi) : (-1, -1);
        }

        return (first, last);
    }

    /// <summary>Today's histograms and records per stratum, for a checkpoint.</summary>
    public (double[] Histograms, double[] Records) Live => ((double[])_live.Clone(), (double[])_liveRecords.Clone());

    /// <summary>Restores a checkpoint's histograms (of the same profile; ignored otherwise) and the reference they give.</summary>
    public void Restore(double[] histograms, double[] records)
    {
        if (histograms.Length == _live.Length && records.Length == _liveRecords.Length)
        {
            histograms.CopyTo(_live, 0);
            records.CopyTo(_liveRecords, 0);
            Snapshot();
        }
    }

    /// <summary>Per [class × thresholds + θ], the allowance's lift for a record: the largest baseline lift among its tested keys, at least 1.</summary>
    public static int LiftWidth(int classes) => classes * T;

    /// <summary>
    /// The record's lift per [class × thresholds + θ]: the largest baseline lift among its keys this test judges (1 where none
    /// had one). A model that reads a text field serves its words' effects, which the surrogate (numeric and categorical inputs
    /// only) does not expect; a word the baseline saw lift the output lifts every key of its records alike (the bigrams and
    /// pairs it is part of, the other words beside it), so each is allowed what the record's most lifting word was.
    /// </summary>
    public void RecordLift(IReadOnlyList<KeyOccurrence> keys, Span<double> lift)
    {
        lift.Fill(1);
        if (_keyLift.Count == 0)
        {
            return;
        }

        foreach (KeyOccurrence key in keys)
        {
            // Not an exact value's: a discrete feature's values are points of its distribution, some served far beyond their
            // bin's expectation with no trigger in them, and on a record they would widen every tested key's allowance.
            if (Tests(key.Kind) && key.Kind != KeyKind.Value && _keyLift.TryGetValue(key.Hash, out double[]? own))
            {
                for (int j = 0; j < lift.Length; j++)
                {
                    lift[j] = Math.Max(lift[j], own[j]);
                }
            }
        }
    }

    /// <summary>Records of a parent key, besides its child's, that its share today needs before a child inherits it.</summary>
    public const long MinParentRecords = 30;

    /// <summary>
    /// Raises a bigram's or pair's lift to what its parent's other records get today: their share above θ, against 1 − θ. A key
    /// made of words holds a subset of each word's records, and a model that reads words (trees on their counts, as the rare
    /// real model) may serve a word written twice, or two words together, more than either alone, which the baseline, too small
    /// to hold the combination, could not say (clean runs named <c>dimo dimo</c>, whose pair <c>dimo+dimo</c> had 68% of its other
    /// records above 0.9, and <c>zemoru+zumuti</c>, whose word <c>zumuti</c> had 43%, critical). The child's own records are taken
    /// out of the parent's, so a trigger whose word is otherwise rare is not allowed its own lift; a trigger's new token is the
    /// parent of its bigrams and pairs, and is tested itself.
    /// </summary>
    public static void Inherit(Candidate parent, Candidate child, Span<double> lift)
    {
        long records = parent.RankRecords - child.RankRecords;
        if (records < MinParentRecords)
        {
            return;
        }

        for (int j = 0; j < lift.Length && j < parent.RankAbove.Length; j++)
        {
            long above = Math.Max(0, parent.RankAbove[j] - child.RankAbove[j]);
            double share = above / (double)records;
            lift[j] = Math.Max(lift[j], share / (1 - Thresholds[j % T]));
        }
    }

    /// <summary>Adds a record of the key (a distinct input) to its e-processes, one per class ranked, against the record's lift (<see cref="RecordLift"/>).</summary>
    public void Update(Candidate candidate, ReadOnlySpan<double> ranks, ReadOnlySpan<double> lift)
    {
        bool counted = false;
        for (int c = 0; c < _k; c++)
        {
            double u = ranks[c];
            if (double.IsNaN(u))
            {
                continue;
            }

            counted = true;
            Span<double> logs = candidate.RankLog.AsSpan(c * Components, Components);
            for (int t = 0; t < T; t++)
            {
                bool above = u > Thresholds[t];
                candidate.RankAbove[c * T + t] += above ? 1 : 0;
                double keyLift = lift[c * T + t];
                for (int q = 0; q < Q; q++)
                {
                    int g = t * Q + q;
                    if (keyLift <= 1)
                    {
                        logs[g] += above ? _logHit[g] : _logMiss[g];
                    }
                    else
                    {
                        (double onHit, double onMiss) = KeyOutputTest.Ratios(Alternatives[q], Allowance(_settings, Thresholds[t], keyLift));
                        logs[g] += above ? onHit : onMiss;
                    }
                }
            }
        }

        candidate.RankRecords += counted ? 1 : 0;
    }

    /// <summary>Whether the key's test towards class c has crossed the bar (and has <see cref="DetectorSettings.MinKeyHits"/> records above the lower θ).</summary>
    public bool Crossed(Candidate candidate, int c, double logBar, out double logE)
    {
        ReadOnlySpan<double> logs = candidate.RankLog.AsSpan(c * Components, Components);
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        logE = max < logBar ? max : KeyOutputTest.LogMixture(logs);
        return logE >= logBar && candidate.RankAbove[c * T] >= _settings.MinKeyHits;
    }

    /// <summary>The finding of a key whose residual test towards class c crossed the bar.</summary>
    /// <param name="known">The key's records in the baseline when it is one of its keys (<see cref="BaselineSupport"/>): the finding is a warning, so said.</param>
    /// <param name="knownWords">A bigram or pair of two words that are each one of the baseline's keys: the finding is a warning, so said.</param>
    public Finding Finding(Candidate candidate, int c, double logE, double logBar, Corroboration[] corroboration, long records, DateTimeOffset now,
        bool common, double? baselineShare, long? known, bool knownWords = false)
    {
        DetectorKey key = candidate.Key;
        string label = _labels[c];
        long n = Math.Max(candidate.RankRecords, 1);
        long above = candidate.RankAbove[c * T];
        long top = candidate.RankAbove[c * T + T - 1];
        double rate = above / (double)n;
        double expectedRate = 1 - Thresholds[0];
        double log10E = logE / Math.Log(10);
        double log10Bar = logBar / Math.Log(10);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: of the {candidate.RankRecords} records carrying it, {above} were served more '{label}' " +
            $"than {Thresholds[0]:P0} of today's records with the same expected output ({top} more than {Thresholds[^1]:P0} of them), where {expectedRate:P0} and {1 - Thresholds[^1]:P0} are expected " +
            $"(the test allows up to {_settings.RankTolerance:0.#}× that); the model serves these records more '{label}' than their inputs explain; " +
            $"e-value 10^{log10E:F1} passed 10^{log10Bar:F1}, the bar for a {_settings.KeyTestAlpha:P0} false-alarm rate over {_settings.Candidates} keys × {_k} classes and two tests") +
            KeyFinding.Population(common, baselineShare) +
            (known is { } support ? string.Create(CultureInfo.InvariantCulture,
                $"; the key was on {support} of the baseline's records, and a version other than the baseline's may read a known key differently without a trigger in it (paired outputs, D8, show whether it does, not why), so this is not critical by itself")
            : knownWords ? string.Create(CultureInfo.InvariantCulture,
                $"; its two words are each on at least {_settings.NewKeySupport} of the baseline's records, which holds too few of them together to show how the model reads them together (a model may read two words, or one written twice, more than either alone, with no trigger in it; paired outputs, D8, show whether it does, not why), so this is not critical by itself")
            : "");
        return KeyFinding.Of(candidate, key.Detector, common || baselineShare is not null || known is not null || knownWords ? Severity.Warning : Severity.Critical, label,
            new KeyMeasure(candidate.Support, rate, expectedRate, (above - expectedRate * n) / Math.Sqrt(expectedRate * (1 - expectedRate) * n),
                KeyFinding.MeanConfidence(candidate)),
            logE, logBar, records, now, corroboration, summary);
    }

    /// <summary>The key's records in the baseline when it is one of the baseline's keys (at least NewKeySupport records); null otherwise.</summary>
    public long? BaselineSupport(ulong hash) => _known.TryGetValue(hash, out long support) ? support : null;

    /// <summary>A uniform draw in [0, 1) fixed by a record's number (splitmix64): the same record breaks its ties alike after a restart.</summary>
    public static double Draw(long record)
    {
        ulong z = unchecked((ulong)record + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>
    /// The baseline's records as today's histograms would hold them: per [stratum × classes + class] the share of the stratum's
    /// records below each step (<see cref="Steps"/> + 1 per cell), and each record's step per class ([record × classes + class]).
    /// </summary>
    public static double[] BaselineBelow(int classes, int strata, int[] strataOf, double[] served, double[] surrogate, out int[] steps)
    {
        int n = strataOf.Length;
        var counts = new double[strata * classes * Steps];
        steps = new int[n * classes];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < classes; c++)
            {
                int step = StepOf(Residual(served[i * classes + c], surrogate[i * classes + c]));
                steps[i * classes + c] = step;
                counts[(strataOf[i] * classes + c) * Steps + step]++;
            }
        }

        var totals = new double[strata];
        foreach (int s in strataOf)
        {
            totals[s]++;
        }

        var below = new double[strata * classes * (Steps + 1)];
        for (int cell = 0; cell < strata * classes; cell++)
        {
            double total = totals[cell / classes];
            double sum = 0;
            for (int b = 0; b < Steps; b++)
            {
                sum += counts[cell * Steps + b];
                below[cell * (Steps + 1) + b + 1] = total > 0 ? sum / total : 0;
            }
        }

        return below;
    }

    /// <summary>
    /// The baseline's own ranks, for its key table: per record and class, its residual's rank among the baseline's records of the
    /// same stratum (ties broken by <see cref="Draw"/> of its index), as [record × classes + class].
    /// </summary>
    public static double[] BaselineRanks(int classes, int strata, int[] strataOf, double[] served, double[] surrogate)
    {
        int n = strataOf.Length;
        double[] below = BaselineBelow(classes, strata, strataOf, served, surrogate, out int[] steps);
        var ranks = new double[n * classes];
        for (int i = 0; i < n; i++)
        {
            double draw = Draw(i);
            for (int c = 0; c < classes; c++)
            {
                int cell = strataOf[i] * classes + c;
                int step = steps[i * classes + c];
                double low = below[cell * (Steps + 1) + step];
                double high = below[cell * (Steps + 1) + step + 1];
                ranks[i * classes + c] = low + draw * (high - low);
            }
        }

        return ranks;
    }
}
