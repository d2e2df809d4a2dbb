using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Baselines;

public sealed class ReferenceSampleTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 1, categorical: 1, text: 1, output: OutputKind.Regression);

    [Fact]
    public void Memory_is_bounded_by_the_capacity_and_every_record_is_equally_likely_to_stay()
    {
        const int capacity = 500;
        const int offered = 200_000;
        var sample = new ReferenceSample(Schema, capacity, seed: 8);
        for (int start = 0; start < offered; start += 1000)
        {
            sample.Add(Sequence(start, 1000));
        }

        Assert.Equal(capacity, sample.Count);
        Assert.Equal(offered, sample.Received);

        // Kept indices are uniform on [0, offered): compare deciles with a chi-squared test at 99.9%.
        RecordBatch kept = sample.ToBatch();
        var deciles = new long[10];
        foreach (float index in kept.Numeric.Span)
        {
            deciles[(int)(index / (offered / 10))]++;
        }

        double expected = capacity / 10.0;
        double chi = deciles.Sum(d => (d - expected) * (d - expected) / expected);
        Assert.True(chi < 27.88, $"deciles {string.Join(",", deciles)}: chi-squared {chi:F1} on 9 dof");
    }

    [Fact]
    public void Kept_records_keep_their_columns_together()
    {
        var sample = new ReferenceSample(Schema, 50, seed: 1);
        sample.Add(Sequence(0, 300));
        RecordBatch kept = sample.ToBatch();
        for (int i = 0; i < kept.Count; i++)
        {
            float index = kept.Numeric.Span[i];
            Assert.Equal(index * 2, kept.Scores.Span[i]);
            Assert.Equal(index % 7 == 0 ? "" : $"c{index % 3}", kept.Categorical[0].GetString(i));
            Assert.Equal($"memo {index}", kept.Text[0].GetString(i));
        }

        var restored = ReferenceSample.Restore(Schema, 50, 1, kept, sample.Received);
        Assert.Equal(sample.Received, restored.Received);
        Assert.Equal(kept.Numeric.ToArray(), restored.ToBatch().Numeric.ToArray());
    }

    private static RecordBatch Sequence(int start, int n) => new()
    {
        Count = n,
        Numeric = Enumerable.Range(start, n).Select(i => (float)i).ToArray(),
        Scores = Enumerable.Range(start, n).Select(i => (float)i * 2).ToArray(),
        Categorical = [Utf8Column.FromStrings([.. Enumerable.Range(start, n).Select(i => i % 7 == 0 ? null : $"c{i % 3}")])],
        Text = [Utf8Column.FromStrings([.. Enumerable.Range(start, n).Select(i => $"memo {i}")])],
    };
}
