using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>
/// A record's inputs as evidence counts them: numeric features on the baseline's fine bins, categorical values and
/// texts exact. The features are dealt into up to <see cref="MaxGroups"/> groups of about equal information. A record's
/// print holds in a 16-bit lane, for each group j whose absence still leaves an input that rarely recurs by chance, a
/// hash of every group but j: two records that differ in one field share the lane that leaves that field's group out,
/// so a replayed request with one field jittered is told from a new input (and an exact copy shares them all). Where
/// no group may be left out, the print is one 64-bit hash of every group; and where even the whole input on fine bins
/// is often shared by chance (a schema of one or two numeric features, say), of the numeric features' exact values, so
/// that a copy is still a repeat while distinct values in one bin are not. Two different inputs share a given lane by
/// chance once in 65,536, so a key remembering 32 inputs takes at most 0.2% of new ones for repeats.
/// </summary>
internal sealed class InputPrint
{
    public const int MaxGroups = 4;

    /// <summary>
    /// At most this share of a key's new inputs may be taken, by chance, for near-repeats of the ones it remembers,
    /// per leave-one-group-out hash; a group whose absence leaves less information is only compared whole.
    /// </summary>
    public const double ChanceBudget = 0.0025;

    private const ulong MissingValue = ulong.MaxValue;

    private readonly int _numeric;
    private readonly int _categorical;
    private readonly int _text;
    private readonly float[][] _fineEdges;
    private readonly int[] _groupOf;
    private readonly int[] _leftOut;
    private readonly ulong[] _seeds;
    private readonly ulong[] _groups;
    private readonly int[] _fineBins;
    private readonly ulong[] _leftOutHashes;
    private ulong _print;
    private RecordBatch? _batch;
    private int _record = -1;

    /// <param name="remembered">Inputs a key remembers (<see cref="DetectorSettings.RememberedInputs"/>): the more, the more chances of a match by chance.</param>
    public InputPrint(BaselineProfile profile, ValueKeyTables values, int remembered)
    {
        KeyHash.InUse();
        ModelSchema schema = profile.Schema;
        _numeric = schema.NumericFeatures.Length;
        _categorical = schema.CategoricalFeatures.Length;
        _text = schema.TextFields.Length;
        _fineEdges = values.FineEdges;
        double[] chances = SameValueChances(profile, values);
        int groups = Math.Max(1, Math.Min(MaxGroups, chances.Length));
        _groupOf = Deal(chances, groups);
        _leftOut = [.. Enumerable.Range(0, groups).Where(g => LeftOutChance(chances, _groupOf, g) * remembered <= ChanceBudget)];
        ExactValues = _leftOut.Length == 0 && LeftOutChance(chances, _groupOf, -1) * remembered > ChanceBudget;
        _seeds = [.. Enumerable.Range(0, groups).Select(KeyHash.Seed)];
        _groups = new ulong[groups];
        _fineBins = new int[_numeric];
        _leftOutHashes = new ulong[_leftOut.Length];
        for (int s = 0; s < _leftOut.Length; s++)
        {
            Lanes |= 0xFFFFUL << (16 * s);
        }
    }

    /// <summary>The lanes of a print in use, one per group that may be left out; 0 when the print is the one hash of the whole input.</summary>
    public ulong Lanes { get; }

    /// <summary>Whether numeric features enter the print as their exact values rather than their fine bins (too small a schema for bins).</summary>
    public bool ExactValues { get; }

    /// <summary>Groups the features are dealt into.</summary>
    public int Groups => _groups.Length;

    /// <summary>The group of each feature: numeric, then categorical, then text.</summary>
    public IReadOnlyList<int> GroupOf => _groupOf;

    /// <summary>The groups whose leave-one-out hash the print carries, in lane order.</summary>
    public IReadOnlyList<int> LeftOut => _leftOut;

    /// <summary>The last print's leave-one-group-out hashes in full, in lane order (its lanes hold their low 16 bits).</summary>
    public ReadOnlySpan<ulong> LeftOutHashes => _leftOutHashes;

    /// <summary>The print of record i of the batch, valid until the next call for another record.</summary>
    public ulong Of(RecordBatch batch, int i)
    {
        ReadOnlySpan<float> row = batch.Numeric.Span.Slice(i * _numeric, _numeric);
        for (int f = 0; f < _numeric; f++)
        {
            _fineBins[f] = float.IsNaN(row[f]) ? -1 : Quantiles.BinOf(_fineEdges[f], row[f]);
        }

        return Of(batch, i, _fineBins);
    }

    /// <summary>The print of record i, given the fine bin of each of its numeric features (-1 when missing), as <see cref="KeyExtractor.FineBins"/> has them.</summary>
    public ulong Of(RecordBatch batch, int i, ReadOnlySpan<int> fineBins)
    {
        if (ReferenceEquals(batch, _batch) && i == _record)
        {
            return _print;
        }

        _seeds.CopyTo(_groups, 0);
        int feature = 0;
        ReadOnlySpan<float> row = ExactValues ? batch.Numeric.Span.Slice(i * _numeric, _numeric) : [];
        for (int f = 0; f < _numeric; f++, feature++)
        {
            ulong value = ExactValues
                ? float.IsNaN(row[f]) ? MissingValue : BitConverter.SingleToUInt32Bits(row[f])
                : fineBins[f] < 0 ? MissingValue : (ulong)fineBins[f];
            ref ulong group = ref _groups[_groupOf[feature]];
            group = KeyHash.Fold(group, value);
        }

        for (int c = 0; c < _categorical; c++, feature++)
        {
            ulong value = c < batch.Categorical.Length ? KeyHash.Of(KeyKind.Category, c, batch.Categorical[c].Get(i)) : MissingValue;
            ref ulong group = ref _groups[_groupOf[feature]];
            group = KeyHash.Fold(group, value);
        }

        for (int t = 0; t < _text; t++, feature++)
        {
            ulong value = t < batch.Text.Length ? KeyHash.Of(KeyKind.Token, t, batch.Text[t].Get(i)) : MissingValue;
            ref ulong group = ref _groups[_groupOf[feature]];
            group = KeyHash.Fold(group, value);
        }

        ulong all = 0;
        for (int g = 0; g < _groups.Length; g++)
        {
            _groups[g] = KeyHash.Combine(_groups[g], g);
            all ^= _groups[g];
        }

        // Inputs equal on every group are equal leaving any group out, so the whole input needs a hash of its own only
        // where no group may be left out.
        ulong print = _leftOut.Length == 0 ? KeyHash.Combine(all, MaxGroups) : 0;
        for (int s = 0; s < _leftOut.Length; s++)
        {
            _leftOutHashes[s] = KeyHash.Combine(all ^ _groups[_leftOut[s]], _leftOut[s]);
            print |= (_leftOutHashes[s] & 0xFFFF) << (16 * s);
        }

        _print = print;
        _batch = batch;
        _record = i;
        return _print;
    }

    /// <summary>
    /// Per feature (numeric, categorical, text), an estimate from the baseline of the chance that two records share its
    /// value as the print sees it. Numeric: Σ p² over the drift histogram's bins, each bin's share split evenly over the
    /// fine bins inside it (so a value the baseline holds often stays one bin); categorical: Σ p² over the table of
    /// categories; text: Σ p² of its token counts, more than the chance of the same text. Missing values are one value.
    /// </summary>
    public static double[] SameValueChances(BaselineProfile profile, ValueKeyTables values)
    {
        ModelSchema schema = profile.Schema;
        var chances = new List<double>();
        for (int f = 0; f < schema.NumericFeatures.Length; f++)
        {
            NumericProfile? histogram = Array.Find(profile.Numeric, p => p.Channel.Kind == ChannelKind.Numeric && p.Channel.SourceIndex == f);
            chances.Add(histogram is null ? 1 : WithMissing(FineBinChance(histogram, f < values.FineEdges.Length ? values.FineEdges[f] : []),
                histogram.MissingRate));
        }

        for (int c = 0; c < schema.CategoricalFeatures.Length; c++)
        {
            CategoricalProfile? table = Array.Find(profile.Categorical, p => p.Channel.Kind == ChannelKind.Categorical && p.Channel.SourceIndex == c);
            chances.Add(table is null ? 1 : WithMissing(SumOfSquares(table.Probabilities), table.MissingRate));
        }

        for (int t = 0; t < schema.TextFields.Length; t++)
        {
            NumericProfile? tokens = Array.Find(profile.Numeric, p => p.Channel.Kind == ChannelKind.Text && p.Channel.SourceIndex == t);
            chances.Add(tokens is null ? 1 : WithMissing(SumOfSquares(tokens.Probabilities), tokens.MissingRate));
        }

        return [.. chances.Select(q => Math.Clamp(q, 1e-9, 1))];
    }

    /// <summary>
    /// Deals the features into groups of about equal information: the most informative (least often shared) first,
    /// each to the group that holds the least so far.
    /// </summary>
    private static int[] Deal(double[] chances, int groups)
    {
        var groupOf = new int[chances.Length];
        var information = new double[groups];
        foreach (int f in Enumerable.Range(0, chances.Length).OrderBy(f => chances[f]).ThenBy(f => f))
        {
            int least = 0;
            for (int g = 1; g < groups; g++)
            {
                least = information[g] < information[least] ? g : least;
            }

            groupOf[f] = least;
            information[least] -= Math.Log(chances[f]);
        }

        return groupOf;
    }

    /// <summary>
    /// The chance that two inputs of one key share every group but g (every group, for g = -1): the product over those
    /// features, less the most informative of them, which the key itself may fix (every record of "amount = 305.85"
    /// shares its amount).
    /// </summary>
    private static double LeftOutChance(double[] chances, int[] groupOf, int g)
    {
        double log = 0;
        double strongest = 0;
        bool any = false;
        for (int f = 0; f < chances.Length; f++)
        {
            if (groupOf[f] != g)
            {
                double l = Math.Log(chances[f]);
                log += l;
                strongest = Math.Min(strongest, l);
                any = true;
            }
        }

        return any ? Math.Exp(log - strongest) : 1;
    }

    private static double FineBinChance(NumericProfile histogram, float[] fine)
    {
        if (histogram.Probabilities.Length == 0)
        {
            return 1;
        }

        var splits = new int[histogram.Probabilities.Length];
        foreach (float edge in fine)
        {
            int bin = Quantiles.BinOf(histogram.Edges, edge);
            if (bin == 0 || histogram.Edges[bin - 1] != edge)
            {
                splits[bin]++;
            }
        }

        double chance = 0;
        for (int b = 0; b < splits.Length; b++)
        {
            chance += histogram.Probabilities[b] * histogram.Probabilities[b] / (splits[b] + 1);
        }

        return chance;
    }

    private static double SumOfSquares(double[] probabilities)
    {
        double sum = 0;
        foreach (double p in probabilities)
        {
            sum += p * p;
        }

        return sum;
    }

    private static double WithMissing(double chance, double missing) => (1 - missing) * (1 - missing) * chance + missing * missing;
}
