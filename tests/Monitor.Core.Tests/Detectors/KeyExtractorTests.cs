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
    public void Against_a_legacy_baseline_one_limit_over_all_keys_keeps_values_and_tokens_before_pairs()
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

    [Fact]
    public void Every_feature_of_a_wide_record_is_keyed_and_a_long_text_is_cut_within_its_own_budget()
    {
        // 100 numeric features and a text of 40 tokens: before budgets per kind, keys stopped at 96 in feature order.
        ModelSchema schema = SchemaTraffic.Schema(numeric: 100, categorical: 2, text: 1);
        var values = new ValueKeyTables { FineEdges = [.. Enumerable.Range(0, 100).Select(_ => new[] { 0f, 1f, 2f })] };
        var extractor = new KeyExtractor(schema, values, maxKeysPerRecord: 20, maxConjunctionsPerRecord: 0, vocabulary: KeyExtractor.Vocabulary);
        string text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i}"));
        var batch = new RecordBatch
        {
            Count = 1,
            Numeric = Enumerable.Range(0, 100).Select(f => 0.25f + f % 2).ToArray(),
            Scores = new[] { 0.5f, 0.5f },
            Categorical = [Utf8Column.FromStrings(["red"]), Utf8Column.FromStrings(["blue"])],
            Text = [Utf8Column.FromStrings([text])],
        };

        DetectorKey[] keys = [.. extractor.Extract(batch, 0).Select(extractor.Describe)];
        for (int f = 0; f < 100; f++)
        {
            Assert.Contains(keys, k => k.Kind == KeyKind.FineBin && k.Field == $"x{f}");
            Assert.Contains(keys, k => k.Kind == KeyKind.Value && k.Field == $"x{f}");
        }

        Assert.Contains(new DetectorKey(KeyKind.Category, "c1", "blue"), keys);
        Assert.Equal(20, keys.Count(k => k.Detector == DetectorId.D1));
        Assert.Equal(1, extractor.TextCut);
        Assert.Equal(0, extractor.ConjunctionCut);
    }

    [Fact]
    public void A_text_with_exactly_as_many_keys_as_the_budget_is_not_counted_as_cut()
    {
        ModelSchema schema = SchemaTraffic.Schema(numeric: 1, categorical: 1, text: 1);
        var batch = new RecordBatch
        {
            Count = 2,
            Numeric = new[] { 0.5f, 0.5f },
            Scores = new[] { 0.5f, 0.5f, 0.5f, 0.5f },
            Categorical = [Utf8Column.FromStrings(["red", "red"])],
            Text = [Utf8Column.FromStrings(["alpha", "alpha beta"])],
        };

        // "alpha": one token key. "alpha beta": two tokens, a bigram and a pair: one key over a budget of 1.
        var extractor = new KeyExtractor(schema, Values, maxKeysPerRecord: 1, maxConjunctionsPerRecord: 0, vocabulary: KeyExtractor.Vocabulary);
        Assert.Single(extractor.Extract(batch, 0), k => k.Kind == KeyKind.Token);
        Assert.Equal(0, extractor.TextCut);
        Assert.Single(extractor.Extract(batch, 1), k => k.Kind == KeyKind.Token);
        Assert.Equal(1, extractor.TextCut);
    }

    [Theory]
    [InlineData(12.37f, ".37")]
    [InlineData(-0.05f, ".05")]
    [InlineData(1234f, "ends in 34")]
    [InlineData(1500f, "multiple of 100")]
    [InlineData(-2000f, "multiple of 1000")]
    [InlineData(9999.99f, ".99")]
    public void Values_with_a_pattern_get_a_pattern_key(float value, string pattern)
    {
        Assert.Equal(pattern, KeyExtractor.DescribePattern(KeyExtractor.PatternOf(value)!.Value));
    }

    [Theory]
    [InlineData(7f)]
    [InlineData(0f)]
    [InlineData(0.123456f)]
    [InlineData(12.375f)]
    [InlineData(float.NaN)]
    public void Small_integers_and_values_with_more_decimals_have_no_pattern(float value)
    {
        Assert.Null(KeyExtractor.PatternOf(value));
    }

    [Fact]
    public void Conjunctions_pair_categories_with_rare_numeric_parts_and_hash_as_the_baseline_table_stores_them()
    {
        ModelSchema schema = SchemaTraffic.Schema(numeric: 3, categorical: 1, text: 0);
        float[] edges = [.. Enumerable.Range(0, 101).Select(e => (float)e)];
        var values = new ValueKeyTables { FineEdges = [edges, edges, edges] };
        var batch = new RecordBatch
        {
            Count = 2,
            Numeric = new[] { 50.123f, 0.37f, 99.25f, 50.123f, 0.37f, 99.25f },
            Scores = new[] { 0.5f, 0.5f, 0.5f, 0.5f },
            Categorical = [Utf8Column.FromStrings(["red", "red"])],
            Text = [],
        };

        // x0's bin is interior (never a part); x1's and x2's bins are the lowest and highest in range, and they and their patterns are rare.
        var plain = new KeyExtractor(schema, values, 96, 0, KeyExtractor.Vocabulary);
        var shares = new Dictionary<ulong, float>();
        foreach (KeyOccurrence key in plain.Extract(batch, 0))
        {
            shares[key.Hash] = key.Kind == KeyKind.FineBin && key.Field == 0 ? 0.3f : 0.001f;
        }

        var extractor = new KeyExtractor(schema, values, 96, 48, KeyExtractor.Vocabulary, shares);
        List<KeyOccurrence> conjunctions = [.. extractor.Extract(batch, 0).Where(k => k.Kind is KeyKind.Conjunction or KeyKind.Region)];
        DetectorKey[] described = [.. conjunctions.Select(extractor.Describe)];
        Assert.Contains(new DetectorKey(KeyKind.Conjunction, "c0 & x1", "'red' & .37"), described);
        Assert.Contains(new DetectorKey(KeyKind.Conjunction, "x1 & x2", ".37 & .25"), described);
        Assert.Contains(new DetectorKey(KeyKind.Region, "c0 & x2", "'red' & [99, 100)"), described);
        Assert.Contains(new DetectorKey(KeyKind.Region, "x1 & x2", "[0, 1) & [99, 100)"), described);
        Assert.All(described.Where(k => k.Kind == KeyKind.Region), k => Assert.True(k.ReportOnly));
        Assert.DoesNotContain(described, k => k.Field.Contains("x0", StringComparison.Ordinal));
        Assert.DoesNotContain(described, k => k.Field is "x1 & x1" or "x2 & x2");

        // A stored baseline key rebuilt from kind, field and payload hashes as the live occurrence does.
        foreach (KeyOccurrence key in conjunctions)
        {
            var stored = new BaselineKey { Kind = key.Kind, Field = key.Field, Text = "", Payload = KeyExtractor.PayloadOf(key), Support = 1, LabelCounts = [] };
            Assert.Equal(key.Hash, stored.Hash());
        }

        // The same record gives the same conjunctions.
        Assert.Equal(conjunctions.Select(k => k.Hash), extractor.Extract(batch, 1).Where(k => k.Kind is KeyKind.Conjunction or KeyKind.Region).Select(k => k.Hash));
    }

    [Fact]
    public void A_budget_too_small_for_every_rare_part_pairs_the_rarest_and_counts_the_cut()
    {
        ModelSchema schema = SchemaTraffic.Schema(numeric: 6, categorical: 1, text: 0);
        float[] edges = [.. Enumerable.Range(0, 101).Select(e => (float)e)];
        var values = new ValueKeyTables { FineEdges = [.. Enumerable.Range(0, 6).Select(_ => edges)] };
        var batch = new RecordBatch
        {
            Count = 1,
            Numeric = new[] { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f },
            Scores = new[] { 0.5f, 0.5f },
            Categorical = [Utf8Column.FromStrings(["red"])],
            Text = [],
        };
        var plain = new KeyExtractor(schema, values, 96, 0, KeyExtractor.Vocabulary);
        var shares = new Dictionary<ulong, float>();
        foreach (KeyOccurrence key in plain.Extract(batch, 0))
        {
            // x5 rarest, then x4, ...; patterns (.50) common.
            shares[key.Hash] = key.Kind == KeyKind.FineBin ? 0.001f * (6 - key.Field) : 0.5f;
        }

        // One category: t parts take t + t(t-1)/2 keys; 6 fit three parts.
        var extractor = new KeyExtractor(schema, values, 96, 6, KeyExtractor.Vocabulary, shares);
        DetectorKey[] described = [.. extractor.Extract(batch, 0).Where(k => k.Kind is KeyKind.Conjunction or KeyKind.Region).Select(extractor.Describe)];
        Assert.Equal(6, described.Length);
        Assert.All(described, k => Assert.DoesNotMatch("x[0-2]", k.Field));
        Assert.Equal(1, extractor.ConjunctionCut);
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
