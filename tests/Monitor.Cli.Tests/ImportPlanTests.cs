extern alias drift;

using System.Text;
using drift::Monitor.Cli;
using drift::Monitor.Cli.Baselines;
using drift::Monitor.Protos.V1;

namespace Monitor.Cli.Tests;

/// <summary>The column plan: which column feeds which part of a record, and the batches built from chunks of rows.</summary>
public sealed class ImportPlanTests
{
    private static readonly Model Fraud = new()
    {
        Name = "fraud",
        Schema = new ModelSchema
        {
            NumericFeatures = { "amount", "age" },
            CategoricalFeatures = { "country" },
            TextFields = { "memo" },
            OutputKind = OutputKind.Binary,
        },
    };

    [Fact]
    public void A_chunk_becomes_a_row_major_batch_with_missing_values_and_UTF8_columns()
    {
        var table = new FakeTable(
            ("memo", ColumnType.Text, new string?[] { "naïve café", "", "x" }),
            ("age", ColumnType.Integer, new Int128?[] { 30, null, 50 }),
            ("amount", ColumnType.Text, new string?[] { "1.5", "NA", " 2e3 " }),
            ("country", ColumnType.Integer, new Int128?[] { Int128.Parse("1234567890123456789", System.Globalization.CultureInfo.InvariantCulture), 7, null }),
            ("score", ColumnType.Float, new double[] { 0.25, 1, 0 }),
            ("request_id", ColumnType.String, new string?[] { "r1", null, "r3" }));
        ImportPlan plan = ImportPlan.Create(Fraud, table, new Dictionary<string, string>());
        RecordBatch batch = plan.Build(table.Chunk(plan.Selection));

        Assert.Equal(3u, batch.Records);
        Assert.Equal([1.5f, 30f, float.NaN, float.NaN, 2000f, 50f], batch.Numeric);
        Assert.Equal([0.25f, 1f, 0f], batch.Scores);
        Assert.Equal(["1234567890123456789", "7", ""], Strings(batch.Categorical[0]));
        Assert.Equal(["naïve café", "", "x"], Strings(batch.Text[0]));
        Assert.Equal([12u, 12u, 13u], batch.Text[0].Ends); // "naïve café" is 12 bytes of UTF-8
        Assert.Equal(["r1", "", "r3"], Strings(batch.RequestIds));
        Assert.True(plan.HasRequestIds);
        Assert.Empty(plan.Ignored);
    }

    [Theory]
    [InlineData("amount", "abc", "row 2, column 'amount': 'abc' is not a number (numeric feature 'amount' needs one")]
    [InlineData("amount", "1e39", "row 2, column 'amount': 1e39 is beyond the range of a 32-bit float")]
    [InlineData("score", "1.5", "row 2, column 'score': the probability of the positive class '1.5' is not a probability in [0, 1]")]
    [InlineData("score", "", "row 2, column 'score': the probability of the positive class '' is missing, and every record needs it")]
    [InlineData("score", "-inf", "row 2, column 'score': the probability of the positive class '-inf' is not finite, and it must be")]
    public void A_value_its_part_cannot_take_is_named_by_row_and_column(string column, string value, string message)
    {
        string?[] Cells(string name, string good) => name == column ? [good, value] : [good, good];
        var table = new FakeTable(
            ("amount", ColumnType.Text, Cells("amount", "1")),
            ("age", ColumnType.Text, Cells("age", "2")),
            ("country", ColumnType.Text, Cells("country", "US")),
            ("memo", ColumnType.Text, Cells("memo", "m")),
            ("score", ColumnType.Text, Cells("score", "0.5")));
        ImportPlan plan = ImportPlan.Create(Fraud, table, new Dictionary<string, string>());
        CliException error = Assert.Throws<CliException>(() => plan.Build(table.Chunk(plan.Selection)));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void An_infinity_written_as_such_is_a_missing_feature_value()
    {
        var table = new FakeTable(
            ("amount", ColumnType.Text, new string?[] { "inf", "-Infinity" }),
            ("age", ColumnType.Float, new double[] { double.PositiveInfinity, 1e300 }),
            ("country", ColumnType.String, new string?[] { "US", "GB" }),
            ("memo", ColumnType.String, new string?[] { "a", "b" }),
            ("score", ColumnType.Float, new double[] { 0.5, 0.5 }));
        ImportPlan plan = ImportPlan.Create(Fraud, table, new Dictionary<string, string>());
        CliException error = Assert.Throws<CliException>(() => plan.Build(table.Chunk(plan.Selection)));
        Assert.Contains("row 2, column 'age': 1E+300 is beyond the range of a 32-bit float", error.Message);
    }

    [Fact]
    public void Wrong_types_missing_columns_and_unknown_map_entries_are_told_together()
    {
        var table = new FakeTable(
            ("Amount", ColumnType.Float, new double[] { 1 }),
            ("age", ColumnType.String, new string?[] { "x" }),
            ("country", ColumnType.Float, new double[] { 1 }),
            ("memo", ColumnType.Integer, new Int128?[] { 1 }),
            ("p", ColumnType.Float, new double[] { 0.5 }),
            ("when", ColumnType.Other, new string?[] { null }));
        CliException error = Assert.Throws<CliException>(() =>
            ImportPlan.Create(Fraud, table, new Dictionary<string, string> { ["score"] = "p", ["colour"] = "when" }));
        Assert.Contains("fake.csv cannot feed model 'fraud':", error.Message);
        Assert.Contains("'amount' (numeric feature 'amount'); did you mean 'Amount'?", error.Message);
        Assert.Contains("column 'age' holds String values; numeric feature 'age' needs a number column", error.Message);
        Assert.Contains("column 'country' holds Double values; categorical feature 'country' needs a string or integer column", error.Message);
        Assert.Contains("column 'memo' holds Int32 values; text field 'memo' needs a string column", error.Message);
        Assert.Contains("--map colour=…: 'colour' is not a part of model 'fraud''s records (its parts: amount, age, country, memo, score, request_id)",
            error.Message);
        Assert.DoesNotContain("'p'", error.Message);
    }

    [Fact]
    public void A_partial_embedding_is_told_in_one_line_and_a_whole_one_is_used()
    {
        var model = new Model { Name = "emb", Schema = new ModelSchema { OutputKind = OutputKind.Regression, EmbeddingWidth = 64 } };
        var partial = new FakeTable([("score", ColumnType.Float, new double[] { 1 }),
            .. Enumerable.Range(0, 10).Select(i => ($"embedding.{i}", ColumnType.Float, (object)new double[] { i }))]);
        CliException error = Assert.Throws<CliException>(() => ImportPlan.Create(model, partial, new Dictionary<string, string>()));
        Assert.Contains("54 embedding columns, such as 'embedding.10', 'embedding.11', 'embedding.12'", error.Message);
        Assert.DoesNotContain("embedding.20", error.Message);

        var whole = new FakeTable([("score", ColumnType.Float, new double[] { 1 }),
            .. Enumerable.Range(0, 64).Select(i => ($"embedding.{i}", ColumnType.Float, (object)new double[] { i }))]);
        ImportPlan plan = ImportPlan.Create(model, whole, new Dictionary<string, string>());
        Assert.True(plan.HasEmbedding);
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (float)i), plan.Build(whole.Chunk(plan.Selection)).Embeddings);

        var none = new FakeTable(("score", ColumnType.Float, new double[] { 1 }));
        Assert.False(ImportPlan.Create(model, none, new Dictionary<string, string>()).HasEmbedding);
    }

    private static string[] Strings(StringColumn column)
    {
        byte[] bytes = column.Utf8.ToByteArray();
        var values = new string[column.Ends.Count];
        uint start = 0;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Encoding.UTF8.GetString(bytes, (int)start, (int)(column.Ends[i] - start));
            start = column.Ends[i];
        }

        return values;
    }

    /// <summary>A table in memory: named, typed columns of values as the readers give them; row i is "row i+1".</summary>
    private sealed class FakeTable(params (string Name, ColumnType Type, object Values)[] columns) : TableReader(new FileInfo("fake.csv"))
    {
        public override string Format => "csv";

        public override IReadOnlyList<TableColumn> Columns { get; } =
            [.. columns.Select(c => new TableColumn(c.Name, c.Type, c.Values switch
            {
                double[] => "Double",
                Int128?[] => "Int32",
                _ when c.Type == ColumnType.Other => "DateTime",
                _ => c.Type == ColumnType.String ? "String" : "text",
            }))];

        public override double Fraction => 0;

        public TableChunk Chunk(IReadOnlyList<int> selection) =>
            new(((Array)columns[0].Values).Length, 1, [.. selection.Select(i => columns[i].Values)], row => $"row {row + 1}");

        public override ValueTask<TableChunk?> ReadAsync(IReadOnlyList<int> selection, int maxRows, CancellationToken cancellationToken) =>
            ValueTask.FromResult<TableChunk?>(Chunk(selection));

        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
