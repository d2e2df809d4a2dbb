using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Ingest;

/// <summary>A batch's paired evidence (the trusted version's outputs on the same requests) is checked like its own scores.</summary>
public sealed class PairedBatchValidatorTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 3, categorical: 1, text: 1, classes: 2, embedding: 4);
    private static readonly HashSet<string> Versions = ["v1", "v2"];

    private static RecordBatch Paired(string? version, float[] paired, int n = 5)
    {
        RecordBatch batch = SchemaTraffic.Batch(Schema, n, new Random(1));
        return new RecordBatch
        {
            Count = batch.Count, Numeric = batch.Numeric, Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text,
            Embeddings = batch.Embeddings, PairedVersion = version, PairedScores = paired,
        };
    }

    private static float[] Scores(int n = 5) => [.. Enumerable.Range(0, n).SelectMany(i => new[] { 0.3f, 0.7f })];

    private static BatchError? Validate(RecordBatch batch) => BatchValidator.Validate(Schema, batch, 100, null, "v2", Versions.Contains);

    [Fact]
    public void A_paired_batch_naming_another_registered_version_passes() => Assert.Null(Validate(Paired("v1", Scores())));

    [Fact]
    public void An_unpaired_batch_passes() => Assert.Null(Validate(Paired(null, [])));

    [Fact]
    public void Paired_scores_of_the_wrong_length_name_the_expected_layout()
    {
        BatchError? error = Validate(Paired("v1", Scores()[..9]));
        Assert.Equal("batch.paired_scores", error?.Field);
        Assert.Equal("expected 5 records × 2 output values = 10 floats (the layout of scores), got 9", error!.Message);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "+Inf")]
    public void Non_finite_paired_scores_name_the_record_and_class(float value, string described)
    {
        float[] scores = Scores();
        scores[7] = value;
        BatchError? error = Validate(Paired("v1", scores));
        Assert.Equal("batch.paired_scores", error?.Field);
        Assert.Equal($"value 7 (record 3, class 'class1') is {described}", error!.Message);
    }

    [Fact]
    public void Paired_probabilities_outside_zero_one_are_rejected()
    {
        float[] scores = Scores();
        scores[4] = -0.1f;
        BatchError? error = Validate(Paired("v1", scores));
        Assert.Equal("batch.paired_scores", error?.Field);
        Assert.Contains("must lie in [0, 1]", error!.Message);
    }

    [Fact]
    public void A_paired_version_unknown_to_the_model_is_named()
    {
        BatchError? error = Validate(Paired("v9", Scores()));
        Assert.Equal("batch.paired_version", error?.Field);
        Assert.Equal("'v9' is not a version registered for the model", error!.Message);
    }

    [Fact]
    public void The_batch_own_version_cannot_be_its_paired_version()
    {
        BatchError? error = Validate(Paired("v2", Scores()));
        Assert.Equal("batch.paired_version", error?.Field);
        Assert.Contains("'v2' is the batch's own version", error!.Message);
    }

    [Fact]
    public void Paired_scores_without_a_version_and_a_version_without_scores_are_refused()
    {
        Assert.Equal("batch.paired_version", Validate(Paired(null, Scores()))?.Field);
        BatchError? error = Validate(Paired("v1", []));
        Assert.Equal("batch.paired_scores", error?.Field);
        Assert.Contains("no paired scores", error!.Message);
    }

    [Fact]
    public void A_regression_model_cannot_take_paired_scores()
    {
        ModelSchema regression = SchemaTraffic.Schema(numeric: 3, categorical: 0, output: OutputKind.Regression);
        RecordBatch batch = SchemaTraffic.Batch(regression, 4, new Random(2));
        var paired = new RecordBatch
        {
            Count = 4, Numeric = batch.Numeric, Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text, PairedVersion = "v1",
            PairedScores = new float[4],
        };
        BatchError? error = BatchValidator.Validate(regression, paired, 100, null, "v2", Versions.Contains);
        Assert.Equal("batch.paired_scores", error?.Field);
        Assert.Contains("regression", error!.Message);
    }
}
