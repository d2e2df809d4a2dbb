using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Ingest;

public sealed class BatchValidatorTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 3, categorical: 1, text: 1, classes: 2, embedding: 4);

    private static RecordBatch Valid(int n = 5) => SchemaTraffic.Batch(Schema, n, new Random(1));

    [Fact]
    public void A_valid_batch_passes() => Assert.Null(BatchValidator.Validate(Schema, Valid(), 100));

    [Fact]
    public void An_empty_batch_passes() => Assert.Null(BatchValidator.Validate(Schema, Valid(0), 100));

    [Fact]
    public void Too_many_records_names_the_limit()
    {
        BatchError? error = BatchValidator.Validate(Schema, Valid(5), maxRecords: 4);
        Assert.Equal("batch.records", error?.Field);
        Assert.Contains("5 records exceed the limit of 4", error!.Message);
    }

    [Fact]
    public void Numeric_width_mismatch_names_the_expected_shape()
    {
        RecordBatch batch = Valid();
        var bad = new RecordBatch { Count = 5, Numeric = batch.Numeric[..14], Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text };
        BatchError? error = BatchValidator.Validate(Schema, bad, 100);
        Assert.Equal("batch.numeric", error?.Field);
        Assert.Equal("expected 5 records × 3 numeric features = 15 floats, got 14", error!.Message);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "+Inf")]
    [InlineData(float.NegativeInfinity, "-Inf")]
    public void Non_finite_scores_name_the_record_and_class(float value, string described)
    {
        RecordBatch batch = Valid();
        float[] scores = batch.Scores.ToArray();
        scores[7] = value;
        BatchError? error = BatchValidator.Validate(Schema, With(batch, scores: scores), 100);
        Assert.Equal("batch.scores", error?.Field);
        Assert.Equal($"value 7 (record 3, class 'class1') is {described}", error!.Message);
    }

    [Fact]
    public void Probabilities_outside_zero_one_are_rejected()
    {
        RecordBatch batch = Valid();
        float[] scores = batch.Scores.ToArray();
        scores[2] = 1.5f;
        Assert.Contains("must lie in [0, 1]", BatchValidator.Validate(Schema, With(batch, scores: scores), 100)!.Message);
    }

    [Fact]
    public void NaN_in_numeric_features_is_a_missing_value_not_an_error()
    {
        RecordBatch batch = Valid();
        float[] numeric = batch.Numeric.ToArray();
        numeric[0] = float.NaN;
        numeric[4] = float.PositiveInfinity;
        Assert.Null(BatchValidator.Validate(Schema, With(batch, numeric: numeric), 100));
    }

    [Fact]
    public void Wrong_number_of_categorical_columns_is_rejected()
    {
        RecordBatch batch = Valid();
        BatchError? error = BatchValidator.Validate(Schema, With(batch, categorical: []), 100);
        Assert.Equal("batch.categorical", error?.Field);
        Assert.Equal("expected 1 columns (one per schema entry), got 0", error!.Message);
    }

    [Fact]
    public void Decreasing_end_offsets_are_rejected_naming_the_column()
    {
        var column = new Utf8Column(new byte[] { 97, 98, 99 }, new uint[] { 2, 1, 3, 3, 3 });
        BatchError? error = BatchValidator.Validate(Schema, With(Valid(), categorical: [column]), 100);
        Assert.Equal("batch.categorical[0] ('c0')", error?.Field);
        Assert.Contains("end offset 1 (1) is less than the one before (2)", error!.Message);
    }

    [Fact]
    public void End_offsets_must_cover_the_bytes_exactly()
    {
        var column = new Utf8Column(new byte[] { 97, 98, 99 }, new uint[] { 1, 1, 1, 1, 2 });
        Assert.Contains("the last end offset is 2 but the column holds 3 bytes",
            BatchValidator.Validate(Schema, With(Valid(), text: [column]), 100)!.Message);
    }

    [Fact]
    public void Invalid_utf8_is_rejected_naming_the_value()
    {
        var column = new Utf8Column(new byte[] { 0xE2, 0x82, 0xAC, 0xC3 }, new uint[] { 3, 4, 4, 4, 4 });
        BatchError? error = BatchValidator.Validate(Schema, With(Valid(), categorical: [column]), 100);
        Assert.Equal("value 1 is not valid UTF-8", error!.Message);
    }

    [Fact]
    public void Embedding_width_mismatch_and_non_finite_embeddings_are_rejected()
    {
        RecordBatch batch = Valid();
        Assert.Equal("batch.embeddings", BatchValidator.Validate(Schema, With(batch, embeddings: new float[19]), 100)?.Field);
        float[] embeddings = batch.Embeddings.ToArray();
        embeddings[9] = float.NaN;
        Assert.Equal("value 9 (record 2) is not finite", BatchValidator.Validate(Schema, With(batch, embeddings: embeddings), 100)!.Message);
    }

    [Fact]
    public void Embeddings_are_optional()
    {
        Assert.Null(BatchValidator.Validate(Schema, With(Valid(), embeddings: []), 100));
    }

    [Theory]
    [InlineData("a b c", 3, true)]
    [InlineData("a b c d", 3, false)]
    [InlineData("abcdef", 1, true)]
    [InlineData("  a  b  ", 2, true)]
    [InlineData("a\tb\nc", 2, false)]
    public void Tokens_per_record_are_counted_exactly_at_the_limit(string memo, int limit, bool accepted)
    {
        // Five records; the third carries the memo, the others one-byte tokens.
        RecordBatch batch = Valid();
        Utf8Column text = Utf8Column.FromStrings(["x", "y", memo, "z", "w"]);
        BatchError? error = BatchValidator.Validate(Schema, With(batch, text: [text]), 100, new TextLimits(1000, limit));
        Assert.Equal(accepted, error is null);
        if (!accepted)
        {
            Assert.Equal("tokens_per_record", error!.Limit);
            Assert.StartsWith("record 2 carries ", error.Message);
        }
    }

    [Theory]
    [InlineData("amount=12,currency=EUR;ref|x", 6, true)]
    [InlineData("amount=12,currency=EUR;ref|x", 5, false)]
    [InlineData("!!! ??? --- :-) 😀 😀 ok", 1, true)]
    [InlineData("a\u00A0b\u3000c", 2, false)]
    public void Tokens_are_what_the_tokenizer_reads_not_whitespace_runs(string memo, int limit, bool accepted)
    {
        RecordBatch batch = Valid();
        Utf8Column text = Utf8Column.FromStrings(["x", "y", memo, "z", "w"]);
        Assert.Equal(accepted, BatchValidator.Validate(Schema, With(batch, text: [text]), 100, new TextLimits(1000, limit)) is null);
    }

    [Fact]
    public void The_token_limit_counts_the_tokens_the_key_extractor_sees()
    {
        // One whitespace run, four tokens for the detectors.
        const string memo = "alpha,beta;gamma|delta";
        RecordBatch batch = With(Valid(), text: [Utf8Column.FromStrings(["x", "y", memo, "z", "w"])]);
        var extractor = new KeyExtractor(Schema, values: null, maxKeysPerRecord: 1000);
        int tokenKeys = extractor.Extract(batch, 2).Count(k => k.Kind == KeyKind.Token);
        Assert.Equal(4, tokenKeys);

        Assert.Null(BatchValidator.Validate(Schema, batch, 100, new TextLimits(1000, tokenKeys)));
        BatchError? error = BatchValidator.Validate(Schema, batch, 100, new TextLimits(1000, tokenKeys - 1));
        Assert.Equal($"record 2 carries {tokenKeys} tokens over its text fields; the limit is {tokenKeys - 1} (Monitor:Limits:MaxTokensPerRecord)", error?.Message);
    }

    private static RecordBatch With(RecordBatch batch, float[]? numeric = null, float[]? scores = null, Utf8Column[]? categorical = null,
        Utf8Column[]? text = null, float[]? embeddings = null) => new()
    {
        Count = batch.Count,
        Numeric = numeric ?? batch.Numeric,
        Scores = scores ?? batch.Scores,
        Categorical = categorical ?? batch.Categorical,
        Text = text ?? batch.Text,
        Embeddings = embeddings ?? batch.Embeddings,
    };
}
