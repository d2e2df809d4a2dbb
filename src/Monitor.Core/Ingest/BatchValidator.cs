using System.Text.Unicode;
using Monitor.Core.Schema;
using Monitor.Core.Text;

namespace Monitor.Core.Ingest;

/// <summary>A reason a batch is rejected whole, naming the offending field; <see cref="Limit"/> names a configured limit it breached.</summary>
public sealed record BatchError(string Field, string Message, string? Limit = null)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>
/// Limits on the text a record carries: bytes per text value, tokens (<see cref="TextTokenizer"/>, as the detectors read them)
/// over all its text fields, bytes per categorical value and per request id. Bound from the Monitor:Limits configuration
/// section (these four keys of it), each range-checked by <see cref="Problems"/>.
/// </summary>
public sealed record TextLimits
{
    public TextLimits()
    {
    }

    public TextLimits(int maxTextBytes, int maxTokensPerRecord, int maxCategoryBytes = int.MaxValue, int maxRequestIdBytes = int.MaxValue)
    {
        MaxTextBytes = maxTextBytes;
        MaxTokensPerRecord = maxTokensPerRecord;
        MaxCategoryBytes = maxCategoryBytes;
        MaxRequestIdBytes = maxRequestIdBytes;
    }

    /// <summary>No limits.</summary>
    public static TextLimits None { get; } = new(int.MaxValue, int.MaxValue);

    /// <summary>Largest text value, in UTF-8 bytes.</summary>
    public int MaxTextBytes { get; init; } = 64 * 1024;

    /// <summary>Most tokens (as the detectors read them: runs of letters and digits) one record carries over all its text fields.</summary>
    public int MaxTokensPerRecord { get; init; } = 10_000;

    /// <summary>Largest categorical value, in UTF-8 bytes; a batch with a longer one is refused.</summary>
    public int MaxCategoryBytes { get; init; } = 256;

    /// <summary>Largest request id, in UTF-8 bytes; a batch with a longer one is refused.</summary>
    public int MaxRequestIdBytes { get; init; } = 256;

    /// <summary>What is out of range, each naming its key under <paramref name="section"/> (e.g. "Monitor:Limits").</summary>
    public IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:MaxTextBytes", MaxTextBytes, 1, int.MaxValue),
            SettingChecks.Range($"{section}:MaxTokensPerRecord", MaxTokensPerRecord, 1, int.MaxValue),
            SettingChecks.Range($"{section}:MaxCategoryBytes", MaxCategoryBytes, 1, int.MaxValue),
            SettingChecks.Range($"{section}:MaxRequestIdBytes", MaxRequestIdBytes, 1, int.MaxValue),
        ];
        return problems.OfType<string>();
    }
}

/// <summary>Checks a batch against its model's schema before anything of it is counted.</summary>
public static class BatchValidator
{
    /// <summary>Returns the first problem found, or null when the batch can be accepted.</summary>
    /// <param name="version">The version the batch is mirrored for (its paired version must be another), when known.</param>
    /// <param name="isVersion">Whether a name is a version registered for the model (the paired version must be one), when known.</param>
    public static BatchError? Validate(ModelSchema schema, RecordBatch batch, int maxRecords, TextLimits? textLimits = null, string? version = null,
        Func<string, bool>? isVersion = null)
    {
        int n = batch.Count;
        if (n < 0)
        {
            return new BatchError("batch.records", $"{n} is negative");
        }

        if (n > maxRecords)
        {
            return new BatchError("batch.records", $"{n} records exceed the limit of {maxRecords} per batch", "records_per_batch");
        }

        int d = schema.NumericFeatures.Length;
        if (batch.Numeric.Length != (long)n * d)
        {
            return new BatchError("batch.numeric",
                $"expected {n} records × {d} numeric features = {(long)n * d} floats, got {batch.Numeric.Length}");
        }

        int k = schema.OutputWidth;
        if (batch.Scores.Length != (long)n * k)
        {
            return new BatchError("batch.scores",
                $"expected {n} records × {k} output values = {(long)n * k} floats, got {batch.Scores.Length}");
        }

        if (CheckScores(schema, batch.Scores.Span, k) is { } scoreError)
        {
            return scoreError;
        }

        if (CheckPairing(schema, batch, n, k, version, isVersion) is { } pairedError)
        {
            return pairedError;
        }

        if (CheckColumns("batch.categorical", schema.CategoricalFeatures, batch.Categorical, n) is { } catError)
        {
            return catError;
        }

        if (CheckColumns("batch.text", schema.TextFields, batch.Text, n) is { } textError)
        {
            return textError;
        }

        if (textLimits is not null && CheckText(schema, batch.Text, n, textLimits) is { } limitError)
        {
            return limitError;
        }

        if (textLimits is not null && CheckCategories(schema, batch.Categorical, textLimits.MaxCategoryBytes) is { } categoryError)
        {
            return categoryError;
        }

        int e = schema.EmbeddingWidth;
        if (batch.Embeddings.Length != 0)
        {
            if (e == 0)
            {
                return new BatchError("batch.embeddings", "the model's schema declares no embedding");
            }

            if (batch.Embeddings.Length != (long)n * e)
            {
                return new BatchError("batch.embeddings",
                    $"expected {n} records × {e} embedding width = {(long)n * e} floats, got {batch.Embeddings.Length}");
            }

            int bad = IndexOfNonFinite(batch.Embeddings.Span);
            if (bad >= 0)
            {
                return new BatchError("batch.embeddings", $"value {bad} (record {bad / e}) is not finite");
            }
        }

        if (batch.RequestIds.Count != 0 && CheckColumn("batch.request_ids", batch.RequestIds, n) is { } idError)
        {
            return idError;
        }

        if (textLimits is not null && LongValue(batch.RequestIds, textLimits.MaxRequestIdBytes) is ({ } record, { } bytes))
        {
            return new BatchError("batch.request_ids",
                $"value {record} is {bytes} bytes; the limit is {textLimits.MaxRequestIdBytes} (Monitor:Limits:MaxRequestIdBytes)", "request_id_bytes");
        }

        return null;
    }

    /// <summary>
    /// The paired version's outputs, when the batch carries them: a version named, and not the batch's own, registered for the
    /// model; scores of the same layout as <c>scores</c>, finite, probabilities within [0, 1].
    /// </summary>
    private static BatchError? CheckPairing(ModelSchema schema, RecordBatch batch, int n, int k, string? version, Func<string, bool>? isVersion)
    {
        string paired = batch.PairedVersion ?? "";
        if (batch.PairedScores.Length == 0)
        {
            return paired.Length == 0 ? null
                : new BatchError("batch.paired_scores", $"paired_version '{paired}' is named but the batch carries no paired scores; send both or neither");
        }

        if (paired.Length == 0)
        {
            return new BatchError("batch.paired_version", "required when paired_scores are sent: the version that produced them");
        }

        if (schema.OutputKind == OutputKind.Regression)
        {
            return new BatchError("batch.paired_scores", "paired evidence is compared per class; the model's outputs are a regression");
        }

        if (batch.PairedScores.Length != (long)n * k)
        {
            return new BatchError("batch.paired_scores",
                $"expected {n} records × {k} output values = {(long)n * k} floats (the layout of scores), got {batch.PairedScores.Length}");
        }

        if (version is not null && string.Equals(paired, version, StringComparison.Ordinal))
        {
            return new BatchError("batch.paired_version",
                $"'{paired}' is the batch's own version; paired scores are another version's (the trusted one) on the same requests");
        }

        if (isVersion is not null && !isVersion(paired))
        {
            return new BatchError("batch.paired_version", $"'{Text.Printable.Escape(paired.Length <= 128 ? paired : paired[..128])}' is not a version registered for the model");
        }

        return CheckScores(schema, batch.PairedScores.Span, k, "batch.paired_scores");
    }

    private static BatchError? CheckScores(ModelSchema schema, ReadOnlySpan<float> scores, int k, string field = "batch.scores")
    {
        int bad = IndexOfNonFinite(scores);
        if (bad >= 0)
        {
            string label = schema.OutputKind == OutputKind.Classification ? $", class '{schema.ClassLabels[bad % k]}'" : "";
            return new BatchError(field, $"value {bad} (record {bad / k}{label}) is {Describe(scores[bad])}");
        }

        if (schema.OutputKind is OutputKind.Classification or OutputKind.Binary)
        {
            for (int i = 0; i < scores.Length; i++)
            {
                if (scores[i] is < 0f or > 1f)
                {
                    return new BatchError(field,
                        $"value {i} (record {i / k}) is {scores[i]}; probabilities must lie in [0, 1]");
                }
            }
        }

        return null;
    }

    private static BatchError? CheckColumns(string field, string[] names, Utf8Column[] columns, int n)
    {
        if (columns.Length != names.Length)
        {
            return new BatchError(field, $"expected {names.Length} columns (one per schema entry), got {columns.Length}");
        }

        for (int c = 0; c < columns.Length; c++)
        {
            if (CheckColumn($"{field}[{c}] ('{names[c]}')", columns[c], n) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private static BatchError? CheckText(ModelSchema schema, Utf8Column[] columns, int n, TextLimits limits)
    {
        for (int c = 0; c < columns.Length; c++)
        {
            ReadOnlySpan<uint> ends = columns[c].Ends.Span;
            uint start = 0;
            for (int i = 0; i < ends.Length; i++)
            {
                if (ends[i] - start > limits.MaxTextBytes)
                {
                    return new BatchError($"batch.text[{c}] ('{schema.TextFields[c]}')",
                        $"value {i} is {ends[i] - start} bytes; the limit is {limits.MaxTextBytes} (Monitor:Limits:MaxTextBytes)", "text_bytes");
                }

                start = ends[i];
            }
        }

        if (limits.MaxTokensPerRecord == int.MaxValue || columns.Length == 0)
        {
            return null;
        }

        for (int i = 0; i < n; i++)
        {
            // A record whose bound is within the limit cannot exceed it: tokenize only the others. Any text holds
            // fewer than 2 tokens per byte; ASCII text, which needs a look at every byte, far fewer.
            long bytes = 0;
            foreach (Utf8Column column in columns)
            {
                bytes += column.Get(i).Length;
            }

            if (2 * bytes <= limits.MaxTokensPerRecord)
            {
                continue;
            }

            long bound = 0;
            foreach (Utf8Column column in columns)
            {
                bound += TextTokenizer.MaxTokens(column.Get(i));
            }

            if (bound <= limits.MaxTokensPerRecord)
            {
                continue;
            }

            long tokens = 0;
            foreach (Utf8Column column in columns)
            {
                tokens += TextTokenizer.CountTokens(column.Get(i));
            }

            if (tokens > limits.MaxTokensPerRecord)
            {
                return new BatchError("batch.text",
                    $"record {i} carries {tokens} tokens over its text fields; the limit is {limits.MaxTokensPerRecord} (Monitor:Limits:MaxTokensPerRecord)",
                    "tokens_per_record");
            }
        }

        return null;
    }

    private static BatchError? CheckCategories(ModelSchema schema, Utf8Column[] columns, int maxBytes)
    {
        for (int c = 0; c < columns.Length; c++)
        {
            if (LongValue(columns[c], maxBytes) is ({ } record, { } bytes))
            {
                return new BatchError($"batch.categorical[{c}] ('{schema.CategoricalFeatures[c]}')",
                    $"value {record} is {bytes} bytes; the limit is {maxBytes} (Monitor:Limits:MaxCategoryBytes)", "category_bytes");
            }
        }

        return null;
    }

    /// <summary>The first value of a (checked) column longer than <paramref name="maxBytes"/>, and its length.</summary>
    private static (int? Record, uint? Bytes) LongValue(Utf8Column column, int maxBytes)
    {
        if (column.Data.Length <= maxBytes)
        {
            return (null, null);
        }

        ReadOnlySpan<uint> ends = column.Ends.Span;
        uint start = 0;
        for (int i = 0; i < ends.Length; i++)
        {
            if (ends[i] - start > maxBytes)
            {
                return (i, ends[i] - start);
            }

            start = ends[i];
        }

        return (null, null);
    }

    private static BatchError? CheckColumn(string field, Utf8Column column, int n)
    {
        if (column.Count != n)
        {
            return new BatchError(field, $"expected {n} end offsets, got {column.Count}");
        }

        ReadOnlySpan<uint> ends = column.Ends.Span;
        uint previous = 0;
        for (int i = 0; i < ends.Length; i++)
        {
            if (ends[i] < previous)
            {
                return new BatchError(field, $"end offset {i} ({ends[i]}) is less than the one before ({previous})");
            }

            previous = ends[i];
        }

        if (previous != column.Data.Length)
        {
            return new BatchError(field, $"the last end offset is {previous} but the column holds {column.Data.Length} bytes");
        }

        for (int i = 0; i < n; i++)
        {
            if (!Utf8.IsValid(column.Get(i)))
            {
                return new BatchError(field, $"value {i} is not valid UTF-8");
            }
        }

        return null;
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static string Describe(float value) =>
        float.IsNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
}
