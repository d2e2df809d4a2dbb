using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>Whose surrogate strata a capture's records were measured in.</summary>
public enum CheckStrata
{
    /// <summary>The baseline in force's: the capture as its detectors see live traffic.</summary>
    BaselineInForce,

    /// <summary>The captured baseline's own: the key's entry as the new baseline's detectors would use it.</summary>
    Capture,
}

/// <summary>A key kept out of a captured baseline's key table, and the skew that kept it out.</summary>
public sealed record ExcludedKey
{
    public required KeyKind Kind { get; init; }

    /// <summary>The name of the text field or feature the key belongs to.</summary>
    public required string Field { get; init; }

    /// <summary>The key as findings show it (text keys under the configured privacy).</summary>
    public required string Text { get; init; }

    /// <summary>Records of the checked part of the capture that carry the key.</summary>
    public required long Support { get; init; }

    /// <summary>The class its records were served more often than expected.</summary>
    public required string TargetLabel { get; init; }

    /// <summary>Whose strata the numbers below are measured in (the stronger of the two skews is reported).</summary>
    public required CheckStrata Strata { get; init; }

    /// <summary>Its records whose inputs give the class less than even odds.</summary>
    public required long Contrarian { get; init; }

    /// <summary>The share of those served the class.</summary>
    public required double Rate { get; init; }

    /// <summary>The share the stratified rates predict for the same records.</summary>
    public required double ExpectedRate { get; init; }

    /// <summary>The key's own share in the baseline in force, when it had one: then the reference instead of <see cref="ExpectedRate"/>.</summary>
    public double? KeyRate { get; init; }

    /// <summary>Whether the baseline in force counted the key as new (it had fewer than the new-key support).</summary>
    public required bool IsNewKey { get; init; }

    /// <summary>The pooled z of the class's count against the stratified expectation.</summary>
    public required double Z { get; init; }

    public required string Summary { get; init; }
}

/// <summary>
/// What checking a baseline captured from live traffic against the baseline in force found. Null on a baseline built
/// from an uploaded reference set, which an operator vouches for and which is not checked.
/// </summary>
public sealed record CaptureCheck
{
    /// <summary>The baseline in force the capture was checked against; 0 when there was nothing to check against.</summary>
    public required long AgainstBaselineId { get; init; }

    /// <summary>Keys of the capture's table that were checked: those with enough support to count as known.</summary>
    public required int KeysChecked { get; init; }

    /// <summary>Of them, the keys the baseline in force counted as new.</summary>
    public required int NewKeys { get; init; }

    /// <summary>
    /// Keys of the new table with that support that the baseline in force did not know, or knew unvouched: they enter
    /// <see cref="BaselineKey.Unvouched"/>. 0 in a check stored before this was counted.
    /// </summary>
    public int Unvouched { get; init; }

    /// <summary>Keys kept out of the new baseline's key table, the strongest skew first.</summary>
    public required ExcludedKey[] Excluded { get; init; }

    /// <summary>What was checked and found, or why nothing could be checked, in plain words.</summary>
    public required string Summary { get; init; }
}

/// <summary>
/// Checks the key table of a baseline captured from live traffic against the baseline in force before the capture may
/// replace it. A trigger in use while the capture ran would otherwise enter the table as a known key whose records
/// carry the trigger's label, and the detectors, which measure a key against its own baseline rate, would not see it
/// again.
/// <para>
/// Each key of the capture's table with the support to count as known (<see cref="DetectorSettings.NewKeySupport"/>) is
/// judged with the detectors' own key-skew statistic (D1/D2), on the capture's records that carry it. For a class c the
/// key is label-skewed when
/// <list type="bullet">
/// <item>at least <see cref="DetectorSettings.PromoteSupport"/> of its records are surprising, served c where the
/// stratified rates give c less than even odds for their inputs (fewer never make a key a candidate of the detectors),</item>
/// <item>the pooled z of its records served c, against the stratified rates, reaches <see cref="Baselines.BaselineSettings.CaptureCheckZ"/>, and</item>
/// <item>among its records whose inputs give c less than even odds, the share served c stands at least
/// <see cref="DetectorSettings.MinRateIncrease"/> above what the baseline in force vouches for: the key's own rate there
/// when it had one, else the stratified prediction for the same records.</item>
/// </list>
/// The records are put in two sets of strata, and a skew in either keeps the key out: the baseline in force's (how its
/// detectors see the capture) and the captured baseline's own (how the new detectors would use the key's entry, whose
/// rate they would take as the key's own).
/// </para>
/// <para>
/// A key kept out stays new to the detectors, as it was to the baseline in force. The z is lower than the detectors'
/// because one look at a small sample decides here and the two errors cost differently: a benign key kept out is
/// judged against the baseline's prediction, as every new key is; a trigger let in is hidden for as long as the
/// baseline is in force.
/// </para>
/// </summary>
public static class CaptureKeyCheck
{
    /// <summary>The captured trigger profile with the label-skewed keys taken out of its key table, and what the check found.</summary>
    /// <param name="inForce">The model's baseline in force; null when it has none (the capture is its first baseline).</param>
    /// <param name="capture">The captured baseline the trigger profile was built with (without it yet).</param>
    /// <param name="captured">The capture's trigger profile, as built; null for outputs without classes.</param>
    /// <param name="batch">The capture's records the key table was counted on.</param>
    public static (TriggerProfile? Profile, CaptureCheck Check) Apply(CompiledBaseline? inForce, CompiledBaseline capture, TriggerProfile? captured,
        RecordBatch batch, double captureCheckZ, DetectorSettings detectors)
    {
        if (captured is null)
        {
            return (null, Unchecked(0, "the model's output has no classes: the trigger detectors keep no key table, so there is nothing to check"));
        }

        if (inForce is null)
        {
            return (captured, Unchecked(0, "the model has no baseline in force: this capture is its first baseline and there is nothing to check " +
                "it against, so its key table is taken as captured"));
        }

        long against = inForce.Profile.Id;
        if (inForce.Profile.Triggers is not { } reference || reference.Classes != captured.Classes)
        {
            return (captured with { Keys = Unvouch(captured.Keys) }, Unchecked(against, $"baseline {against} in force has no key table of its own " +
                "to check the capture against, so nothing vouches for the capture's keys: they enter unvouched, and the detectors judge them as new keys"));
        }

        var check = new Checker(new View(inForce, reference, CheckStrata.BaselineInForce, detectors),
            new View(capture, captured, CheckStrata.Capture, detectors), captured, detectors);
        check.Count(batch);
        ExcludedKey[] excluded = check.Judge(captureCheckZ);
        var vouching = new Vouching(reference.Keys, reference.Records, captured.Records, detectors);
        var kept = new List<BaselineKey>(captured.Keys.Length);
        foreach (BaselineKey key in captured.Keys)
        {
            if (!check.IsExcluded(key))
            {
                kept.Add(vouching.Take(key));
            }
        }

        string summary = Summary(against, check.Checked, check.NewKeys, excluded, vouching, "label-skewed beyond what it vouches for");
        return (captured with { Keys = [.. kept] }, new CaptureCheck
        {
            AgainstBaselineId = against,
            KeysChecked = check.Checked,
            NewKeys = check.NewKeys,
            Unvouched = vouching.Unvouched,
            Excluded = excluded,
            Summary = summary,
        });
    }

    /// <summary>
    /// A key whose captured records were beyond their strata's tails far beyond chance for some test (a class; raised or lowered
    /// for a regression), where the baseline in force's were not: the key tests would take that rate as the key's own null
    /// (<see cref="KeyOutputTest.OwnRates"/>), so a confidence-lift trigger in use during the capture, which skews no label, or a
    /// regression trigger that raises, lowers or pins its records' outputs, would be hidden. Null when there is none.
    /// </summary>
    /// <param name="served">Per test, what the records were, in words ("served 'fraud' beyond their strata's tails").</param>
    /// <param name="labels">Per test, the finding's target label.</param>
    private static ExcludedKey? TailExcess(BaselineKey key, BaselineKey? known, ModelSchema schema, string[] served, string[] labels,
        DetectorSettings detectors)
    {
        if (KeyOutputTest.OwnRates(key, detectors) is not { } own)
        {
            return null;
        }

        // The baseline in force vouches for a key's own rate up to its own bound (OwnRates applies the new-key support): a
        // capture that raises it beyond that is kept out, as one that gives a key a rate it did not have.
        double[]? vouched = known is null || known.Unvouched ? null : KeyOutputTest.OwnRates(known, detectors);
        int c = -1;
        for (int k = 0; k < own.Length; k++)
        {
            bool beyond = own[k] > 0 && (vouched is null || k >= vouched.Length || own[k] > vouched[k]);
            if (beyond && (c < 0 || key.TailHits[k] > key.TailHits[c]))
            {
                c = k;
            }
        }

        if (c < 0)
        {
            return null;
        }

        DetectorKey shown = detectors.TextKeys.Protect(new DetectorKey(key.Kind, KeyExtractor.FieldName(schema, key.Kind, key.Field), key.Text));
        double hits = key.TailHits[c];
        double expected = key.TailExpected[c];
        double z = (hits - expected) / Math.Sqrt(expected + 0.25);
        bool isNew = known is null || known.Support < detectors.NewKeySupport;
        return new ExcludedKey
        {
            Kind = key.Kind,
            Field = shown.Field,
            Text = shown.Text,
            Support = key.Support,
            TargetLabel = labels[c],
            Strata = CheckStrata.Capture,
            Contrarian = key.Support,
            Rate = hits / key.Support,
            ExpectedRate = expected / key.Support,
            IsNewKey = isNew,
            Z = z,
            Summary = string.Create(CultureInfo.InvariantCulture,
                $"{key.Kind.ToString().ToLowerInvariant()} '{shown.Text}' in {shown.Field}: {hits:F0} of its {key.Support} captured records were {served[c]} " +
                $"where {expected:F1} were expected, and {(isNew ? "the key is new to the baseline in force" : "the baseline in force's records of it were not as often")}; " +
                $"kept out so that the detectors do not take that rate as the key's own"),
        };
    }

    /// <summary>
    /// A regression model's captured key table checked against the baseline in force's: a key whose captured records were in their
    /// strata's raised or lowered tail far beyond chance, where the baseline in force's were not, is kept out (<see cref="TailExcess"/>),
    /// and a kept key the baseline in force did not vouch for enters <see cref="BaselineKey.Unvouched"/>, as for a classifier.
    /// </summary>
    /// <param name="inForce">The model's baseline in force; null when the capture is its first baseline.</param>
    /// <param name="capture">The captured baseline (its schema names the keys' fields).</param>
    /// <param name="captured">The capture's regression profile, as built.</param>
    public static (RegressionProfile Profile, CaptureCheck Check) ApplyRegression(CompiledBaseline? inForce, CompiledBaseline capture,
        RegressionProfile captured, DetectorSettings detectors)
    {
        if (inForce is null)
        {
            return (captured, Unchecked(0, "the model has no baseline in force: this capture is its first baseline and there is nothing to check " +
                "it against, so its key table is taken as captured"));
        }

        long against = inForce.Profile.Id;
        if (inForce.Profile.Regression is not { } reference)
        {
            return (captured with { Keys = Unvouch(captured.Keys) }, Unchecked(against, $"baseline {against} in force has no regression key table " +
                "of its own to check the capture against, so nothing vouches for the capture's keys: they enter unvouched, and the detectors judge " +
                "them as new keys"));
        }

        var vouching = new Vouching(reference.Keys, reference.Records, captured.Records, detectors);

        string[] labels = ["output raised", "output lowered"];
        string[] served = ["served values beyond their strata's upper tail", "served values beyond their strata's lower tail"];
        var excluded = new List<ExcludedKey>();
        var kept = new List<BaselineKey>(captured.Keys.Length);
        int checkedKeys = 0, newKeys = 0;
        foreach (BaselineKey key in captured.Keys)
        {
            BaselineKey? before = vouching.Vouched(key.Hash());
            if (key.Support >= detectors.NewKeySupport && key.Kind != KeyKind.EmbeddingOutlier)
            {
                checkedKeys++;
                newKeys += before is null ? 1 : 0;
                if (Judged(key.Kind) && TailExcess(key, before, capture.Profile.Schema, served, labels, detectors) is { } excess)
                {
                    excluded.Add(excess);
                    continue;
                }
            }

            kept.Add(vouching.Take(key));
        }

        ExcludedKey[] ordered = [.. excluded.OrderByDescending(k => k.Z).ThenBy(k => k.Field, StringComparer.Ordinal).ThenBy(k => k.Text, StringComparer.Ordinal)];
        return (captured with { Keys = [.. kept] }, new CaptureCheck
        {
            AgainstBaselineId = against,
            KeysChecked = checkedKeys,
            NewKeys = newKeys,
            Unvouched = vouching.Unvouched,
            Excluded = ordered,
            Summary = Summary(against, checkedKeys, newKeys, ordered, vouching,
                "served values beyond their strata's tails far beyond what it vouches for"),
        });
    }

    /// <summary>
    /// Whether a key of this kind may be kept out. A percentile bin or a region (a bin with another part) is each baseline's own: its
    /// identity is a bin index under that baseline's edges, so the baseline in force's entry is another interval, and its rates are the
    /// surrogate's misfit there, which held-out traffic shows and a training split may not. Kept out, an interior bin also lost the
    /// population's standing its table entry gives it: on a clean capture of the rare real model, a bin of mean_perimeter kept out was
    /// named critical in the known-good version's next 260,000 clean records and quarantined it. A region is reported and never
    /// critical whatever its entry holds, so keeping one out hid nothing either.
    /// </summary>
    private static bool Judged(KeyKind kind) => kind is not (KeyKind.FineBin or KeyKind.Region);

    private static BaselineKey[] Unvouch(BaselineKey[] keys) => [.. keys.Select(k => k with { Unvouched = true })];

    /// <summary>
    /// What the baseline in force vouches for of a captured key's entry (<see cref="BaselineKey.Unvouched"/>). A capture's records may
    /// be an ingest key's, planted with ordinary outputs to pass the check and earn a known key's leniency for a trigger to come, so a
    /// kept key enters unvouched unless the baseline in force vouched for it; a capture cannot make a key a population the baseline in
    /// force did not hold as one (<see cref="BaselineKey.ShareUnvouched"/>); and a vouched key's tail and rank lifts are capped at the baseline in force's, so planted records
    /// ranked high but below the tails cannot widen its allowance, nor that of the keys beside it on a record.
    /// </summary>
    private sealed class Vouching
    {
        private readonly Dictionary<ulong, BaselineKey> _vouched = [];
        private readonly long _inForceRecords;
        private readonly long _capturedRecords;
        private readonly DetectorSettings _detectors;

        public Vouching(IEnumerable<BaselineKey> inForce, long inForceRecords, long capturedRecords, DetectorSettings detectors)
        {
            _inForceRecords = inForceRecords;
            _capturedRecords = capturedRecords;
            _detectors = detectors;
            foreach (BaselineKey key in inForce)
            {
                // The embedding-outlier key is each baseline's own geometry's: nothing vouches for another's.
                if (key.Support >= detectors.NewKeySupport && !key.Unvouched && key.Kind != KeyKind.EmbeddingOutlier)
                {
                    _vouched.TryAdd(key.Hash(), key);
                }
            }
        }

        /// <summary>Kept keys with the new-key support that entered unvouched (the embedding-outlier key, never checked, left out).</summary>
        public int Unvouched { get; private set; }

        /// <summary>Vouched keys the capture made a population that the baseline in force did not hold as one (<see cref="BaselineKey.ShareUnvouched"/>).</summary>
        public int MadePopulations { get; private set; }

        /// <summary>The baseline in force's entry for the key when it vouched for it; null when the key is new to it.</summary>
        public BaselineKey? Vouched(ulong hash) => _vouched.GetValueOrDefault(hash);

        /// <summary>The key as the new table takes it.</summary>
        public BaselineKey Take(BaselineKey key)
        {
            BaselineKey? before = Vouched(key.Hash());
            double share = KeyOutputTest.MaxBaselineShare;
            if (before is null)
            {
                Unvouched += key.Support >= _detectors.NewKeySupport && key.Kind != KeyKind.EmbeddingOutlier ? 1 : 0;
                return key with { Unvouched = true };
            }

            bool madePopulation = key.Support >= share * _capturedRecords && (before.Support < share * _inForceRecords || before.ShareUnvouched);
            MadePopulations += madePopulation ? 1 : 0;
            return key with { TailHits = CappedTail(key, before), RankAbove = CappedRanks(key, before), ShareUnvouched = madePopulation };
        }

        /// <summary>Tail hits at most what the baseline in force's lift, (hits + 1) / (expected + 1), allows for the captured records.</summary>
        private static long[] CappedTail(BaselineKey key, BaselineKey before)
        {
            if (key.TailHits.Length == 0 || key.TailExpected.Length != key.TailHits.Length)
            {
                return key.TailHits;
            }

            bool comparable = before.TailHits.Length == key.TailHits.Length && before.TailExpected.Length == key.TailHits.Length;
            var hits = new long[key.TailHits.Length];
            for (int c = 0; c < hits.Length; c++)
            {
                double lift = comparable ? Math.Max(1, (before.TailHits[c] + 1) / (before.TailExpected[c] + 1)) : 1;
                hits[c] = Math.Min(key.TailHits[c], Math.Max(0, (long)Math.Floor((lift * (key.TailExpected[c] + 1)) - 1)));
            }

            return hits;
        }

        /// <summary>Records above each rank threshold at most what the baseline in force's lift allows (<see cref="KeyRankTest"/>).</summary>
        private static long[] CappedRanks(BaselineKey key, BaselineKey before)
        {
            int t = KeyRankTest.Thresholds.Length;
            if (key.RankAbove.Length == 0 || key.RankAbove.Length % t != 0)
            {
                return key.RankAbove;
            }

            bool comparable = before.RankAbove.Length == key.RankAbove.Length;
            var above = new long[key.RankAbove.Length];
            for (int j = 0; j < above.Length; j++)
            {
                double chance = 1 - KeyRankTest.Thresholds[j % t];
                double lift = comparable ? Math.Max(1, (before.RankAbove[j] + 1) / ((chance * before.Support) + 1)) : 1;
                above[j] = Math.Min(key.RankAbove[j], Math.Max(0, (long)Math.Floor((lift * ((chance * key.Support) + 1)) - 1)));
            }

            return above;
        }
    }

    private static string Summary(long against, int checkedKeys, int newKeys, ExcludedKey[] excluded, Vouching vouching, string skewed)
    {
        int unvouched = vouching.Unvouched;
        int populations = vouching.MadePopulations;
        return string.Create(CultureInfo.InvariantCulture,
            $"checked against baseline {against} in force: {checkedKeys} keys of the capture's table have the support to count as known " +
            $"({newKeys} of them new to baseline {against}); ") + Outcome(excluded, skewed) + string.Create(CultureInfo.InvariantCulture,
            $"; {unvouched} kept {(unvouched == 1 ? "key" : "keys")} that baseline {against} did not know ") +
            (unvouched == 1 ? "enters" : "enter") + " unvouched: the detectors judge them as new keys, as that baseline did" +
            (populations == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
                $"; {populations} {(populations == 1 ? "key is" : "keys are")} on a population's share of the capture but not of baseline {against}, and never taken as a population"));
    }

    private static string Outcome(ExcludedKey[] excluded, string skewed)
    {
        if (excluded.Length == 0)
        {
            return $"none is {skewed}, so the key table is taken as captured";
        }

        string named = string.Join(", ", excluded.Take(5).Select(k => $"{k.Kind.ToString().ToLowerInvariant()} '{k.Text}' in {k.Field}")) +
            (excluded.Length > 5 ? $" and {excluded.Length - 5} more" : "");
        return excluded.Length == 1
            ? $"1 is {skewed}, and is kept out of the key table so that it stays new: {named}"
            : $"{excluded.Length} are {skewed}, and are kept out of the key table so that they stay new: {named}";
    }

    private static CaptureCheck Unchecked(long against, string why) =>
        new() { AgainstBaselineId = against, KeysChecked = 0, NewKeys = 0, Excluded = [], Summary = why };

    /// <summary>One baseline's surrogate strata and stratified rates, in which the capture's records are measured.</summary>
    private sealed class View(CompiledBaseline baseline, TriggerProfile profile, CheckStrata strata, DetectorSettings detectors)
    {
        public CompiledBaseline Baseline { get; } = baseline;
        public TriggerProfile Profile { get; } = profile;
        public CheckStrata Strata { get; } = strata;
        public KeySkewTest Skew { get; } = new(profile, detectors, baseline.Profile.Schema.PredictedClassLabels);

        public string Whose => Strata == CheckStrata.BaselineInForce ? "the baseline in force" : "the captured baseline";

        /// <summary>Cell of each record: served class × strata + the record's stratum in this view.</summary>
        public int[] Cells(RecordBatch batch)
        {
            int classChannel = Array.FindIndex(Baseline.Profile.Categorical, p => p.Channel.Kind == ChannelKind.OutputClass);
            PreparedBatch prepared = new BatchPreparer(Baseline).Prepare(batch);
            int[] labels = prepared.Codes[classChannel];
            var active = new int[Profile.Surrogate.NumericOffsets.Length + Profile.Surrogate.CategoricalOffsets.Length];
            var probabilities = new double[Profile.Classes];
            var cells = new int[batch.Count];
            for (int i = 0; i < batch.Count; i++)
            {
                Profile.Surrogate.Predict(Baseline, prepared, i, active, probabilities);
                cells[i] = labels[i] * Profile.Strata + Profile.StratumOf(probabilities);
            }

            return cells;
        }
    }

    /// <summary>The capture's records of each checked key, per (served class, stratum) in each view.</summary>
    private sealed class Checker
    {
        private readonly View _inForce;
        private readonly View _capture;
        private readonly TriggerProfile _captured;
        private readonly DetectorSettings _detectors;
        private readonly Dictionary<ulong, (BaselineKey Key, long[] InForce, long[] Capture)> _keys = [];
        private readonly HashSet<ulong> _excluded = [];

        public Checker(View inForce, View capture, TriggerProfile captured, DetectorSettings detectors)
        {
            _inForce = inForce;
            _capture = capture;
            _captured = captured;
            _detectors = detectors;
            foreach (BaselineKey key in captured.Keys)
            {
                // A key under the new-key support is new to the new baseline whatever it does; the embedding-outlier
                // key is defined by each baseline's own embedding geometry, so it has no counterpart to check against.
                if (key.Support >= detectors.NewKeySupport && key.Kind != KeyKind.EmbeddingOutlier)
                {
                    _keys.TryAdd(key.Hash(), (key, new long[inForce.Profile.Classes * inForce.Profile.Strata],
                        new long[capture.Profile.Classes * capture.Profile.Strata]));
                }
            }
        }

        public int Checked => _keys.Count;

        public int NewKeys { get; private set; }

        public bool IsExcluded(BaselineKey key) => _excluded.Contains(key.Hash());

        /// <summary>Counts each checked key's records, with the keys the new table was counted on.</summary>
        public void Count(RecordBatch batch)
        {
            int[] inForce = _inForce.Cells(batch);
            int[] capture = _capture.Cells(batch);
            var extractor = KeyExtractor.For(_capture.Baseline.Profile.Schema, _captured, _detectors);
            for (int i = 0; i < batch.Count; i++)
            {
                foreach (KeyOccurrence key in extractor.Extract(batch, i))
                {
                    if (_keys.TryGetValue(key.Hash, out var entry))
                    {
                        entry.InForce[inForce[i]]++;
                        entry.Capture[capture[i]]++;
                    }
                }
            }
        }

        /// <summary>The label-skewed keys, the strongest skew first; remembers them for <see cref="IsExcluded"/>.</summary>
        public ExcludedKey[] Judge(double minZ)
        {
            var excluded = new List<ExcludedKey>();
            foreach ((ulong hash, (BaselineKey key, long[] inForce, long[] capture)) in _keys)
            {
                BaselineKey? known = _inForce.Skew.Known(hash);
                NewKeys += known is null || known.Support < _detectors.NewKeySupport ? 1 : 0;
                if (!Judged(key.Kind))
                {
                    continue;
                }

                ExcludedKey? strongest = null;
                for (int c = 0; c < _inForce.Profile.Classes; c++)
                {
                    strongest = Stronger(strongest, Stronger(Skew(_inForce, key, known, inForce, c, minZ), Skew(_capture, key, known, capture, c, minZ)));
                }

                strongest ??= TailExcess(key, known);
                if (strongest is not null)
                {
                    excluded.Add(strongest);
                    _excluded.Add(hash);
                }
            }

            return [.. excluded.OrderByDescending(k => k.Z).ThenBy(k => k.Field, StringComparer.Ordinal).ThenBy(k => k.Text, StringComparer.Ordinal)];
        }

        private ExcludedKey? TailExcess(BaselineKey key, BaselineKey? known)
        {
            ModelSchema schema = _capture.Baseline.Profile.Schema;
            return CaptureKeyCheck.TailExcess(key, known, schema, [.. schema.PredictedClassLabels.Select(l => $"served '{l}' beyond their strata's tails")],
                schema.PredictedClassLabels, _detectors);
        }

        private static ExcludedKey? Stronger(ExcludedKey? a, ExcludedKey? b) => a is null ? b : b is null || a.Z >= b.Z ? a : b;

        private ExcludedKey? Skew(View view, BaselineKey key, BaselineKey? known, long[] cells, int c, double minZ)
        {
            (double hits, double predicted, long contrarian) = view.Skew.Contrarian(cells, c);
            if (hits < _detectors.PromoteSupport)
            {
                return null;
            }

            (double x, double expected, double variance) = view.Skew.Pooled(cells, c);
            double z = (x - expected) / Math.Sqrt(variance + 0.25);
            double rate = hits / contrarian;
            double expectedRate = predicted / contrarian;
            bool isNew = known is null || known.Support < _detectors.NewKeySupport;
            double? keyRate = known is not null && known.ContrarianCounts.Length > c && known.ContrarianCounts[c] >= _detectors.NewKeySupport
                ? known.ContrarianHits[c] / (double)known.ContrarianCounts[c]
                : null;
            // A key's own rate measured on a handful of the baseline's records is uncertain: the capture must exceed what that
            // rate may be (its Wilson 95% upper bound), not its estimate (0 of 5 records is no evidence the rate is 0).
            double? keyUpper = keyRate is not null ? Proportions.Wilson(known!.ContrarianHits[c], known.ContrarianCounts[c]).High : null;
            if (z < minZ || rate - (keyUpper ?? expectedRate) < _detectors.MinRateIncrease)
            {
                return null;
            }

            ModelSchema schema = view.Baseline.Profile.Schema;
            DetectorKey shown = _detectors.TextKeys.Protect(new DetectorKey(key.Kind, FieldName(schema, key), key.Text));
            string label = schema.PredictedClassLabels[c];
            string own = isNew ? "the key is new to the baseline in force" : keyRate is { } r
                ? string.Create(CultureInfo.InvariantCulture, $"the baseline in force had the key's own rate there at {r:P1}, at most {keyUpper:P1} at 95%")
                : "the key had too few such records in the baseline in force to have a rate of its own";
            return new ExcludedKey
            {
                Kind = key.Kind,
                Field = shown.Field,
                Text = shown.Text,
                Support = key.Support,
                TargetLabel = label,
                Strata = view.Strata,
                Contrarian = contrarian,
                Rate = rate,
                ExpectedRate = expectedRate,
                KeyRate = keyRate,
                IsNewKey = isNew,
                Z = z,
                Summary = string.Create(CultureInfo.InvariantCulture,
                    $"{key.Kind.ToString().ToLowerInvariant()} '{shown.Text}' in {shown.Field}: of {key.Support} captured records carrying it, " +
                    $"{contrarian} have inputs for which {view.Whose} gives '{label}' less than even odds, yet {rate:P1} of those were " +
                    $"served '{label}' where it predicts {expectedRate:P1} (pooled z = {z:F1}; {own})"),
            };
        }

        private static string FieldName(ModelSchema schema, BaselineKey key) => KeyExtractor.FieldName(schema, key.Kind, key.Field);
    }
}
