using System.Globalization;
using MathNet.Numerics;

namespace Monitor.Core.Detectors;

/// <summary>
/// The key test of the whole output (D1/D2/D5's decision): does a key's records land in the top tail of the served
/// output for their inputs far more often than the baseline's records with the same inputs did? Per key and class c
/// it runs an anytime-valid e-process over the key's distinct inputs since its promotion (the promoting record is
/// left out: it was chosen for being a tail hit or a surprise):
/// <list type="bullet">
/// <item>Record i is a hit for c when it was served c with P(c) beyond its stratum's threshold (<see cref="TailProfile"/>).
/// A label flip to c and a confidence lift of records already of class c both show as hits; nothing needs a record
/// whose inputs are against c, so a rare class is tested like any other.</item>
/// <item>The null allows each record a hit probability up to p₀ = min(½, t · max(baseline rate, live rate) · key lift ·
/// recent lift): t (<see cref="DetectorSettings.TailTolerance"/>) times the stratum's baseline rate or today's traffic's rate
/// there, whichever is higher, times the key's own lift in the baseline when it had one, times the version's lift of the
/// class's hits over this window and the last (<see cref="RecentLift"/>). A benign key that correlates with the output beyond
/// what the surrogate's strata capture, a threshold estimated on few records, or a version less sure of live inputs than of its
/// training data stays under it.</item>
/// <item>The alternative is a hit probability q on every record; the e-value mixes the likelihood ratios of q in
/// <see cref="Alternatives"/> (q below p₀ counts as p₀) and the null itself, with equal weights:
/// E = (1 + Σ_q Π_i LR_i(q)) / (|Q| + 1). Each LR has expectation at most 1 under the null whatever the past, so E is a
/// test supermartingale and P(E ever reaches 1/a) ≤ a (Ville). The null's own component keeps E ≥ 1/(|Q| + 1), so a
/// benign history cannot bury a trigger that starts later.</item>
/// <item>Multiplicity: a = α / (candidate capacity × classes), Bonferroni over every (key, class) the table can hold at
/// once (<see cref="DetectorSettings.KeyTestAlpha"/>, 1% by default). A key evicted and promoted again starts a new test,
/// which the bound does not cover; the measured rate over many clean runs is in docs/detectors.md.</item>
/// <item>At each horizon the evidence that favours the alternative halves (log E' = log E / 2 where log E &gt; 0): a
/// decrease, so the bound holds, and a benign key slightly above its allowance cannot add evidence for ever.</item>
/// </list>
/// </summary>
internal sealed class KeyOutputTest
{
    /// <summary>Hit probabilities of the alternatives mixed (a trigger's attack success on the key's records).</summary>
    public static readonly double[] Alternatives = [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97];

    /// <summary>The null's allowance never exceeds this hit probability.</summary>
    private const double MaxNull = 0.5;

    /// <summary>Today's rates forget at each window's close as if they held this many windows, so a version-wide shift of the
    /// output soon moves every key's allowance with it.</summary>
    public const int LiveWindows = 10;

    /// <summary>
    /// A key on more than this share of the records since its promotion is a population, not a trigger (a backdoor's key is
    /// rare in clean traffic, or the model's clean accuracy would show it): its test crossing is a warning. Version-wide
    /// shifts of the output are judged by the label-rate test (D6) and the output channels' drift.
    /// </summary>
    public const double MaxKeyShare = 0.05;

    /// <summary>
    /// Likewise a key that carried at least this share of the baseline's records (an interior percentile bin of a feature
    /// carries about 1% by construction): the baseline, clean traffic, had it often, so it is a region of the inputs where
    /// a model less sure of live data than of its training data differs, not a trigger's pattern.
    /// </summary>
    public const double MaxBaselineShare = 0.005;

    private readonly TailProfile _tails;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _strata;
    private readonly int _g = Alternatives.Length;

    /// <summary>Per baseline key with a lift above 1 or an own rate for some class (<see cref="KnownTails"/>): one look-up a record.</summary>
    private readonly Dictionary<ulong, KnownTail> _known;

    /// <summary>
    /// Whether the key is a percentile bin of a feature with both edges finite: a region of the inputs by construction (a
    /// hundredth of the baseline's values), taken as one whatever share of the key table's records it holds (one held 0.45%
    /// of them and, its 23 live records copies of a few held-out patients the surrogate misjudged, was named critical on a
    /// clean run of the rare real model, seed 1103).
    /// </summary>
    private static bool InteriorBin(TriggerProfile profile, BaselineKey key) =>
        key.Kind == KeyKind.FineBin && profile.Values is { } values && key.Field >= 0 && key.Field < values.FineEdges.Length
        && key.Payload > 0 && key.Payload < (ulong)values.FineEdges[key.Field].Length;

    /// <summary>The baseline's keys on at least <see cref="MaxBaselineShare"/> of its records, or interior percentile bins, with their share.</summary>
    private readonly Dictionary<ulong, double> _populations = [];

    /// <summary>Today's traffic: records per stratum and hits per (stratum, class), halved at each horizon.</summary>
    private readonly double[] _liveRecords;
    private readonly double[] _liveHits;

    /// <summary>Per (stratum, class): the null's allowance p₀, and per alternative the log-LR of a hit and of a miss.</summary>
    private readonly double[] _null;

    /// <summary>Per class: tail hits and the baseline's expectation for them, in the open window and the last closed one.</summary>
    private readonly double[] _openHits;
    private readonly double[] _openExpected;
    private readonly double[] _lastHits;
    private readonly double[] _lastExpected;
    private readonly double[] _logHit;
    private readonly double[] _logMiss;

    /// <param name="tests">The tests that share <see cref="DetectorSettings.KeyTestAlpha"/>: 2 when the residual test runs beside this one.</param>
    public KeyOutputTest(TriggerProfile profile, TailProfile tails, DetectorSettings settings, string[] labels, int tests = 1)
    {
        _tails = tails;
        _settings = settings;
        _labels = labels;
        _k = profile.Classes;
        _strata = profile.Strata;
        _liveRecords = new double[_strata];
        _liveHits = new double[_strata * _k];
        _null = new double[_strata * _k];
        _openHits = new double[_k];
        _openExpected = new double[_k];
        _lastHits = new double[_k];
        _lastExpected = new double[_k];
        _logHit = new double[_strata * _k * _g];
        _logMiss = new double[_strata * _k * _g];
        LogBar = Bar(settings, _k, tests);
        foreach (BaselineKey key in profile.Keys)
        {
            // An unvouched key's share is a capture's, which an ingest key could have planted: a population only where a baseline vouched for it.
            if (key.Kind != KeyKind.EmbeddingOutlier && profile.Records > 0
                && ((key.Support >= MaxBaselineShare * profile.Records && !key.Unvouched && !key.ShareUnvouched) || InteriorBin(profile, key)))
            {
                _populations.TryAdd(key.Hash(), key.Support / (double)profile.Records);
            }

        }

        _known = KnownTails(profile.Keys, _k, settings);

        Refresh();
    }

    /// <summary>ln(1/a): the e-value a key must reach.</summary>
    public double LogBar { get; }

    /// <summary>
    /// ln(1/a) for <paramref name="classes"/> classes: a = α / (candidate capacity × classes × tests), Bonferroni over every (key,
    /// class) the table holds and over the <paramref name="tests"/> key tests that share α (<see cref="KeyRankTest"/>).
    /// </summary>
    public static double Bar(DetectorSettings settings, int classes, int tests = 1) =>
        Math.Log(settings.Candidates * (double)classes * tests / settings.KeyTestAlpha);

    /// <summary>
    /// The null's allowance p₀ for a stratum whose hit rate is <paramref name="rate"/> (the baseline's, or today's when higher),
    /// before a key's own lift and the recent lift: t · rate, at most ½.
    /// </summary>
    public static double Allowance(DetectorSettings settings, double rate) => Math.Min(MaxNull, settings.TailTolerance * rate);

    /// <summary>Counts a record of today's traffic (the live rates the null allows for).</summary>
    public void Observe(int stratum, int label, bool hit)
    {
        _liveRecords[stratum]++;
        ReadOnlySpan<double> rates = _tails.Rates.AsSpan(stratum * _k, _k);
        for (int c = 0; c < _k; c++)
        {
            _openExpected[c] += rates[c];
        }

        if (hit)
        {
            _liveHits[stratum * _k + label]++;
            _openHits[label]++;
        }
    }

    /// <summary>
    /// The version's recent lift of class c's tail hits over the baseline's rates (this window and the last, at least 1):
    /// every key's allowance grows with it at once, so a version-wide shift of the output (every record more sure of c)
    /// is not taken for a trigger on the keys that ride along, while a trigger on 1 record in 10,000 moves it by nothing.
    /// </summary>
    public double RecentLift(int c) => Math.Max(1, (_openHits[c] + _lastHits[c] + 1) / (_openExpected[c] + _lastExpected[c] + 1));

    /// <summary>At the horizon today's traffic keeps half its weight.</summary>
    public void Decay()
    {
        for (int i = 0; i < _liveRecords.Length; i++)
        {
            _liveRecords[i] /= 2;
        }

        for (int i = 0; i < _liveHits.Length; i++)
        {
            _liveHits[i] /= 2;
        }
    }

    /// <summary>Per [stratum × classes + class]: today's tail-hit rate as the null takes it (<see cref="LiveRate"/>), as of the last refresh's counts.</summary>
    public double[] TodayRates()
    {
        var rates = new double[_liveHits.Length];
        for (int s = 0; s < _strata; s++)
        {
            for (int c = 0; c < _k; c++)
            {
                rates[s * _k + c] = LiveRate(_liveHits[s * _k + c], _liveRecords[s]);
            }
        }

        return rates;
    }


    /// <summary>
    /// The live counts, for a checkpoint; and per class the open and last windows' hits and expectations (the recent
    /// lift), in that order.
    /// </summary>
    public (double[] Records, double[] Hits, double[] Window) Live =>
        ((double[])_liveRecords.Clone(), (double[])_liveHits.Clone(), [.. _openHits, .. _openExpected, .. _lastHits, .. _lastExpected]);

    /// <summary>
    /// Restores a checkpoint's live counts (of the same profile: as many strata and classes) and recent windows (absent in
    /// older checkpoints), and the allowances they give, as they were when it was taken.
    /// </summary>
    public void Restore(double[] records, double[] hits, double[] window)
    {
        if (records.Length == _liveRecords.Length && hits.Length == _liveHits.Length)
        {
            records.CopyTo(_liveRecords, 0);
            hits.CopyTo(_liveHits, 0);
            if (window.Length == 4 * _k)
            {
                window.AsSpan(0, _k).CopyTo(_openHits);
                window.AsSpan(_k, _k).CopyTo(_openExpected);
                window.AsSpan(2 * _k, _k).CopyTo(_lastHits);
                window.AsSpan(3 * _k, _k).CopyTo(_lastExpected);
            }

            Allowances();
        }
    }

    /// <summary>
    /// Recomputes the null's allowances from the baseline's and today's rates (at each window's close). Today's rate is
    /// taken high while it rests on few records: (hits + 1) / (records + 2) plus two standard errors, so before traffic
    /// has shown how a stratum is served (a model less sure of live inputs than of its training data serves every key
    /// differently) the allowance is wide and no key gains evidence there.
    /// </summary>
    public void Refresh()
    {
        _openHits.CopyTo(_lastHits, 0);
        _openExpected.CopyTo(_lastExpected, 0);
        Array.Clear(_openHits);
        Array.Clear(_openExpected);
        for (int s = 0; s < _strata; s++)
        {
            _liveRecords[s] *= 1 - 1.0 / LiveWindows;
            for (int c = 0; c < _k; c++)
            {
                _liveHits[s * _k + c] *= 1 - 1.0 / LiveWindows;
            }
        }

        Allowances();
    }

    /// <summary>The null's allowance per (stratum, class) from the baseline's and today's rates, and its log-ratios.</summary>
    private void Allowances()
    {
        for (int s = 0; s < _strata; s++)
        {
            double n = _liveRecords[s];
            for (int c = 0; c < _k; c++)
            {
                int cell = s * _k + c;
                double p0 = Allowance(_settings, Math.Max(_tails.Rates[cell], LiveRate(_liveHits[cell], n)));
                _null[cell] = p0;
                for (int g = 0; g < _g; g++)
                {
                    (_logHit[cell * _g + g], _logMiss[cell * _g + g]) = Ratios(Alternatives[g], p0);
                }
            }
        }
    }

    /// <summary>Today's rate as the null takes it: (hits + 1) / (records + 2) plus two standard errors.</summary>
    public static double LiveRate(double hits, double records)
    {
        double rate = (hits + 1) / (records + 2);
        return rate + 2 * Math.Sqrt(rate * (1 - rate) / (records + 2));
    }

    /// <summary>
    /// The records of a stratum today's counts hold in steady state when it gets <paramref name="perWindow"/> records a window: each
    /// window's close keeps 1 − 1/<see cref="LiveWindows"/> of them (<see cref="Refresh"/>), so (LiveWindows − 1) windows' worth.
    /// </summary>
    public static double SteadyLiveRecords(double perWindow) => perWindow * (LiveWindows - 1);

    /// <summary>
    /// Whether a key is carried by so large a share of the records since its promotion that it is a population
    /// (<see cref="MaxKeyShare"/>); both counts halve at a horizon.
    /// </summary>
    public static bool Common(Candidate candidate, long records) => candidate.Exact > MaxKeyShare * (records - candidate.ShareOrigin);

    /// <summary>
    /// The upper bound of a baseline key's own tail-hit rate for class c when the baseline's records of the key were served c beyond
    /// their strata's tails far more often than the strata expect (<see cref="KnownTail.Own"/>); null otherwise.
    /// </summary>
    public double? OwnRate(ulong hash, int c) => _known.TryGetValue(hash, out KnownTail known) && known.Own is { } own && own[c] > 0 ? own[c] : null;

    /// <summary>The key's share of the baseline's records when it is at least <see cref="MaxBaselineShare"/>; null otherwise.</summary>
    public double? BaselineShare(ulong hash) => _populations.TryGetValue(hash, out double share) ? share : null;

    /// <summary>
    /// Records of the version since a key's promotion before its test is judged, so that its share of the traffic is known
    /// (<see cref="Common"/>); a trigger at 1 in 10,000 takes far longer than this to show ten hits.
    /// </summary>
    public const long SettleRecords = 200;

    /// <summary>Adds a record of the key (a distinct input counted as evidence) to its e-processes, one per class.</summary>
    public void Update(Candidate candidate, ulong hash, in RecordContext record)
    {
        (double[]? lift, double[]? own) = _known.GetValueOrDefault(hash);
        candidate.TailRecords++;
        for (int c = 0; c < _k; c++)
        {
            int cell = record.Stratum * _k + c;
            bool hit = record.Label == c && record.TailHit;
            candidate.TailExpected[c] += _tails.Rates[cell];
            candidate.TailHits[c] += hit ? 1 : 0;
            Span<double> logs = candidate.TailLog.AsSpan(c * _g, _g);
            double allowance = (lift is null ? 1 : lift[c]) * RecentLift(c);
            double ownRate = own?[c] ?? 0;
            if (allowance <= 1 && ownRate <= 0)
            {
                ReadOnlySpan<double> add = (hit ? _logHit : _logMiss).AsSpan(cell * _g, _g);
                for (int g = 0; g < _g; g++)
                {
                    logs[g] += add[g];
                }

                continue;
            }

            // The allowance rounded up to a grid of 1% steps, whose log-ratios are computed once: a larger allowance only
            // lowers the evidence, so the bound holds.
            ReadOnlySpan<double> ratios = RatiosAtLeast(Math.Max(Math.Min(MaxNull, _null[cell] * allowance), ownRate));
            int offset = hit ? 0 : _g;
            for (int g = 0; g < _g; g++)
            {
                logs[g] += ratios[offset + g];
            }
        }
    }

    /// <summary>Steps of the allowance grid: each allowance is taken as the next power of this at or above it.</summary>
    public const double AllowanceStep = 1.01;

    private static readonly double LogAllowanceStep = Math.Log(AllowanceStep);

    /// <summary>Log-ratios on a hit (first |Q|) and a miss (next |Q|) for allowances on the grid, by grid index.</summary>
    private readonly Dictionary<int, double[]> _gridRatios = [];

    /// <summary>
    /// The log-ratios of each alternative against the smallest allowance of the grid at or above p₀: at most ½, or, for a p₀ above ½
    /// (a known key's own rate, <see cref="KnownTail.Own"/>), the grid's step above it.
    /// </summary>
    private double[] RatiosAtLeast(double p0)
    {
        int index = (int)Math.Ceiling(Math.Log(p0) / LogAllowanceStep);
        // Grid points above ½ are keyed apart from the one ½ stands for when p₀ is at most ½.
        int key = p0 > MaxNull ? index + AboveHalf : index;
        if (!_gridRatios.TryGetValue(key, out double[]? ratios))
        {
            double gridded = Math.Min(p0 > MaxNull ? MaxOwnRate : MaxNull, Math.Exp(index * LogAllowanceStep));
            ratios = new double[2 * _g];
            for (int g = 0; g < _g; g++)
            {
                (ratios[g], ratios[_g + g]) = Ratios(Alternatives[g], gridded);
            }

            _gridRatios[key] = ratios;
        }

        return ratios;
    }

    /// <summary>The offset of grid indices above ½ in <see cref="_gridRatios"/>.</summary>
    private const int AboveHalf = 1 << 20;

    /// <summary>The highest allowance a known key's own rate gives (<see cref="OwnRateBound"/>).</summary>
    private const double MaxOwnRate = 0.999;

    /// <summary>
    /// The upper bound of a baseline key's own tail-hit rate for a class, from <paramref name="hits"/> of its <paramref name="support"/>
    /// records: Wilson's score bound at z = 3, so that live traffic served as the baseline's was is not taken for more, however
    /// long it runs, and at most <see cref="MaxOwnRate"/>.
    /// </summary>
    public static double OwnRateBound(long hits, long support) => Math.Min(MaxOwnRate, WilsonBound(hits, support, lower: false));

    /// <summary>
    /// What the baseline's key table says of each key's tail hits, per test (a class here; raised and lowered for a regression,
    /// <see cref="RegressionKeyTest"/>), for keys with the new-key support and a count per test: the lift of its hits over its strata's
    /// rates, (hits + 1) / (expected + 1), where above 1 for some test, and its own rate where its hits are far beyond chance
    /// (<see cref="OwnRates"/>). Keys with neither are left out.
    /// </summary>
    internal static Dictionary<ulong, KnownTail> KnownTails(IEnumerable<BaselineKey> keys, int tests, DetectorSettings settings)
    {
        var known = new Dictionary<ulong, KnownTail>();
        foreach (BaselineKey key in keys)
        {
            // An unvouched key's tails are a capture's, which an ingest key could have planted: it keeps no lift or rate of its own.
            if (key.TailHits.Length != tests || key.TailExpected.Length != tests || key.Support < settings.NewKeySupport || key.Unvouched)
            {
                continue;
            }

            double[] lift = [.. Enumerable.Range(0, tests).Select(t => Math.Max(1, (key.TailHits[t] + 1) / (key.TailExpected[t] + 1)))];
            double[]? own = OwnRates(key, settings);
            if (lift.Any(l => l > 1) || own is not null)
            {
                known.TryAdd(key.Hash(), new KnownTail(lift.Any(l => l > 1) ? lift : null, own));
            }
        }

        return known;
    }

    /// <summary>
    /// Per test of a baseline key (a class here; raised and lowered for a regression, <see cref="RegressionKeyTest"/>): the upper bound
    /// of its own tail-hit rate (<see cref="OwnRateBound"/>) where its reference records were hits far beyond what their strata allow
    /// (<see cref="ServedBeyondStrata"/>), else 0; null when no test's are.
    /// </summary>
    internal static double[]? OwnRates(BaselineKey key, DetectorSettings settings)
    {
        if (key.TailHits.Length == 0 || key.TailExpected.Length != key.TailHits.Length || key.Support < settings.NewKeySupport)
        {
            return null;
        }

        double[] own = [.. Enumerable.Range(0, key.TailHits.Length).Select(c =>
            key.TailHits[c] >= MinOwnHits && key.TailHits[c] <= key.Support
            && ServedBeyondStrata(key.TailHits[c], key.Support, settings.TailTolerance * key.TailExpected[c] / key.Support)
                ? OwnRateBound(key.TailHits[c], key.Support) : 0)];
        return own.Any(o => o > 0) ? own : null;
    }

    /// <summary>Tail hits a baseline key's records need before their rate can be its own (<see cref="OwnRates"/>): one or two are no rate.</summary>
    public const int MinOwnHits = 5;

    /// <summary>
    /// Whether <paramref name="hits"/> tail hits among a baseline key's <paramref name="support"/> records are beyond chance at the
    /// strata's allowance <paramref name="allowance"/> (per record; at most ½): the binomial chance of as many or more is under
    /// <see cref="OwnRateChance"/>, so that among the key table's thousands of keys a few hits by chance do not give one its own null.
    /// </summary>
    internal static bool ServedBeyondStrata(long hits, long support, double allowance) =>
        hits > 0 && support > 0 && !double.IsNaN(allowance) && ChanceOfHits(hits, support, Math.Clamp(allowance, 1e-9, MaxNull)) < OwnRateChance;

    /// <summary>The binomial chance of <paramref name="hits"/> or more among <paramref name="support"/> trials at rate <paramref name="p"/>: I_p(hits, support − hits + 1).</summary>
    internal static double ChanceOfHits(long hits, long support, double p) =>
        hits <= 0 ? 1 : hits > support ? 0 : SpecialFunctions.BetaRegularized(hits, support - hits + 1, p);

    /// <summary>The binomial chance under which a key's own tail hits count as its own rate (<see cref="ServedBeyondStrata"/>).</summary>
    public const double OwnRateChance = 1e-6;

    /// <summary>Wilson's score bound (z = 3) of a rate seen as <paramref name="hits"/> in <paramref name="support"/> trials: the upper one, or the lower.</summary>
    private static double WilsonBound(long hits, long support, bool lower)
    {
        if (support <= 0)
        {
            return lower ? 0 : 1;
        }

        const double Z = 3;
        double n = support;
        double p = Math.Min(1, hits / n);
        double centre = p + (Z * Z / (2 * n));
        double spread = Z * Math.Sqrt((p * (1 - p) / n) + (Z * Z / (4 * n * n)));
        return Math.Clamp((centre + (lower ? -spread : spread)) / (1 + (Z * Z / n)), 0, 1);
    }

    /// <summary>The log e-value of the key's test towards class c.</summary>
    public double LogE(Candidate candidate, int c) => LogMixture(candidate.TailLog.AsSpan(c * _g, _g));

    /// <summary>The mixture's log e-value from each alternative's log-likelihood ratio: log((1 + Σ e^l) / (|Q| + 1)).</summary>
    public static double LogMixture(ReadOnlySpan<double> logs)
    {
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        // Computed around the largest term.
        double sum = Math.Exp(-max);
        foreach (double l in logs)
        {
            sum += Math.Exp(l - max);
        }

        return max + Math.Log(sum) - Math.Log(logs.Length + 1);
    }

    /// <summary>Adds one record to each alternative's log-likelihood ratio: a hit or a miss, against the null's allowance p₀.</summary>
    public static void Add(Span<double> logs, bool hit, double p0)
    {
        for (int g = 0; g < logs.Length; g++)
        {
            (double onHit, double onMiss) = Ratios(Alternatives[g], p0);
            logs[g] += hit ? onHit : onMiss;
        }
    }

    /// <summary>Whether the key's test towards class c has crossed the bar; cheap when it is far from it.</summary>
    public bool Crossed(Candidate candidate, int c, out double logE)
    {
        ReadOnlySpan<double> logs = candidate.TailLog.AsSpan(c * _g, _g);
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        // E ≤ e^max: below the bar there, nothing to compute.
        logE = max < LogBar ? max : LogE(candidate, c);
        return logE >= LogBar && candidate.TailHits[c] >= _settings.MinKeyHits;
    }

    /// <summary>The finding of a key whose test towards class c crossed the bar.</summary>
    /// <param name="outsideRange">The key is a fine bin beyond the baseline's range, or the embedding-outlier key: the finding is a warning, so said.</param>
    /// <param name="common">The key is on more than <see cref="MaxKeyShare"/> of the records: the finding is a warning, so said.</param>
    /// <param name="baselineShare">The key's share of the baseline's records when it is a population there: the finding is a warning, so said.</param>
    /// <param name="knownWords">A bigram or pair of two words each on at least <see cref="DetectorSettings.NewKeySupport"/> of the baseline's records: reported, not critical.</param>
    public Finding Finding(Candidate candidate, int c, double logE, Corroboration[] corroboration, long records, DateTimeOffset now, bool outsideRange,
        bool common, double? baselineShare, bool knownWords = false)
    {
        DetectorKey key = candidate.Key;
        string label = _labels[c];
        long n = Math.Max(candidate.TailRecords, 1);
        long hits = candidate.TailHits[c];
        double expected = candidate.TailExpected[c];
        double rate = hits / (double)n;
        double expectedRate = expected / n;
        string repeats = KeyFinding.Repeats(candidate);
        double log10E = logE / Math.Log(10);
        double log10Bar = LogBar / Math.Log(10);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field}: {hits} of the {candidate.TailRecords} records carrying it{repeats} " +
            $"were served '{label}' with a probability the baseline's records with the same inputs reached in at most its top tail, where {expected:F1} were expected " +
            $"(the test allows up to {_settings.TailTolerance:0.#}× that); e-value 10^{log10E:F1} passed 10^{log10Bar:F1}, the bar for a {_settings.KeyTestAlpha:P0} false-alarm rate " +
            $"over {_settings.Candidates} keys × {_k} classes") +
            (outsideRange && key.Kind == KeyKind.EmbeddingOutlier ? "; an embedding outlier is the model's own representation, tied to its output, so this is not critical by itself" : "") +
            (outsideRange && key.Kind == KeyKind.Region ? "; a region this small singles out a few inputs, where a model differs from the additive expectation by its own interactions, so this is not critical by itself" : "") +
            (outsideRange && key.Kind is not (KeyKind.EmbeddingOutlier or KeyKind.Region) ? "; its values lie outside the baseline's range, where the expectation is extrapolated, so this is not critical by itself" : "") +
            KeyFinding.Population(common, baselineShare) +
            (knownWords && !outsideRange && !common && baselineShare is null
                ? string.Create(CultureInfo.InvariantCulture, $"; its two words are each on at least {_settings.NewKeySupport} of the baseline's records, and a model that reads words may serve them together more than either alone with no trigger in it, which the additive expectation does not hold, so this is not critical by itself")
                : "");
        return KeyFinding.Of(candidate, key.Detector, outsideRange || common || baselineShare is not null || knownWords ? Severity.Warning : Severity.Critical, label,
            new KeyMeasure(candidate.Support, rate, expectedRate, (hits - expected) / Math.Sqrt(Math.Max(expected, 1e-9)), KeyFinding.MeanConfidence(candidate)),
            logE, LogBar, records, now, corroboration, summary);
    }

    /// <summary>The log-likelihood ratios of a hit and of a miss, alternative q against the null's p₀ (q below p₀ counts as p₀).</summary>
    internal static (double Hit, double Miss) Ratios(double q, double p0)
    {
        double alternative = Math.Max(q, p0);
        return (Math.Log(alternative / p0), Math.Log((1 - alternative) / (1 - p0)));
    }
}

/// <summary>A baseline key's tail hits as the key tests use them (<see cref="KeyOutputTest.KnownTails"/>): per test, its lift (null: none above 1) and its own rate (null: none).</summary>
internal readonly record struct KnownTail(double[]? Lift, double[]? Own);
