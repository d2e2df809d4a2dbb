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
        Assert.Equal(5, print.Slots);
        // The four continuous features, the most informative, go one to each group.
        Assert.Equal(4, new[] { 0, 1, 3, 5 }.Select(f => print.GroupOf[f]).Distinct().Count());
    }

    [Fact]
    public void A_schema_of_few_fields_compares_whole_inputs_only()
    {
        // Two numeric features and five colours: leaving one group out would leave a colour or one bin, which many inputs share.
        ModelSchema schema = SchemaTraffic.Schema(numeric: 2, categorical: 1, classes: 2);
        BaselineProfile profile = SchemaTraffic.Baseline(schema, 6000, 1000, 0.05, seed: 3, new BaselineSettings { BootstrapWindows = 200 });
        var print = new InputPrint(profile, profile.Triggers!.Values, remembered: 32);
        Assert.Equal(3, print.Groups);
        Assert.Empty(print.LeftOut);
        Assert.Equal(1, print.Slots);
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
        uint[][] prints = [.. Enumerable.Range(0, rows.Length).Select(i => print.Of(records, i).ToArray())];

        Assert.Equal(prints[0], prints[1]);
        Assert.NotEqual(prints[0][0], prints[2][0]);
        int ageSlot = 1 + print.LeftOut.ToList().IndexOf(print.GroupOf[1]);
        Assert.Equal(prints[0][ageSlot], prints[2][ageSlot]);
        Assert.Equal(1, Enumerable.Range(0, print.Slots).Count(s => prints[0][s] == prints[2][s]));
        Assert.DoesNotContain(Enumerable.Range(0, print.Slots), s => prints[0][s] == prints[3][s]);
        Assert.DoesNotContain(Enumerable.Range(0, print.Slots), s => prints[0][s] == prints[4][s]);
    }

    [Fact]
    public void A_remembered_input_is_a_repeat_in_any_slot_and_a_new_one_is_remembered()
    {
        var inputs = new RememberedInputs(capacity: 4, slots: 3);
        Assert.False(inputs.Repeats([1, 2, 3]));
        Assert.True(inputs.Repeats([1, 2, 3]));
        Assert.True(inputs.Repeats([9, 9, 3]));
        Assert.False(inputs.Repeats([9, 3, 9]));
        Assert.Equal(2, inputs.Count);

        var none = new RememberedInputs(capacity: 0, slots: 3);
        Assert.False(none.Repeats([1, 2, 3]));
        Assert.False(none.Repeats([1, 2, 3]));
    }

    [Fact]
    public void An_input_repeated_among_a_flood_of_distinct_ones_stays_remembered()
    {
        // Space-Saving: an input in more than 1/capacity of the records is never pushed out by inputs seen once.
        var inputs = new RememberedInputs(capacity: 8, slots: 1);
        Assert.False(inputs.Repeats([7]));
        int repeats = 0;
        for (uint distinct = 100; distinct < 10_000; distinct++)
        {
            Assert.False(inputs.Repeats([distinct]));
            if (distinct % 4 == 0)
            {
                repeats += inputs.Repeats([7]) ? 1 : 0;
            }
        }

        Assert.Equal(8, inputs.Count);
        Assert.Equal(2475, repeats);
    }

    /// <summary>A value outside the fine bin of <paramref name="value"/>.</summary>
    private static float OtherBin(float[] edges, float value) => Quantiles.BinOf(edges, value) == 0 ? edges[^1] : edges[0] - 1;
}
