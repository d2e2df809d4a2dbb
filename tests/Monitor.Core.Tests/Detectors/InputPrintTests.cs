using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>Input prints and the inputs a candidate remembers: what counts as the same input, and what memory holds.</summary>
public sealed class InputPrintTests
{
    private static readonly Lazy<BaselineProfile> Fraud = new(() =>
    {
        var reference = new FraudTraffic(seed: 1000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 6).Select(_ => reference.Next(1000, FraudDrift.None))];
        return ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500, settings: new BaselineSettings { BootstrapWindows = 1000 });
    });

    [Fact]
    public void The_chance_of_a_shared_value_follows_the_baseline()
    {
        BaselineProfile profile = Fraud.Value;
        double[] chances = InputPrint.SameValueChances(profile, profile.Triggers!.Values);
        Assert.Equal(10, chances.Length);
        // A continuous feature on 100 percentile bins: 1%. Transactions per hour, mostly 0, 1 or 2: far more.
        Assert.InRange(chances[0], 0.008, 0.013);
        Assert.InRange(chances[2], 0.15, 0.5);
        // The channel: web 35%, mobile 40%, POS 25% give 0.35² + 0.40² + 0.25² = 0.345.
        Assert.InRange(chances[8], 0.32, 0.37);
    }

    [Fact]
    public void The_fraud_schema_deals_its_ten_fields_into_four_groups_each_of_which_may_be_left_out()
    {
        BaselineProfile profile = Fraud.Value;
        var print = new InputPrint(profile, profile.Triggers!.Values, remembered: 32);
        Assert.Equal(4, print.Groups);
        Assert.Equal([0, 1, 2, 3], print.LeftOut);
        Assert.Equal(ulong.MaxValue, print.Lanes);
        // The four continuous features, the most informative, go one to each group.
        Assert.Equal(4, new[] { 0, 1, 3, 5 }.Select(f => print.GroupOf[f]).Distinct().Count());
    }

    [Fact]
    public void A_schema_of_four_numeric_fields_compares_whole_inputs_on_their_bins()
    {
        // Leaving one group out would leave three fields, one of which the key may fix: two bins, which 1 pair in 10,000 shares.
        ModelSchema schema = SchemaTraffic.Schema(numeric: 4, categorical: 0, classes: 2);
        BaselineProfile profile = SchemaTraffic.Baseline(schema, 6000, 1000, 0.05, seed: 3, new BaselineSettings { BootstrapWindows = 200 });
        var print = new InputPrint(profile, profile.Triggers!.Values, remembered: 32);
        Assert.Equal(4, print.Groups);
        Assert.Empty(print.LeftOut);
        Assert.Equal((0UL, false), (print.Lanes, print.ExactValues));
    }

    [Fact]
    public void A_schema_of_two_numeric_fields_and_a_colour_compares_exact_values()
    {
        // Even the whole input on bins is one colour and one bin once the key fixes the other: shared by chance too often.
        ModelSchema schema = SchemaTraffic.Schema(numeric: 2, categorical: 1, classes: 2);
        BaselineProfile profile = SchemaTraffic.Baseline(schema, 6000, 1000, 0.05, seed: 3, new BaselineSettings { BootstrapWindows = 200 });
        var print = new InputPrint(profile, profile.Triggers!.Values, remembered: 32);
        Assert.Equal(3, print.Groups);
        Assert.Empty(print.LeftOut);
        Assert.Equal((0UL, true), (print.Lanes, print.ExactValues));

        float[] fine = profile.Triggers!.Values.FineEdges[1];
        float x1 = (fine[40] + fine[41]) / 2;
        RecordBatch records = new()
        {
            Count = 3,
            Numeric = new[] { 0.5f, x1, 0.5f, x1, 0.5f, MathF.BitIncrement(x1) },
            Scores = new float[6],
            Categorical = [Utf8Column.FromStrings(["red", "red", "red"])],
            Text = [],
        };
        Assert.Equal(Quantiles.BinOf(fine, x1), Quantiles.BinOf(fine, MathF.BitIncrement(x1)));
        ulong[] prints = [.. Enumerable.Range(0, 3).Select(i => print.Of(records, i))];
        Assert.Equal(prints[0], prints[1]);
        Assert.NotEqual(prints[0], prints[2]);
    }

    [Fact]
    public void A_copy_matches_whole_and_a_copy_with_one_field_changed_matches_leaving_its_group_out()
    {
        BaselineProfile profile = Fraud.Value;
        var print = new InputPrint(profile, profile.Triggers!.Values, remembered: 32);
        RecordBatch batch = new FraudTraffic(seed: 4).Next(2, FraudDrift.None);
        float[] numeric = batch.Numeric.ToArray();
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        float[] original = numeric[..d];
        float[][] fine = profile.Triggers!.Values.FineEdges;
        float nearby = MathF.BitIncrement(original[0]);
        Assert.Equal(Quantiles.BinOf(fine[0], original[0]), Quantiles.BinOf(fine[0], nearby));

        // 0: the record; 1: a copy with the amount moved within its fine bin; 2: with the age in another bin;
        // 3: the age and the amount (another group) changed; 4: another record.
        float[][] rows =
        [
            original,
            [nearby, .. original[1..]],
            [original[0], OtherBin(fine[1], original[1]), .. original[2..]],
            [OtherBin(fine[0], original[0]), OtherBin(fine[1], original[1]), .. original[2..]],
            numeric[d..],
        ];
        RecordBatch records = new()
        {
            Count = rows.Length,
            Numeric = rows.SelectMany(r => r).ToArray(),
            Scores = new float[rows.Length * 2],
            Categorical = [.. batch.Categorical.Select(column => Utf8Column.FromStrings([.. Enumerable.Repeat(column.GetString(0), 4), column.GetString(1)]))],
            Text = [Utf8Column.FromStrings([.. Enumerable.Repeat(batch.Text[0].GetString(0), 4), batch.Text[0].GetString(1) + " other"])],
        };
        Assert.NotEqual(print.GroupOf[0], print.GroupOf[1]);
        var prints = new ulong[rows.Length];
        var hashes = new ulong[rows.Length][];
        for (int i = 0; i < rows.Length; i++)
        {
            prints[i] = print.Of(records, i);
            hashes[i] = print.LeftOutHashes.ToArray();
            Assert.Equal(prints[i], Enumerable.Range(0, 4).Aggregate(0UL, (p, s) => p | ((hashes[i][s] & 0xFFFF) << (16 * s))));
        }

        Assert.Equal(prints[0], prints[1]);
        int ageLane = print.LeftOut.ToList().IndexOf(print.GroupOf[1]);
        Assert.Equal([ageLane], Enumerable.Range(0, 4).Where(s => hashes[0][s] == hashes[2][s]));
        Assert.DoesNotContain(Enumerable.Range(0, 4), s => hashes[0][s] == hashes[3][s]);
        Assert.DoesNotContain(Enumerable.Range(0, 4), s => hashes[0][s] == hashes[4][s]);

        var remembered = new RememberedInputs(capacity: 32, print.Lanes);
        Assert.False(remembered.Repeats(prints[0]));
        Assert.True(remembered.Repeats(prints[1]));
        Assert.True(remembered.Repeats(prints[2]));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void A_remembered_input_is_a_repeat_in_any_lane_in_use_and_a_new_one_is_remembered(int capacity)
    {
        // Three lanes in use; capacities of four and eight take the vector path where there is one, three the scalar one.
        var inputs = new RememberedInputs(capacity, lanes: 0x0000_FFFF_FFFF_FFFFUL);
        Assert.False(inputs.Repeats(Print(1, 2, 3)));
        Assert.True(inputs.Repeats(Print(1, 2, 3)));
        Assert.True(inputs.Repeats(Print(9, 9, 3)));
        Assert.False(inputs.Repeats(Print(9, 3, 9)));
        Assert.False(inputs.Repeats(Print(5, 6, 7))); // the fourth lane, not in use, is zero in every print
        Assert.Equal(3, inputs.Count);
        Assert.True(inputs.Repeats(Print(5, 8, 8)));

        var whole = new RememberedInputs(capacity, lanes: 0);
        Assert.False(whole.Repeats(Print(1, 2, 3)));
        Assert.True(whole.Repeats(Print(1, 2, 3)));
        Assert.False(whole.Repeats(Print(1, 2, 4)));

        var none = new RememberedInputs(capacity: 0, lanes: ulong.MaxValue);
        Assert.False(none.Repeats(Print(1, 2, 3)));
        Assert.False(none.Repeats(Print(1, 2, 3)));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(9)]
    public void An_input_repeated_among_a_flood_of_distinct_ones_stays_remembered(int capacity)
    {
        // Space-Saving: an input in more than 1/capacity of the records is never pushed out by inputs seen once.
        var inputs = new RememberedInputs(capacity, lanes: 0xFFFF);
        Assert.False(inputs.Repeats(7));
        int repeats = 0;
        for (ulong distinct = 100; distinct < 10_000; distinct++)
        {
            Assert.False(inputs.Repeats(distinct));
            if (distinct % 4 == 0)
            {
                repeats += inputs.Repeats(7) ? 1 : 0;
            }
        }

        Assert.Equal(capacity, inputs.Count);
        Assert.Equal(2475, repeats);
    }

    private static ulong Print(ulong a, ulong b, ulong c) => a | (b << 16) | (c << 32);

    /// <summary>A value outside the fine bin of <paramref name="value"/>.</summary>
    private static float OtherBin(float[] edges, float value) => Quantiles.BinOf(edges, value) == 0 ? edges[^1] : edges[0] - 1;
}
