using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Detectors;

/// <summary>
/// Paired evidence (D8): records that carry, beside the served output, the output of a trusted version on the same request
/// (a shadow or canary rollout). Disagreement between the two on the records of a key needs no surrogate and cancels input
/// drift and seasonality: both versions saw the same inputs.
/// <list type="bullet">
/// <item>Record i is a <b>paired hit</b> for class c when it was served c with P(c) at least <see cref="MinServed"/> and the
/// served P(c) exceeds the trusted version's by at least <see cref="MinResidual"/>: a sure flip to c where the trusted version
/// said otherwise, or a lift of c far beyond it. A near tie that tips the other way is not a hit.</item>
/// <item>Per key and class, an anytime-valid e-process over the key's distinct paired records since its promotion, the
/// mixture of <see cref="KeyOutputTest"/>: E = (1 + Σ_q Π_i LR_i(q)) / (|Q| + 1) over the same alternatives, against a null
/// that allows each record a hit probability up to p₀ = max(min(½, t · r̂), r̂) (at most <see cref="MaxAllowance"/>),
/// t = <see cref="DetectorSettings.TailTolerance"/> and r̂ today's rate of hits for c among the other paired records (the
/// key's own left out) whose trusted P(c) lies in the same bin (<see cref="TrustedEdges"/>), (hits + 1) / (records + 2) plus
/// two standard errors, forgetting at each window's close as the whole-output test's does, but a sparse bin only down to
/// <see cref="MinLiveRecords"/>; a bin with fewer than <see cref="MinPooledRecords"/> borrows its neighbours' towards the
/// boundary. A record whose trusted P(c) is above 1 − <see cref="MinResidual"/> cannot be a hit for c and counts for c
/// nowhere. Benign disagreement of two clean versions is near their decision boundary, where the trusted P(c) is in a
/// middle bin; a trigger flips records the trusted version is sure of.</item>
/// <item>Multiplicity: the bar is the whole-output test's, α / (candidates × classes) (<see cref="KeyOutputTest.Bar"/>);
/// the evidence for a trigger halves at each horizon; a crossing needs <see cref="MinHits"/> hits.</item>
/// <item>Version-wide: over every paired record, the share the trusted version was sure of (its top class at
/// <see cref="SureTrusted"/> or more) and that was served another class, against an allowance of
/// <see cref="VersionAllowance"/>, as an e-process of the same mixture at α = <see cref="DetectorSettings.KeyTestAlpha"/>:
/// disagreement not explained by chance, output-side evidence against the version whatever its inputs did.</item>
/// </list>
/// Paired evidence is evidence that the version differs from the one named as trusted; it never fails a known-good
/// version (<see cref="Versions.WindowJudge.TriggerFails"/>): there the trusted output is only the sender's word.
/// </summary>
internal sealed class PairedTest
{
    /// <summary>The served P(c) must exceed the trusted version's by this much for a record served c to be a paired hit.</summary>
    public const double MinResidual = 0.2;

    /// <summary>
    /// A paired hit is served with at least this probability: a trigger's output is sure of its class, where two clean versions
    /// mostly part near their decision boundary.
    /// </summary>
    public const double MinServed = 0.8;

    /// <summary>
    /// Paired hits (distinct inputs) a key's crossing needs: fewer than the whole-output test's
    /// <see cref="DetectorSettings.MinKeyHits"/>, whose null rests on a surrogate of the baseline and may be wrong about a benign key,
    /// where here each hit is the trusted version's own output on the same request. A paired hit that repeats an input the key
    /// already counted is no evidence (it is looked up like a surprising record).
    /// </summary>
    public const int MinHits = 5;

    /// <summary>Bins of the trusted version's P(c) that today's rates of hits for c are kept in.</summary>
    public static readonly double[] TrustedEdges = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9];

    /// <summary>
    /// Today's counts of a (bin, class) forget only down to this many records: a sparse bin (a rare class's records, which the
    /// trusted version is sure of) keeps a longer memory than ten windows, or its rate would rest on a handful of records and
    /// allow a key up to ½ (a bin of 20 records without a hit allows 0.40; one of 200, 0.045). A busy bin forgets as before.
    /// </summary>
    public const double MinLiveRecords = 200;

    /// <summary>
    /// The allowance is never below the bin's rate itself (its upper bound): the whole-output test's cap of ½ would otherwise be
    /// a false null where two clean versions part on most records (a sharper retraining near the boundary serves nearly every
    /// record there the class the trusted version gave 0.1 to 0.7). Up to this, where no alternative exceeds it and a record is no evidence.
    /// </summary>
    public const double MaxAllowance = 0.99;

    /// <summary>
    /// A bin holding fewer of today's records than this (the key's own left out) borrows those of the bins next to it towards
    /// the decision boundary, where two versions part more often, until it holds this many or reaches the boundary: a key
    /// alone in its bin is judged against its neighbours' rate, not against no records at all.
    /// </summary>
    public const double MinPooledRecords = 20;

    /// <summary>The trusted version is sure of a record when its top class has at least this probability.</summary>
    public const double SureTrusted = 0.9;

    /// <summary>
    /// The share of paired records the trusted version is sure of that the version-wide test allows to be served another class:
    /// a candidate that overturns more than one in ten of the trusted version's sure outputs differs from it in a way the verdict
    /// hears of. Two clean retrainings of the evaluation's wine model parted on 3.1% of them (seed 1, docs/detectors.md).
    /// </summary>
    public const double VersionAllowance = 0.1;

    /// <summary>Paired records the version-wide test needs before a crossing is reported.</summary>
    public const long VersionMinRecords = 1000;

    private static readonly double[] VersionAlternatives = [0.15, 0.2, 0.3, 0.5, 0.7, 0.9];

    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly int _k;
    private readonly int _bins = TrustedEdges.Length + 1;
    private readonly int _g = KeyOutputTest.Alternatives.Length;
    private readonly bool _binary;

    /// <summary>Today's paired records and hits per (trusted bin, class), forgetting at each window's close.</summary>
    private readonly double[] _liveRecords;
    private readonly double[] _liveHits;

    /// <summary>Per alternative q of <see cref="KeyOutputTest.Alternatives"/>: ln q and ln(1 − q).</summary>
    private static readonly double[] LogAlternatives = [.. KeyOutputTest.Alternatives.Select(q => Math.Log(q))];
    private static readonly double[] LogAlternativesMiss = [.. KeyOutputTest.Alternatives.Select(q => Math.Log(1 - q))];

    /// <summary>This record's: per class its trusted bin, whether a hit is possible, whether it is one, its residual; the trusted class.</summary>
    private readonly int[] _bin;
    private readonly bool[] _possible;
    private readonly bool[] _hit;
    private readonly double[] _residual;
    private readonly double[] _trusted;
    private int _trustedLabel;

    /// <summary>The keys' paired e-processes, by key hash; each belongs to one promotion of its candidate.</summary>
    private readonly Dictionary<ulong, PairedKey> _keys = [];

    /// <summary>The candidate the table holds now for a key hash (null when none): a state of any other is stale.</summary>
    private readonly Func<ulong, Candidate?> _held;

    /// <summary>The version-wide e-process: log-LR per alternative, paired records, sure records and disagreements among them.</summary>
    private readonly double[] _versionLog = new double[VersionAlternatives.Length];

    /// <param name="held">The candidate the table holds now for a key hash, or null: states of keys let go or promoted again are dropped by it.</param>
    public PairedTest(int classes, OutputKind kind, DetectorSettings settings, string[] labels, Func<ulong, Candidate?> held)
    {
        _held = held;
        _settings = settings;
        _labels = labels;
        _k = classes;
        _binary = kind == OutputKind.Binary;
        _liveRecords = new double[_bins * _k];
        _liveHits = new double[_bins * _k];
        _bin = new int[_k];
        _possible = new bool[_k];
        _hit = new bool[_k];
        _residual = new double[_k];
        _trusted = new double[_k];
        LogBar = KeyOutputTest.Bar(settings, _k);
    }

    /// <summary>ln(1/a) a key's test must reach: the whole-output test's bar.</summary>
    public double LogBar { get; }

    /// <summary>Whether the record last observed carried the trusted version's output.</summary>
    public bool Current { get; private set; }

    /// <summary>Whether the record last observed is a paired hit for some class (its keys are screened like surprising records').</summary>
    public bool CurrentHit { get; private set; }

    /// <summary>The trusted version last named by a paired batch.</summary>
    public string TrustedVersion { get; private set; } = "";

    /// <summary>Paired records seen, and among the ones the trusted version was sure of, those served another class (halved at each horizon).</summary>
    public long Records { get; private set; }

    public long Sure { get; private set; }

    public long SureDisagreements { get; private set; }

    /// <summary>Whether the version-wide test has crossed its bar.</summary>
    public bool VersionCrossed => Records >= VersionMinRecords && VersionLogE >= Math.Log(1 / _settings.KeyTestAlpha);

    public double VersionLogE => KeyOutputTest.LogMixture(_versionLog);

    /// <summary>Reads record i of the batch: its trusted output, its hits, and the version-wide counts. Unpaired records are skipped.</summary>
    /// <param name="served">The served class probabilities of the record.</param>
    public void Observe(RecordBatch batch, int i, int label, ReadOnlySpan<double> served)
    {
        Current = batch.Paired;
        CurrentHit = false;
        if (!Current)
        {
            return;
        }

        TrustedVersion = batch.PairedVersion ?? "";
        ReadOnlySpan<float> scores = batch.PairedScores.Span;
        if (_binary)
        {
            _trusted[0] = 1 - scores[i];
            _trusted[1] = scores[i];
        }
        else
        {
            for (int c = 0; c < _k; c++)
            {
                _trusted[c] = scores[i * _k + c];
            }
        }

        _trustedLabel = 0;
        for (int c = 1; c < _k; c++)
        {
            _trustedLabel = _trusted[c] > _trusted[_trustedLabel] ? c : _trustedLabel;
        }

        Records++;
        for (int c = 0; c < _k; c++)
        {
            _residual[c] = served[c] - _trusted[c];
            _bin[c] = Bin(_trusted[c]);
            // No served output can lift c by MinResidual over a trusted P(c) above 1 − MinResidual: such a record is no evidence for
            // c, left out of today's counts and every key's test for c (decided by the trusted output alone, before the served one).
            _possible[c] = 1 - _trusted[c] >= MinResidual;
            _hit[c] = _possible[c] && label == c && served[c] >= MinServed && _residual[c] >= MinResidual;
            CurrentHit |= _hit[c];
            if (_possible[c])
            {
                int cell = _bin[c] * _k + c;
                _liveRecords[cell]++;
                _liveHits[cell] += _hit[c] ? 1 : 0;
            }
        }

        if (_trusted[_trustedLabel] >= SureTrusted)
        {
            bool disagrees = label != _trustedLabel;
            Sure++;
            SureDisagreements += disagrees ? 1 : 0;
            for (int g = 0; g < _versionLog.Length; g++)
            {
                (double onHit, double onMiss) = KeyOutputTest.Ratios(VersionAlternatives[g], VersionAllowance);
                _versionLog[g] += disagrees ? onHit : onMiss;
            }
        }
    }

    /// <summary>The null's allowance p₀ now for class c on records whose trusted P(c) lies in <paramref name="bin"/>, from all of today's records there.</summary>
    public double Allowance(int bin, int c) => CellAllowance(bin * _k + c, null);

    /// <summary>
    /// The null's allowance p₀ now for a record of <paramref name="key"/>: class c, trusted P(c) in <paramref name="bin"/>, from today's
    /// records there that are not the key's.
    /// </summary>
    public double Allowance(PairedKey key, int bin, int c) => CellAllowance(bin * _k + c, key);

    /// <summary>
    /// The allowance for a (bin, class) cell: today's rate there (the key's own records left out), pooled with the bins next to
    /// it towards the decision boundary while it holds fewer than <see cref="MinPooledRecords"/>; t times its upper bound, at most
    /// ½, but never below the upper bound itself.
    /// </summary>
    private double CellAllowance(int cell, PairedKey? key)
    {
        int c = cell % _k;
        int bin = cell / _k;
        int step = bin < Boundary ? 1 : -1;
        double records = 0;
        double hits = 0;
        for (int b = bin; ; b += step)
        {
            int at = b * _k + c;
            records += Math.Max(_liveRecords[at] - (key?.LiveRecords[at] ?? 0), 0);
            hits += Math.Max(_liveHits[at] - (key?.LiveHits[at] ?? 0), 0);
            if (records >= MinPooledRecords || b == Boundary || b == Boundary - 1)
            {
                break;
            }
        }

        double rate = KeyOutputTest.LiveRate(Math.Min(hits, records), records);
        return Math.Min(Math.Max(KeyOutputTest.Allowance(_settings, rate), rate), MaxAllowance);
    }

    /// <summary>The first bin at or above ½ (<see cref="TrustedEdges"/>): bins below it pool upwards, it and those above pool downwards.</summary>
    private static readonly int Boundary = Bin(0.5);

    /// <summary>
    /// The whole of today's counts a (bin, class) keeps at a close that keeps <paramref name="keep"/> of them, as a factor: a tenth
    /// (or half) forgotten, but never below <see cref="MinLiveRecords"/> records, and a cell holding fewer forgets nothing.
    /// </summary>
    private static double Kept(double records, double keep) =>
        records <= 0 ? keep : Math.Max(records * keep, Math.Min(records, MinLiveRecords)) / records;

    /// <summary>The bin of a trusted probability among <see cref="TrustedEdges"/>.</summary>
    public static int Bin(double p)
    {
        int b = 0;
        while (b < TrustedEdges.Length && p >= TrustedEdges[b])
        {
            b++;
        }

        return b;
    }

    /// <summary>
    /// Adds the record last observed (a distinct input of the key, not its promoting record) to the key's e-processes; the
    /// key's state starts afresh when the candidate is a new promotion of it.
    /// </summary>
    public PairedKey? Update(Candidate candidate, ulong hash)
    {
        if (!Current)
        {
            return null;
        }

        PairedKey key = Of(candidate, hash);
        key.Records++;
        for (int c = 0; c < _k; c++)
        {
            key.Residual[c] += _residual[c];
            if (!_possible[c])
            {
                continue;
            }

            // The key's own records, this one included, are left out of the rate it is judged against.
            int cell = _bin[c] * _k + c;
            key.LiveRecords[cell]++;
            key.LiveHits[cell] += _hit[c] ? 1 : 0;
            double p0 = CellAllowance(cell, key);
            key.Expected[c] += p0 / _settings.TailTolerance;
            key.Hits[c] += _hit[c] ? 1 : 0;
            key.Flips[c] += _hit[c] && _trustedLabel != c ? 1 : 0;
            // KeyOutputTest.Ratios: an alternative below p₀ counts as p₀ (a ratio of 1).
            double logP0 = _hit[c] ? Math.Log(p0) : Math.Log(1 - p0);
            ReadOnlySpan<double> logQ = _hit[c] ? LogAlternatives : LogAlternativesMiss;
            Span<double> logs = key.Log.AsSpan(c * _g, _g);
            for (int g = 0; g < _g; g++)
            {
                logs[g] += KeyOutputTest.Alternatives[g] > p0 ? logQ[g] - logP0 : 0;
            }
        }

        return key;
    }

    /// <summary>The paired state of a candidate, fresh when the key has none or had one for an earlier promotion.</summary>
    private PairedKey Of(Candidate candidate, ulong hash)
    {
        if (!_keys.TryGetValue(hash, out PairedKey? key) || !key.OwnedBy(candidate))
        {
            // States of keys the table let go (or promoted again) pile up between horizons when keys turn over; only those go,
            // so a held key's evidence is never lost to other keys' turnover. At most one state per held key is left.
            if (_keys.Count >= 2 * _settings.Candidates)
            {
                Prune();
            }

            key = new PairedKey(candidate, _k, _g, _liveRecords.Length);
            _keys[hash] = key;
        }

        return key;
    }

    /// <summary>The key's paired state when it has one for this promotion of its candidate.</summary>
    public PairedKey? Get(Candidate candidate, ulong hash) =>
        _keys.TryGetValue(hash, out PairedKey? key) && key.OwnedBy(candidate) ? key : null;

    /// <summary>Drops the states of candidates no longer in the table, or of an earlier promotion of the key now held.</summary>
    private void Prune()
    {
        foreach ((ulong hash, PairedKey key) in _keys.ToArray())
        {
            if (!key.OwnedBy(_held(hash)))
            {
                _keys.Remove(hash);
            }
        }
    }

    /// <summary>Whether the key's test towards class c crossed the bar, with its log e-value.</summary>
    public bool Crossed(PairedKey key, int c, out double logE)
    {
        ReadOnlySpan<double> logs = key.Log.AsSpan(c * _g, _g);
        double max = 0;
        foreach (double l in logs)
        {
            max = Math.Max(max, l);
        }

        logE = max < LogBar ? max : KeyOutputTest.LogMixture(logs);
        return logE >= LogBar && key.Hits[c] >= Math.Min(MinHits, _settings.MinKeyHits);
    }

    /// <summary>At a horizon: today's counts and every key's evidence for a trigger halve (on the log scale, where positive).</summary>
    public void Decay()
    {
        Prune();
        Forget(0.5);
        foreach (PairedKey key in _keys.Values)
        {
            key.Halve();
        }

        for (int g = 0; g < _versionLog.Length; g++)
        {
            _versionLog[g] = _versionLog[g] > 0 ? _versionLog[g] / 2 : _versionLog[g];
        }

        Records /= 2;
        Sure /= 2;
        SureDisagreements /= 2;
    }

    /// <summary>At a window's close: today's counts forget a tenth (a sparse bin less, <see cref="MinLiveRecords"/>).</summary>
    public void Refresh() => Forget(1 - 1.0 / KeyOutputTest.LiveWindows);

    /// <summary>Today's counts keep <paramref name="keep"/> of themselves, a sparse (bin, class) more; each key's share of them with them.</summary>
    private void Forget(double keep)
    {
        for (int cell = 0; cell < _liveRecords.Length; cell++)
        {
            double factor = Kept(_liveRecords[cell], keep);
            _liveRecords[cell] *= factor;
            _liveHits[cell] *= factor;
            foreach (PairedKey key in _keys.Values)
            {
                key.LiveRecords[cell] *= factor;
                key.LiveHits[cell] *= factor;
            }
        }
    }

    /// <summary>The finding of a key whose paired test towards class c crossed the bar.</summary>
    /// <param name="reportOnly">Why the key is not critical by itself (as the whole-output test says it), or null when it is.</param>
    public Finding Finding(Candidate candidate, PairedKey key, int c, double logE, long records, DateTimeOffset now, string? reportOnly)
    {
        DetectorKey k = candidate.Key;
        string label = _labels[c];
        long n = Math.Max(key.Records, 1);
        long hits = key.Hits[c];
        double expected = key.Expected[c];
        double log10E = logE / Math.Log(10);
        double log10Bar = LogBar / Math.Log(10);
        string trusted = TrustedVersion.Length > 0 ? $"'{Text.Printable.Escape(TrustedVersion)}'" : "the trusted version";
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"paired evidence: {k.Kind.ToString().ToLowerInvariant()} '{k.Text}' in {k.Field}: of the {key.Records} records carrying it that {trusted} also scored, " +
            $"{hits} were served '{label}' with P({label}) at least {MinServed:0.##} and {MinResidual:0.##} above {trusted}'s ({key.Flips[c]} where {trusted} gave another class; " +
            $"served minus trusted P({label}) {key.Residual[c] / n:+0.000;-0.000} on average), where today's paired traffic predicts {expected:F1} " +
            $"(the test allows up to {_settings.TailTolerance:0.#}× that); e-value 10^{log10E:F1} passed 10^{log10Bar:F1}, the bar for a {_settings.KeyTestAlpha:P0} " +
            $"false-alarm rate over {_settings.Candidates} keys × {_k} classes") + (reportOnly is null ? "" : "; " + reportOnly);
                return KeyFinding.Of(candidate, DetectorId.D8, reportOnly is null ? Severity.Critical : Severity.Warning, label,
            new KeyMeasure(key.Records, hits / (double)n, expected / n, (hits - expected) / Math.Sqrt(Math.Max(expected, 1e-9)), KeyFinding.MeanConfidence(candidate)),
            logE, LogBar, records, now, [], summary);
    }

    /// <summary>The version-wide finding: disagreement on records the trusted version was sure of, beyond the allowance.</summary>
    public Finding VersionFinding(long records, DateTimeOffset now)
    {
        double rate = SureDisagreements / (double)Math.Max(Sure, 1);
        string trusted = TrustedVersion.Length > 0 ? $"'{Text.Printable.Escape(TrustedVersion)}'" : "the trusted version";
        double log10E = VersionLogE / Math.Log(10);
        double log10Bar = Math.Log10(1 / _settings.KeyTestAlpha);
        return new Finding
        {
            Detector = DetectorId.D8,
            Severity = Severity.Critical,
            TargetLabel = "",
            Support = Sure,
            Rate = rate,
            Lift = rate / VersionAllowance,
            MeanConfidence = double.NaN,
            BaselineExpectation = VersionAllowance,
            Z = (SureDisagreements - VersionAllowance * Sure) / Math.Sqrt(Math.Max(VersionAllowance * (1 - VersionAllowance) * Sure, 1e-9)),
            Log10EValue = log10E,
            Log10EValueBar = log10Bar,
            FirstSeen = now,
            FirstSeenRecord = records,
            RaisedAtRecord = records,
            RaisedAtSupport = Sure,
            UpdatedAt = now,
            ExampleRequestIds = [],
            Corroboration = [],
            Summary = string.Create(CultureInfo.InvariantCulture,
                $"paired evidence, version-wide: of {Sure} paired records {trusted} gave a class with {SureTrusted:P0} or more, {SureDisagreements} ({rate:P2}) were served another class, " +
                $"beyond the {VersionAllowance:P0} two clean versions are allowed (e-value 10^{log10E:F1} passed 10^{log10Bar:F1}, a {_settings.KeyTestAlpha:P0} false-alarm rate): ") +
                "the version, not its inputs, changed the outputs",
        };
    }

    /// <summary>
    /// Today's counts, the version-wide test, and the paired state of every key the table holds now, as a checkpoint holds them
    /// (a stale state, of a key let go or of its earlier promotion, is left out: restored, it would be taken for the current one's).
    /// </summary>
    public PairedState Export(Func<PairedKey, string?> raised) => new()
    {
        LiveRecords = (double[])_liveRecords.Clone(),
        LiveHits = (double[])_liveHits.Clone(),
        VersionLog = (double[])_versionLog.Clone(),
        Counts = [Records, Sure, SureDisagreements],
        TrustedVersion = TrustedVersion,
        Keys = [.. _keys.Where(e => e.Value.OwnedBy(_held(e.Key))).Select(e => e.Value.Export(e.Key, raised(e.Value)))],
    };

    /// <summary>Restores a checkpoint of the same shape (its keys onto the candidates restored for them); another is ignored.</summary>
    public void Restore(PairedState? state, Func<string, Finding?> finding)
    {
        if (state is null || state.LiveRecords.Length != _liveRecords.Length || state.LiveHits.Length != _liveHits.Length
            || state.VersionLog.Length != _versionLog.Length || state.Counts.Length != 3)
        {
            return;
        }

        state.LiveRecords.CopyTo(_liveRecords, 0);
        state.LiveHits.CopyTo(_liveHits, 0);
        state.VersionLog.CopyTo(_versionLog, 0);
        (Records, Sure, SureDisagreements) = (state.Counts[0], state.Counts[1], state.Counts[2]);
        TrustedVersion = state.TrustedVersion;
        _keys.Clear();
        foreach (PairedKeyState key in state.Keys)
        {
            if (_held(key.Hash) is { } owner && PairedKey.Restore(owner, key, _k, _g, _liveRecords.Length, finding) is { } restored)
            {
                _keys[key.Hash] = restored;
            }
        }
    }
}

/// <summary>One candidate key's paired evidence since its promotion.</summary>
internal sealed class PairedKey(Candidate owner, int classes, int alternatives, int cells)
{
    /// <summary>
    /// The owner's promotion this state is of (<see cref="Candidate.Promotion"/>, unique in the process): the table reuses
    /// candidates, so the object alone does not tell.
    /// </summary>
    public long OwnerPromotion { get; } = owner.Promotion;

    /// <summary>Whether this is the paired state of <paramref name="candidate"/>'s current promotion.</summary>
    public bool OwnedBy(Candidate? candidate) => candidate is not null && OwnerPromotion == candidate.Promotion;

    /// <summary>Per (trusted bin, class): the key's own records and hits among today's counts, forgetting with them (left out of its allowance).</summary>
    public double[] LiveRecords { get; } = new double[cells];

    public double[] LiveHits { get; } = new double[cells];

    /// <summary>Per class and alternative: the running log-likelihood ratio.</summary>
    public double[] Log { get; } = new double[classes * alternatives];

    public long Records { get; set; }
    public long[] Hits { get; } = new long[classes];
    public long[] Flips { get; } = new long[classes];

    /// <summary>Per class: the hits today's rates predict (Σ of each record's rate before the tolerance).</summary>
    public double[] Expected { get; } = new double[classes];

    /// <summary>Per class: Σ served minus trusted P(c).</summary>
    public double[] Residual { get; } = new double[classes];

    public Finding? Raised { get; set; }
    public long LastEvaluated { get; set; }

    public void Halve()
    {
        for (int i = 0; i < Log.Length; i++)
        {
            Log[i] = Log[i] > 0 ? Log[i] / 2 : Log[i];
        }

        Records /= 2;
        LastEvaluated /= 2;
        for (int c = 0; c < Hits.Length; c++)
        {
            Hits[c] /= 2;
            Flips[c] /= 2;
            Expected[c] /= 2;
            Residual[c] /= 2;
        }
    }

    public PairedKeyState Export(ulong hash, string? raised) => new()
    {
        Hash = hash, Log = (double[])Log.Clone(), Records = Records, Hits = (long[])Hits.Clone(), Flips = (long[])Flips.Clone(),
        Expected = (double[])Expected.Clone(), Residual = (double[])Residual.Clone(), Raised = raised, LastEvaluated = LastEvaluated,
        LiveRecords = (double[])LiveRecords.Clone(), LiveHits = (double[])LiveHits.Clone(),
    };

    /// <summary>A key's state from a checkpoint; one from before the key's own counts were kept restores with none (its allowance then counts its records).</summary>
    public static PairedKey? Restore(Candidate owner, PairedKeyState state, int classes, int alternatives, int cells, Func<string, Finding?> finding)
    {
        var key = new PairedKey(owner, classes, alternatives, cells);
        if (state.Log.Length != key.Log.Length || state.Hits.Length != classes || state.Flips.Length != classes || state.Expected.Length != classes
            || state.Residual.Length != classes || state.LiveRecords.Length is not 0 && state.LiveRecords.Length != cells
            || state.LiveHits.Length != state.LiveRecords.Length)
        {
            return null;
        }

        state.LiveRecords.CopyTo(key.LiveRecords, 0);
        state.LiveHits.CopyTo(key.LiveHits, 0);

        state.Log.CopyTo(key.Log, 0);
        state.Hits.CopyTo(key.Hits, 0);
        state.Flips.CopyTo(key.Flips, 0);
        state.Expected.CopyTo(key.Expected, 0);
        state.Residual.CopyTo(key.Residual, 0);
        key.Records = state.Records;
        key.LastEvaluated = state.LastEvaluated;
        key.Raised = state.Raised is { } dedupe ? finding(dedupe) : null;
        return key;
    }
}

/// <summary>The paired test's evidence as a checkpoint holds it (<see cref="DetectorState.Paired"/>).</summary>
public sealed record PairedState
{
    /// <summary>Today's paired records and hits per (trusted bin, class).</summary>
    public double[] LiveRecords { get; init; } = [];

    public double[] LiveHits { get; init; } = [];

    /// <summary>The version-wide test's log-likelihood ratio per alternative.</summary>
    public double[] VersionLog { get; init; } = [];

    /// <summary>Paired records, those the trusted version was sure of, and the disagreements among them.</summary>
    public long[] Counts { get; init; } = [];

    public string TrustedVersion { get; init; } = "";

    public PairedKeyState[] Keys { get; init; } = [];
}

/// <summary>One key's paired test as a checkpoint holds it.</summary>
public sealed record PairedKeyState
{
    public ulong Hash { get; init; }
    public double[] Log { get; init; } = [];
    public long Records { get; init; }
    public long[] Hits { get; init; } = [];
    public long[] Flips { get; init; } = [];
    public double[] Expected { get; init; } = [];
    public double[] Residual { get; init; } = [];

    /// <summary>The dedupe key of the paired finding raised on the key (null when none).</summary>
    public string? Raised { get; init; }

    /// <summary>Per (trusted bin, class): the key's own records and hits among today's counts; empty in a checkpoint from before they were kept.</summary>
    public double[] LiveRecords { get; init; } = [];

    public double[] LiveHits { get; init; } = [];

    public long LastEvaluated { get; init; }
}
