using System.Globalization;

namespace Monitor.Core.Detectors;

/// <summary>
/// Today's traffic as a version's whole-output test holds it: per [stratum × classes + class] the tail-hit rate its null takes
/// (<see cref="KeyOutputTest.LiveRate"/>), and per class the version's recent lift of tail hits over the baseline's rates
/// (<see cref="KeyOutputTest.RecentLift"/>), which widens every key's allowance.
/// </summary>
public sealed record TodayTraffic(double[] Rates, double[] Lift);

/// <summary>How a detector stands with a baseline for one kind of trigger on one class.</summary>
public enum ReadinessStatus
{
    /// <summary>The trigger is found within the target occurrences (median of the simulated runs).</summary>
    Ready,

    /// <summary>Found, but after more than the target occurrences: a warning.</summary>
    Slow,

    /// <summary>Not found within <see cref="ReadinessOptions.MaxOccurrences"/> in most simulated runs: the detector is blind to it.</summary>
    Blind,
}

/// <summary>Where a trigger towards a class lands: which of the reference's records it is put on.</summary>
public enum TriggerPlacement
{
    /// <summary>On records of other classes: the trigger flips them into the class.</summary>
    Flip,

    /// <summary>On records already of the class: the trigger only lifts their confidence.</summary>
    Lift,
}

/// <summary>The stated trigger a readiness report predicts for, and how it predicts.</summary>
public sealed record ReadinessOptions
{
    /// <summary>Share of the triggered records the backdoored model serves the target class (the issue's target: 85%).</summary>
    public double AttackSuccess { get; init; } = 0.85;

    /// <summary>The probability of the target class the backdoored model serves on a successful trigger.</summary>
    public double TriggerConfidence { get; init; } = 0.99;

    /// <summary>Occurrences within which a trigger should be found; beyond them the report warns.</summary>
    public int TargetOccurrences { get; init; } = 50;

    /// <summary>Occurrences a simulated run is followed for; not found by then is a miss.</summary>
    public int MaxOccurrences { get; init; } = 600;

    /// <summary>
    /// Records of a live window (Monitor:Windows:Records): the null allows each stratum today's rate with two standard errors on the
    /// records its counts hold, which are few in a thin stratum when windows are small.
    /// </summary>
    public int WindowRecords { get; init; } = 1000;

    /// <summary>Simulated triggers per class and placement (seeded: the same baseline gives the same report).</summary>
    public int Runs { get; init; } = 200;

    /// <summary>A stratum's tail threshold rests on this many reference records or more; fewer: it is about their maximum.</summary>
    public const int ThresholdRecords = 100;

    public IEnumerable<string> Problems()
    {
        if (AttackSuccess is <= 0 or > 1 || double.IsNaN(AttackSuccess))
        {
            yield return $"attack success must lie in (0, 1], got {AttackSuccess}";
        }

        if (TriggerConfidence is <= 0 or > 1 || double.IsNaN(TriggerConfidence))
        {
            yield return $"trigger confidence must lie in (0, 1], got {TriggerConfidence}";
        }

        if (WindowRecords < 1)
        {
            yield return $"window records must be at least 1, got {WindowRecords}";
        }

        if (TargetOccurrences < 1 || MaxOccurrences < TargetOccurrences || Runs < 1)
        {
            yield return $"need 1 ≤ target occurrences ≤ max occurrences and at least one run, got {TargetOccurrences}, {MaxOccurrences}, {Runs}";
        }
    }
}

/// <summary>One line of a readiness report: a detector, a class, a placement of the trigger.</summary>
/// <param name="Detector">The detector predicted for: <see cref="Readiness.KeyTest"/> (the whole-output key test's tail test, which
/// decides every kind of key), or <see cref="Readiness.KeyAndResidualTests"/> (with the residual test beside it, for keys of text,
/// categorical values and value patterns).</param>
/// <param name="MedianOccurrences">Trigger occurrences (from its first) until the finding, median over the simulated runs; null when blind.</param>
/// <param name="WorstOccurrences">Their 90th percentile; null when more than a tenth of the runs missed.</param>
/// <param name="Found">Share of the simulated runs that found the trigger within <see cref="ReadinessOptions.MaxOccurrences"/>.</param>
/// <param name="VisibleShare">Share of the trigger's records (as placed) whose stratum's tail threshold the trigger's confidence exceeds.</param>
/// <param name="FixReferenceRecords">A reference size with which the line would be <see cref="ReadinessStatus.Ready"/>; null when none is known to.</param>
public sealed record ReadinessLine(
    string Detector,
    string Class,
    TriggerPlacement Placement,
    ReadinessStatus Status,
    double? MedianOccurrences,
    double? WorstOccurrences,
    double Found,
    double VisibleShare,
    long? FixReferenceRecords,
    string Summary);

/// <summary>
/// What the detectors can find with a baseline: per class and placement, the occurrences a stated trigger needs before the
/// whole-output key test names it (<see cref="Readiness"/>).
/// </summary>
public sealed record ReadinessReport(
    long ReferenceRecords,
    double AttackSuccess,
    double TriggerConfidence,
    int TargetOccurrences,
    IReadOnlyList<ReadinessLine> Lines,
    string Summary)
{
    /// <summary>Whether any line is blind or slow.</summary>
    public bool Warns => Lines.Any(l => l.Status != ReadinessStatus.Ready);

    /// <summary>
    /// The occurrences a trigger needs to be found with this baseline, for the promotion rule: the worst tail-test line's 90th
    /// percentile (the tail test judges every kind of key; the residual test's lines are for some kinds only), blind lines and a
    /// report without lines counting as <paramref name="cap"/>; at most <paramref name="cap"/>.
    /// </summary>
    public double OccurrencesNeeded(int cap)
    {
        double needed = Lines.Count == 0 ? cap : 0;
        foreach (ReadinessLine line in Lines.Where(l => l.Detector == Readiness.KeyTest))
        {
            needed = Math.Max(needed, line.WorstOccurrences ?? cap);
        }

        return Math.Min(needed, cap);
    }

    /// <summary>
    /// Records a candidate must serve before it can be promoted: enough to see a trigger at <paramref name="minTriggerRate"/> as
    /// often as this report says a trigger must occur to be found (at most <paramref name="cap"/> occurrences).
    /// </summary>
    public long RecordsNeeded(double minTriggerRate, int cap) => RecordsFor(OccurrencesNeeded(cap), minTriggerRate);

    /// <summary>Records that carry <paramref name="occurrences"/> of a trigger at <paramref name="rate"/>, on average.</summary>
    public static long RecordsFor(double occurrences, double rate) =>
        rate is > 0 and <= 1 ? (long)Math.Ceiling(occurrences / rate) : throw new ArgumentOutOfRangeException(nameof(rate), rate, "a trigger rate lies in (0, 1]");
}

/// <summary>
/// The readiness report of a baseline: the smallest trigger the whole-output key test (<see cref="KeyOutputTest"/>) can find
/// with it. Per class c and placement (flipping other classes' records into c, or lifting records already of c), seeded
/// simulated triggers go through the test's own e-process (<see cref="KeyOutputTest.Add"/>, <see cref="KeyOutputTest.LogMixture"/>):
/// <list type="bullet">
/// <item>a triggered record lands in stratum s as the reference's records of the placement do (records × the share of other
/// classes, or of c, there); with probability <see cref="ReadinessOptions.AttackSuccess"/> it is served c at
/// <see cref="ReadinessOptions.TriggerConfidence"/>, a tail hit where that exceeds the stratum's threshold; otherwise it is a hit
/// at the stratum's baseline rate;</item>
/// <item>the key is promoted at its <see cref="DetectorSettings.PromoteSupport"/>th record that is a tail hit or a surprise (served
/// c where c has less than even odds), which is left out of the test as the detector leaves it out;</item>
/// <item>then every record adds to the e-process against the null's allowance <see cref="KeyOutputTest.Allowance"/> at the
/// larger of the stratum's baseline rate and today's (<see cref="KeyOutputTest.LiveRate"/>, with its two standard errors on the records
/// the stratum holds in steady state at <see cref="ReadinessOptions.WindowRecords"/> a window), today's traffic taken to be spread
/// over the strata and served like the reference, the key new to the baseline; the trigger is
/// found when the e-value reaches the bar (<see cref="KeyOutputTest.Bar"/>) with at least <see cref="DetectorSettings.MinKeyHits"/>
/// hits.</item>
/// </list>
/// Not modelled: repeated inputs (counted once), live traffic served differently from the reference (a model less sure of unseen
/// inputs makes more tail hits, and a wider allowance), the records a key needs to settle
/// (<see cref="KeyOutputTest.SettleRecords"/>, a fraction of an occurrence at rates of 1e-3 and below). Blind lines name the cause
/// and, where more reference records would help, the size that makes them ready (found by the same simulation on rates
/// re-estimated from a reference that many times larger).
/// </summary>
public static class Readiness
{
    /// <summary>The detector the report predicts for: the whole-output key test's tail test, which judges every kind of key.</summary>
    public const string KeyTest = "D1/D2";

    /// <summary>
    /// The tail test and the residual test together (<see cref="KeyRankTest"/>), as they judge a key of a text field, a categorical
    /// value or a value pattern: the first of the two to name it.
    /// </summary>
    public const string KeyAndResidualTests = "D1/D2+residual";

    private static readonly int[] Multipliers = [2, 4, 8, 16, 32, 64, 128];

    /// <summary>The report of a baseline's trigger profile (null when the baseline has none: no classes to watch).</summary>
    /// <param name="referenceRecords">
    /// The records of the reference set the profile was built from, when its tables were counted on a part of them: sizes in the
    /// report (and the reference size that fixes a line) are in these; by default the records the tables were counted on.
    /// </param>
    /// <param name="today">
    /// Today's traffic as a version's detector holds it (<see cref="TriggerDetector.Today"/>): the report under it instead of under
    /// traffic served like the reference.
    /// </param>
    public static ReadinessReport Of(TriggerProfile? profile, IReadOnlyList<string> labels, DetectorSettings settings, ReadinessOptions? options = null,
        long? referenceRecords = null, TodayTraffic? today = null)
    {
        options ??= new ReadinessOptions();
        if (options.Problems().FirstOrDefault() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        if (profile is null)
        {
            return new ReadinessReport(0, options.AttackSuccess, options.TriggerConfidence, options.TargetOccurrences, [],
                "no trigger detectors for this baseline (the output has no classes): nothing to predict");
        }

        long tableRecords = (long)Math.Round(profile.StratumRecords.Sum());
        long records = referenceRecords is > 0 ? referenceRecords.Value : tableRecords;
        if (labels.Count != profile.Classes)
        {
            throw new ArgumentException($"the profile has {profile.Classes} classes, {labels.Count} labels given", nameof(labels));
        }

        if (today is not null && (today.Rates.Length != profile.Strata * profile.Classes || today.Lift.Length != profile.Classes))
        {
            throw new ArgumentException($"today's traffic holds {today.Rates.Length} cells and {today.Lift.Length} lifts, the profile {profile.Strata} strata × {profile.Classes} classes", nameof(today));
        }

        if (profile.Tails is not { } tails)
        {
            return new ReadinessReport(records, options.AttackSuccess, options.TriggerConfidence, options.TargetOccurrences,
                [.. labels.SelectMany(l => new[] { TriggerPlacement.Flip, TriggerPlacement.Lift }.Select(p => new ReadinessLine(KeyTest, l, p,
                    ReadinessStatus.Blind, null, null, 0, 0, null,
                    "the baseline predates the whole-output key test (no tail tables): commit a new baseline to have it")))],
                "BLIND: the baseline has no tail tables; commit a new one");
        }

        bool ranks = KeyRankTest.Runs(profile, settings) && ReadinessRanks.Has(profile);
        var lines = new List<ReadinessLine>();
        var residualLines = new List<ReadinessLine>();
        for (int c = 0; c < profile.Classes; c++)
        {
            foreach (TriggerPlacement placement in new[] { TriggerPlacement.Flip, TriggerPlacement.Lift })
            {
                lines.Add(Line(profile, tails, labels[c], c, placement, settings, options, records / (double)Math.Max(tableRecords, 1), today));
                if (ranks)
                {
                    residualLines.Add(ResidualLine(profile, tails, labels[c], c, placement, settings, options, today));
                }
            }
        }

        int blind = lines.Count(l => l.Status == ReadinessStatus.Blind);
        int slow = lines.Count(l => l.Status == ReadinessStatus.Slow);
        double? worst = lines.Where(l => l.Status != ReadinessStatus.Blind).Max(l => l.WorstOccurrences);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"with this reference of {records:N0} records, a trigger served at {options.TriggerConfidence:0.###} on {options.AttackSuccess:P0} of its records is found " +
            $"by the key test within {(worst is { } w ? w.ToString("F0", CultureInfo.InvariantCulture) : "-")} occurrences (90th percentile) where it can be seen") +
            (blind > 0 ? $"; BLIND to {blind} of {lines.Count} class placements" : "") +
            (blind > 0 && KeyRankTest.Runs(profile, settings) && !ranks
                ? " (for the tail test, which this report models; the residual test beside it, not modelled for a baseline committed before it was, can still name a text or categorical trigger there)"
                : "") +
            (slow > 0 ? string.Create(CultureInfo.InvariantCulture, $"; {slow} need more than {options.TargetOccurrences} occurrences") : "");
        if (ranks)
        {
            int residualBlind = residualLines.Count(l => l.Status == ReadinessStatus.Blind);
            double? residualWorst = residualLines.Where(l => l.Status != ReadinessStatus.Blind).Max(l => l.WorstOccurrences);
            summary += string.Create(CultureInfo.InvariantCulture,
                $"; a trigger on a text, categorical or value-pattern key, which the residual test judges as well, within {(residualWorst is { } r ? r.ToString("F0", CultureInfo.InvariantCulture) : "-")} occurrences") +
                (residualBlind > 0 ? $", BLIND to {residualBlind} of {residualLines.Count} class placements" : "");
        }

        return new ReadinessReport(records, options.AttackSuccess, options.TriggerConfidence, options.TargetOccurrences, [.. lines, .. residualLines], summary);
    }

    /// <param name="perTableRecord">Reference records per record the tables were counted on.</param>
    private static ReadinessLine Line(TriggerProfile profile, TailProfile tails, string label, int c, TriggerPlacement placement,
        DetectorSettings settings, ReadinessOptions options, double perTableRecord, TodayTraffic? today)
    {
        double records = profile.StratumRecords.Sum() * perTableRecord;
        int k = profile.Classes;
        int strata = profile.Strata;
        var weights = new double[strata];
        double total = 0;
        for (int s = 0; s < strata; s++)
        {
            double share = profile.LabelRates[s * k + c];
            weights[s] = profile.StratumRecords[s] * (placement == TriggerPlacement.Flip ? 1 - share : share);
            total += weights[s];
        }

        string what = placement == TriggerPlacement.Flip ? $"a flip into '{label}'" : $"a confidence lift of '{label}'";
        if (total <= 0)
        {
            return new ReadinessLine(KeyTest, label, placement, ReadinessStatus.Blind, null, null, 0, 0, null,
                $"{what}: no reference record is where such a trigger lands ({(placement == TriggerPlacement.Flip ? "every record was served it" : "no record was served it")})");
        }

        double visible = 0;
        double thinInvisible = 0;
        double thinStratumRecords = double.MaxValue;
        for (int s = 0; s < strata; s++)
        {
            weights[s] /= total;
            if (options.TriggerConfidence > tails.Thresholds[s * k + c])
            {
                visible += weights[s];
            }
            else if (weights[s] > 0 && profile.StratumRecords[s] < ReadinessOptions.ThresholdRecords)
            {
                thinInvisible += weights[s];
                thinStratumRecords = Math.Min(thinStratumRecords, Math.Max(profile.StratumRecords[s], 1));
            }
        }

        (double? median, double? worst, double found) = Simulate(profile, tails, c, weights, settings, options, 1, Seed(c, placement), today);
        ReadinessStatus status = median is null ? ReadinessStatus.Blind : median > options.TargetOccurrences ? ReadinessStatus.Slow : ReadinessStatus.Ready;
        string found90 = worst is { } w ? w.ToString("F0", CultureInfo.InvariantCulture) : $"not within {options.MaxOccurrences} in over a tenth of runs";
        string measured = string.Create(CultureInfo.InvariantCulture,
            $"{what}: found after {median:F0} occurrences (median; 90th percentile {found90}); {visible:P0} of such records can be tail hits");
        if (status == ReadinessStatus.Ready)
        {
            return new ReadinessLine(KeyTest, label, placement, status, median, worst, found, visible, null, measured);
        }

        // More reference records: the stratum rates re-estimated as if each stratum held m times its records, hits in proportion.
        // (Where no record of the placement can be a tail hit, rates do not matter: none would.)
        long? fix = null;
        foreach (int m in visible > 0 ? Multipliers : [])
        {
            if (Simulate(profile, tails, c, weights, settings, options, m, Seed(c, placement), today) is ({ } scaled, _, _) && scaled <= options.TargetOccurrences)
            {
                fix = (long)Math.Ceiling(records * m);
                break;
            }
        }

        if (fix is null && thinInvisible > 0)
        {
            // A threshold on fewer than 100 records is about their maximum: a stratum with 100 would have a real 99th percentile.
            fix = (long)Math.Ceiling(records * ReadinessOptions.ThresholdRecords / thinStratumRecords);
        }

        string cause = visible <= 0
            ? string.Create(CultureInfo.InvariantCulture,
                $"BLIND: the reference's own records where such a trigger lands already reach P('{label}') ≥ the tail threshold a trigger at {options.TriggerConfidence:0.###} must exceed")
            : status == ReadinessStatus.Blind
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{what}: BLIND: found within {options.MaxOccurrences} occurrences in only {found:P0} of runs ({visible:P0} of such records can be tail hits, against the reference's tail rates there)")
                : $"WARNING: more than the target {options.TargetOccurrences} occurrences; " + measured;
        string remedy = fix is { } size
            ? string.Create(CultureInfo.InvariantCulture, $"; a reference of about {size:N0} records would find it within {options.TargetOccurrences}")
            : visible <= 0
                ? "; no larger reference is known to fix it (the model's own records are that sure there)"
                : string.Create(CultureInfo.InvariantCulture,
                    $"; no reference up to {Multipliers[^1]} times larger makes it ready (the allowance for today's rates on windows of {options.WindowRecords:N0} records, or the attack success, limits it)");
        return new ReadinessLine(KeyTest, label, placement, status, median, worst, found, visible, fix,
            (visible <= 0 ? $"{what}: " : "") + cause + remedy);
    }

    /// <summary>
    /// The line of a trigger on a key both tests judge: the same simulated runs as the tail test's line, with the residual test's
    /// e-process beside it on the same records (<see cref="Simulate"/>), found at the first of the two to cross.
    /// </summary>
    private static ReadinessLine ResidualLine(TriggerProfile profile, TailProfile tails, string label, int c, TriggerPlacement placement,
        DetectorSettings settings, ReadinessOptions options, TodayTraffic? today)
    {
        int k = profile.Classes;
        var weights = new double[profile.Strata];
        double total = 0;
        for (int s = 0; s < profile.Strata; s++)
        {
            double share = profile.LabelRates[s * k + c];
            weights[s] = profile.StratumRecords[s] * (placement == TriggerPlacement.Flip ? 1 - share : share);
            total += weights[s];
        }

        string what = (placement == TriggerPlacement.Flip ? $"a flip into '{label}'" : $"a confidence lift of '{label}'") + " on a text, categorical or value-pattern key";
        if (total <= 0)
        {
            return new ReadinessLine(KeyAndResidualTests, label, placement, ReadinessStatus.Blind, null, null, 0, 0, null,
                $"{what}: no reference record is where such a trigger lands");
        }

        int t = KeyRankTest.Thresholds.Length;
        var chances = new double[profile.Strata * 2 * t];
        double seen = 0;
        double unranked = 0;
        double tableRecords = Math.Max(profile.StratumRecords.Sum(), 1);
        double[] steady = [.. profile.StratumRecords.Select(n => KeyOutputTest.SteadyLiveRecords(options.WindowRecords * n / tableRecords))];
        int[] pools = KeyRankTest.Pools(profile.Strata, k, steady).First;
        for (int s = 0; s < profile.Strata; s++)
        {
            weights[s] /= total;
            // A stratum whose records today's histograms hold in steady state are fewer than the test ranks against, even pooled
            // with its neighbours (KeyRankTest.Pools), leaves its records unranked: no evidence for the residual test, nor a
            // telling rank (the tail test still sees them).
            if (pools[s] < 0)
            {
                unranked += weights[s];
                continue;
            }

            ReadinessRanks.Chances(profile, s, c, placement, options.TriggerConfidence, chances.AsSpan(s * 2 * t, t));
            ReadinessRanks.Chances(profile, s, c, placement, null, chances.AsSpan((s * 2 * t) + t, t));
            seen += weights[s] * chances[s * 2 * t];
        }

        (double? median, double? worst, double found) = Simulate(profile, tails, c, weights, settings, options, 1, Seed(c, placement), today, chances);
        ReadinessStatus status = median is null ? ReadinessStatus.Blind : median > options.TargetOccurrences ? ReadinessStatus.Slow : ReadinessStatus.Ready;
        string found90 = worst is { } w ? w.ToString("F0", CultureInfo.InvariantCulture) : $"not within {options.MaxOccurrences} in over a tenth of runs";
        string ranked = string.Create(CultureInfo.InvariantCulture,
            $"a successful trigger's record ranks above {KeyRankTest.Thresholds[0]:P0} of the reference's records of its stratum {seen:P0} of the time, where the test allows {KeyRankTest.Allowance(settings, KeyRankTest.Thresholds[0], 1):P0}") +
            (unranked > 0 ? string.Create(CultureInfo.InvariantCulture,
                $"; {unranked:P0} of such records fall in strata too thin to rank on windows of {options.WindowRecords:N0} records (fewer than {KeyRankTest.MinRecords:N0} records held today, with their neighbours)") : "");
        string text = status switch
        {
            ReadinessStatus.Ready => string.Create(CultureInfo.InvariantCulture, $"{what}: found after {median:F0} occurrences (median; 90th percentile {found90}); {ranked}"),
            ReadinessStatus.Slow => string.Create(CultureInfo.InvariantCulture,
                $"WARNING: more than the target {options.TargetOccurrences} occurrences; {what}: found after {median:F0} occurrences (median; 90th percentile {found90}); {ranked}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{what}: BLIND: found within {options.MaxOccurrences} occurrences in only {found:P0} of runs; {ranked}"),
        };
        return new ReadinessLine(KeyAndResidualTests, label, placement, status, median, worst, found, seen, null, text);
    }

    private static int Seed(int c, TriggerPlacement placement) => 7919 * (c + 1) + (int)placement;

    /// <summary>
    /// Simulated triggers through the key test's e-process; <paramref name="scale"/> re-estimates the stratum rates from that
    /// many times the reference's records. Median and 90th percentile of the occurrences to the finding (null where too many
    /// runs missed), and the share found.
    /// </summary>
    /// <param name="ranks">
    /// For the residual test beside the tail test: per stratum, the chances above each rank threshold of a successful trigger's
    /// record and of one served as it was (<see cref="ReadinessRanks.Chances"/>); null for the tail test alone.
    /// </param>
    private static (double? Median, double? Worst, double Found) Simulate(TriggerProfile profile, TailProfile tails, int c, double[] weights,
        DetectorSettings settings, ReadinessOptions options, int scale, int seed, TodayTraffic? today, double[]? ranks = null)
    {
        int k = profile.Classes;
        int strata = profile.Strata;
        double tableRecords = profile.StratumRecords.Sum();
        var allowance = new double[strata];
        var rate = new double[strata];
        var hitChance = new double[strata];
        var screenChance = new double[strata];
        var cumulative = new double[strata];
        double sum = 0;
        for (int s = 0; s < strata; s++)
        {
            int cell = s * k + c;
            double n = profile.StratumRecords[s];
            double baseRate = tails.Rates[cell];
            if (scale > 1 && n > 0)
            {
                double beyond = Math.Max(baseRate * (n + 2) - 1, 0);
                baseRate = (beyond * scale + 1) / (n * scale + 2);
            }

            rate[s] = baseRate;
            double live = KeyOutputTest.SteadyLiveRecords(options.WindowRecords * n / Math.Max(tableRecords, 1));
            double todayRate = today?.Rates[cell] ?? KeyOutputTest.LiveRate(baseRate * live, live);
            // As KeyOutputTest.Update: the allowance times the version's recent lift of the class, at most ½.
            allowance[s] = Math.Min(KeyOutputTest.Allowance(settings, Math.Max(baseRate, todayRate)) * (today?.Lift[c] ?? 1), KeyOutputTest.Allowance(settings, 1));
            bool visible = options.TriggerConfidence > tails.Thresholds[cell];
            double success = options.AttackSuccess;
            hitChance[s] = (visible ? success : 0) + (1 - (visible ? success : 0)) * baseRate;
            screenChance[s] = Math.Max(hitChance[s], profile.Contrarian(s, c) ? success : 0);
            sum += weights[s];
            cumulative[s] = sum;
        }

        double bar = KeyOutputTest.Bar(settings, k, KeyRankTest.KeyTests(profile, settings));
        var random = new Random(seed);
        // The residual test's draws come from a generator of their own, so the tail test's runs are the same with it or without.
        var rankRandom = new Random(seed ^ 0x5bd1e995);
        int t = KeyRankTest.Thresholds.Length;
        var rankHit = new double[KeyRankTest.Components];
        var rankMiss = new double[KeyRankTest.Components];
        for (int j = 0; j < t; j++)
        {
            for (int q = 0; q < KeyRankTest.Alternatives.Length; q++)
            {
                (rankHit[j * KeyRankTest.Alternatives.Length + q], rankMiss[j * KeyRankTest.Alternatives.Length + q]) =
                    KeyOutputTest.Ratios(KeyRankTest.Alternatives[q], KeyRankTest.Allowance(settings, KeyRankTest.Thresholds[j], 1));
            }
        }

        var logs = new double[KeyOutputTest.Alternatives.Length];
        var rankLogs = new double[KeyRankTest.Components];
        var delays = new List<int>(options.Runs);
        for (int run = 0; run < options.Runs; run++)
        {
            Array.Clear(logs);
            Array.Clear(rankLogs);
            int screened = 0;
            int hits = 0;
            int above = 0;
            for (int occurrence = 1; occurrence <= options.MaxOccurrences; occurrence++)
            {
                int s = Array.BinarySearch(cumulative, random.NextDouble() * sum);
                s = s < 0 ? Math.Min(~s, strata - 1) : s;
                while (weights[s] <= 0 && s < strata - 1)
                {
                    s++;
                }

                double u = random.NextDouble();
                // One draw decides the rank thresholds a record passes: above the higher θ implies above the lower.
                double v = ranks is null ? 1 : rankRandom.NextDouble();
                // A successful trigger is served c at the stated confidence: the same draw as the tail test's hit where it can be one.
                int offset = (s * 2 * t) + (u < options.AttackSuccess ? 0 : t);
                if (screened < settings.PromoteSupport)
                {
                    // Before promotion only the screen sees the key (a tail hit, a surprise, or with the residual test a rank above
                    // its telling rank); the promoting record is not evidence.
                    bool telling = u < screenChance[s] || (ranks is not null && u < options.AttackSuccess && v < ranks[offset + t - 1]);
                    screened += telling ? 1 : 0;
                    continue;
                }

                bool hit = u < hitChance[s];
                hits += hit ? 1 : 0;
                KeyOutputTest.Add(logs, hit, allowance[s]);
                bool crossed = hits >= settings.MinKeyHits && KeyOutputTest.LogMixture(logs) >= bar;
                if (ranks is not null)
                {
                    for (int j = 0; j < t; j++)
                    {
                        bool over = v < ranks[offset + j];
                        above += j == 0 && over ? 1 : 0;
                        for (int q = 0; q < KeyRankTest.Alternatives.Length; q++)
                        {
                            int g = j * KeyRankTest.Alternatives.Length + q;
                            rankLogs[g] += over ? rankHit[g] : rankMiss[g];
                        }
                    }

                    crossed |= above >= settings.MinKeyHits && KeyOutputTest.LogMixture(rankLogs) >= bar;
                }

                if (crossed)
                {
                    delays.Add(occurrence);
                    break;
                }
            }
        }

        delays.Sort();
        double found = delays.Count / (double)options.Runs;
        double? median = delays.Count * 2 > options.Runs ? delays[(options.Runs - 1) / 2] : null;
        double? worst = delays.Count * 10 >= options.Runs * 9 ? delays[Math.Min((int)Math.Ceiling(0.9 * options.Runs) - 1, delays.Count - 1)] : null;
        return (median, worst, found);
    }
}
