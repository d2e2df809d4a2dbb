using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Detectors;

public sealed class KeyExtractorTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 1, categorical: 1, text: 1);

    private static readonly ValueKeyTables Values = new() { FineEdges = [[0f, 1f, 2f]] };

    [Fact]
    public void Digit_variants_case_and_width_collapse_to_one_key()
    {
        DetectorKey[] a = Keys("Payment REF:XZ-4471 thanks");
        DetectorKey[] b = Keys("ref:xz-9902 payment");
        DetectorKey[] c = Keys("ＲＥＦ：ＸＺ-12 x");
        DetectorKey variant = new(KeyKind.Variant, "t0", "ref:xz-#");
        Assert.Contains(variant, a);
        Assert.Contains(variant, b);
        Assert.Contains(variant, c);
        Assert.Contains(new DetectorKey(KeyKind.Token, "t0", "ref:xz-4471"), a);
        Assert.Contains(new DetectorKey(KeyKind.Bigram, "t0", "payment ref:xz-4471"), a);
        Assert.Contains(new DetectorKey(KeyKind.Pair, "t0", "payment+thanks"), a);
        Assert.Contains(new DetectorKey(KeyKind.CharGram, "t0", "ef:xz"), a);
    }

    [Fact]
    public void Values_give_category_exact_value_and_fine_bin_keys()
    {
        DetectorKey[] keys = Keys("x", category: "red", value: 1.5f);
        Assert.Contains(new DetectorKey(KeyKind.Category, "c0", "red"), keys);
        Assert.Contains(new DetectorKey(KeyKind.Value, "x0", "= 1.5"), keys);
        Assert.Contains(new DetectorKey(KeyKind.FineBin, "x0", "[1, 2)"), keys);
    }

    [Fact]
    public void The_per_record_limit_keeps_values_and_tokens_before_pairs()
    {
        var extractor = new KeyExtractor(Schema, Values, maxKeysPerRecord: 12);
        string text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i}"));
        RecordBatch batch = Batch(text, "red", 0.5f);
        DetectorKey[] keys = [.. extractor.Extract(batch, 0).Select(extractor.Describe)];
        Assert.Equal(12, keys.Length);
        Assert.Equal(1, extractor.Truncated);
        Assert.Contains(new DetectorKey(KeyKind.Category, "c0", "red"), keys);
        Assert.DoesNotContain(keys, k => k.Kind == KeyKind.Pair);
    }

    private static DetectorKey[] Keys(string text, string category = "red", float value = 0.5f)
    {
        var extractor = new KeyExtractor(Schema, Values, maxKeysPerRecord: 200);
        RecordBatch batch = Batch(text, category, value);
        return [.. extractor.Extract(batch, 0).Select(extractor.Describe)];
    }

    private static RecordBatch Batch(string text, string category, float value) => new()
    {
        Count = 1,
        Numeric = new[] { value },
        Scores = new[] { 0.5f, 0.5f },
        Categorical = [Utf8Column.FromStrings([category])],
        Text = [Utf8Column.FromStrings([text])],
    };
}
