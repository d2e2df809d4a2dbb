using System.Buffers;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>
/// Which column of a file feeds which part of a model's records, checked against the model's schema before anything
/// is sent, and the conversion of a chunk of rows into a columnar <see cref="RecordBatch"/>.
/// </summary>
/// <remarks>
/// A column is found by the name of what it feeds: a feature's or text field's name; <c>score.&lt;label&gt;</c> per
/// class of a classifier, <c>score</c> for a binary classifier or a regression; <c>embedding.0</c>,
/// <c>embedding.1</c>, … for the embedding; <c>request_id</c> (optional); for a replay of paired outputs, <c>paired.&lt;label&gt;</c>
/// per class (<c>paired</c> for a binary classifier): the trusted version's output on the same request. <c>--map name=column</c>
/// overrides a name.
/// </remarks>
internal sealed class ImportPlan
{
    public const string RequestIdName = "request_id";

    private static readonly string[] MissingWords = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"];

    private readonly Binding[] _numeric;
    private readonly Binding[] _categorical;
    private readonly Binding[] _text;
    private readonly Binding[] _scores;
    private readonly Binding[] _embedding;
    private readonly Binding? _requestId;
    private readonly bool _probabilities;
    private Binding[] _paired = [];

    private ImportPlan(Binding[] numeric, Binding[] categorical, Binding[] text, Binding[] scores, Binding[] embedding, Binding? requestId,
        bool probabilities, IReadOnlyList<int> selection, IReadOnlyList<string> ignored)
    {
        _numeric = numeric;
        _categorical = categorical;
        _text = text;
        _scores = scores;
        _embedding = embedding;
        _requestId = requestId;
        _probabilities = probabilities;
        Selection = selection;
        Ignored = ignored;
    }

    /// <summary>Indexes of the file's columns the import reads, in the order the chunks hold them.</summary>
    public IReadOnlyList<int> Selection { get; }

    /// <summary>Columns of the file no part of the records comes from.</summary>
    public IReadOnlyList<string> Ignored { get; }

    public bool HasEmbedding => _embedding.Length > 0;

    public bool HasRequestIds => _requestId is not null;

    /// <summary>What feeds a part of the record: the part (for messages), the file's column, and its place in the selection.</summary>
    private sealed record Binding(string Part, TableColumn Column, int Selected);

    private enum Need { Number, Category, Text, Identifier }

    /// <summary>Binds every part of <paramref name="model"/>'s records to a column of <paramref name="table"/>; every problem is told at once.</summary>
    /// <param name="paired">Also bind the trusted version's outputs (<c>paired.&lt;label&gt;</c>), for a replay of paired outputs.</param>
    public static ImportPlan Create(Model model, TableReader table, IReadOnlyDictionary<string, string> map, bool paired = false)
    {
        ModelSchema schema = model.Schema;
        var problems = new List<string>();
        var missing = new List<(string Part, string Column)>();
        var selection = new List<int>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < table.Columns.Count; i++)
        {
            index[table.Columns[i].Name] = i;
        }

        var parts = new HashSet<string>(StringComparer.Ordinal);
        Binding? Bind(string name, string part, Need need, bool optional = false)
        {
            parts.Add(name);
            string column = map.GetValueOrDefault(name, name);
            if (!index.TryGetValue(column, out int i))
            {
                if (!optional || map.ContainsKey(name))
                {
                    missing.Add((part, column));
                }

                return null;
            }

            TableColumn found = table.Columns[i];
            if (!Accepts(need, found.Type))
            {
                problems.Add($"column '{column}' holds {found.TypeName} values; {part} needs {Describe(need)}");
                return null;
            }

            int selected = selection.IndexOf(i);
            if (selected < 0)
            {
                selected = selection.Count;
                selection.Add(i);
            }

            return new Binding(part, found, selected);
        }

        Binding?[] numeric = schema.NumericFeatures.Select(f => Bind(f, $"numeric feature '{f}'", Need.Number)).ToArray();
        Binding?[] categorical = schema.CategoricalFeatures.Select(f => Bind(f, $"categorical feature '{f}'", Need.Category)).ToArray();
        Binding?[] text = schema.TextFields.Select(f => Bind(f, $"text field '{f}'", Need.Text)).ToArray();
        Binding?[] scores = ScoreNames(schema).Select(s => Bind(s.Name, s.Part, Need.Number)).ToArray();
        int width = (int)schema.EmbeddingWidth;
        string[] embeddingNames = Enumerable.Range(0, width).Select(i => $"embedding.{i}").ToArray();
        int present = embeddingNames.Count(n => index.ContainsKey(map.GetValueOrDefault(n, n)));
        parts.UnionWith(embeddingNames);
        Binding?[] embedding = present == 0 ? [] : embeddingNames.Select((n, i) => Bind(n, $"embedding value {i}", Need.Number)).ToArray();
        Binding? requestId = Bind(RequestIdName, "the request id", Need.Identifier, optional: true);
        Binding?[] pairedScores = [];
        if (paired && schema.OutputKind == OutputKind.Regression)
        {
            problems.Add($"model '{model.Name}''s outputs are a regression; paired outputs are compared per class");
        }
        else if (paired)
        {
            pairedScores = PairedNames(schema).Select(s => Bind(s.Name, s.Part, Need.Number)).ToArray();
        }

        foreach (string name in map.Keys.Where(k => !parts.Contains(k)))
        {
            IEnumerable<string> named = parts.Where(p => p != RequestIdName && !p.StartsWith("embedding.", StringComparison.Ordinal));
            string embeddingParts = width > 0 ? $", embedding.0 … embedding.{width - 1}" : "";
            problems.Add($"--map {name}=…: '{name}' is not a part of model '{model.Name}''s records (its parts: {string.Join(", ", named)}" +
                $"{embeddingParts}, {RequestIdName})");
        }

        if (missing.Count > 0)
        {
            problems.Insert(0, MissingMessage(table, missing, map.Count == 0));
        }

        if (problems.Count > 0)
        {
            throw new CliException(string.Join(Environment.NewLine + "  ", [$"{table.File.Name} cannot feed model '{model.Name}':", .. problems]));
        }

        var used = new HashSet<int>(selection);
        string[] ignored = table.Columns.Where((_, i) => !used.Contains(i)).Select(c => c.Name).ToArray();
        return new ImportPlan(numeric!, categorical!, text!, scores!, embedding!, requestId,
            schema.OutputKind is OutputKind.Classification or OutputKind.Binary, selection, ignored) { _paired = pairedScores! };
    }

    /// <summary>Whether the plan reads the trusted version's outputs (<c>paired.&lt;label&gt;</c>).</summary>
    public bool Paired => _paired.Length > 0;

    private static IEnumerable<(string Name, string Part)> PairedNames(ModelSchema schema) => schema.OutputKind switch
    {
        OutputKind.Binary => [("paired", "the trusted version's probability of the positive class")],
        _ => schema.ClassLabels.Select(l => ($"paired.{l}", $"the trusted version's probability of class '{l}'")),
    };

    /// <summary>The records of a chunk as a batch; a value its part cannot take is an error naming the row and column.</summary>
    public RecordBatch Build(TableChunk chunk)
    {
        int n = chunk.Rows;
        var batch = new RecordBatch { Records = (uint)n };
        batch.Numeric.AddRange(RowMajor(chunk, _numeric, ValueRule.Missing));
        batch.Scores.AddRange(RowMajor(chunk, _scores, _probabilities ? ValueRule.Probability : ValueRule.Finite));
        foreach (Binding binding in _categorical)
        {
            batch.Categorical.Add(Strings(chunk, binding));
        }

        foreach (Binding binding in _text)
        {
            batch.Text.Add(Strings(chunk, binding));
        }

        if (_embedding.Length > 0)
        {
            batch.Embeddings.AddRange(RowMajor(chunk, _embedding, ValueRule.Finite));
        }

        if (_requestId is not null)
        {
            batch.RequestIds = Strings(chunk, _requestId);
        }

        if (_paired.Length > 0)
        {
            batch.PairedScores.AddRange(RowMajor(chunk, _paired, ValueRule.Probability));
        }

        return batch;
    }

    private enum ValueRule { Missing, Finite, Probability }

    private static float[] RowMajor(TableChunk chunk, Binding[] bindings, ValueRule rule)
    {
        int n = chunk.Rows;
        int d = bindings.Length;
        var values = new float[n * d];
        for (int j = 0; j < d; j++)
        {
            Binding binding = bindings[j];
            switch (chunk[binding.Selected])
            {
                case double[] numbers:
                    for (int i = 0; i < n; i++)
                    {
                        float value = (float)numbers[i];
                        if (float.IsInfinity(value) && double.IsFinite(numbers[i]))
                        {
                            throw OutOfRange(chunk, i, binding, numbers[i].ToString("R", CultureInfo.InvariantCulture));
                        }

                        values[i * d + j] = Check(chunk, i, binding, value, null, rule);
                    }

                    break;
                case Int128?[] integers:
                    for (int i = 0; i < n; i++)
                    {
                        values[i * d + j] = Check(chunk, i, binding, integers[i] is Int128 v ? (float)v : float.NaN, null, rule);
                    }

                    break;
                case string?[] strings:
                    for (int i = 0; i < n; i++)
                    {
                        values[i * d + j] = Check(chunk, i, binding, Parse(chunk, i, binding, strings[i]), strings[i], rule);
                    }

                    break;
            }
        }

        return values;
    }

    private static float Parse(TableChunk chunk, int row, Binding binding, string? text)
    {
        ReadOnlySpan<char> value = text.AsSpan().Trim();
        if (float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out float number))
        {
            // A finite number beyond float's range parses as infinity, which would read as "missing".
            return !float.IsInfinity(number) || value.Contains("inf", StringComparison.OrdinalIgnoreCase) || value.Contains('∞')
                ? number
                : throw OutOfRange(chunk, row, binding, text!);
        }

        foreach (string word in MissingWords)
        {
            if (value.SequenceEqual(word))
            {
                return float.NaN;
            }
        }

        // numpy and pandas write "inf"; .NET reads only "Infinity".
        if (value.TrimStart('+').Equals("inf", StringComparison.OrdinalIgnoreCase))
        {
            return float.PositiveInfinity;
        }

        if (value.Equals("-inf", StringComparison.OrdinalIgnoreCase))
        {
            return float.NegativeInfinity;
        }

        throw new CliException($"{chunk.Where(row)}, column '{binding.Column.Name}': '{Shorten(text!)}' is not a number ({binding.Part} needs one; " +
            "an empty cell, NA or NaN means missing)");
    }

    private static CliException OutOfRange(TableChunk chunk, int row, Binding binding, string text) =>
        new($"{chunk.Where(row)}, column '{binding.Column.Name}': {Shorten(text)} is beyond the range of a 32-bit float (±3.4E+38), " +
            $"which {binding.Part} is sent as");

    private static float Check(TableChunk chunk, int row, Binding binding, float value, string? text, ValueRule rule)
    {
        if (rule == ValueRule.Missing || (float.IsFinite(value) && (rule == ValueRule.Finite || value is >= 0f and <= 1f)))
        {
            return value;
        }

        string shown = text is null ? value.ToString(CultureInfo.InvariantCulture) : $"'{Shorten(text)}'";
        string why = !float.IsFinite(value)
            ? float.IsNaN(value) ? "is missing, and every record needs it" : "is not finite, and it must be"
            : "is not a probability in [0, 1]";
        throw new CliException($"{chunk.Where(row)}, column '{binding.Column.Name}': {binding.Part} {shown} {why}");
    }

    private static StringColumn Strings(TableChunk chunk, Binding binding)
    {
        int n = chunk.Rows;
        var column = new StringColumn();
        var bytes = new ArrayBufferWriter<byte>(n * 8);
        uint end = 0;
        object values = chunk[binding.Selected];
        for (int i = 0; i < n; i++)
        {
            string text = values switch
            {
                string?[] strings => strings[i] ?? "",
                Int128?[] integers => integers[i]?.ToString(CultureInfo.InvariantCulture) ?? "",
                double[] numbers => double.IsNaN(numbers[i]) ? "" : numbers[i].ToString("R", CultureInfo.InvariantCulture),
                _ => "",
            };
            end += (uint)Encoding.UTF8.GetBytes(text, bytes);
            column.Ends.Add(end);
        }

        column.Utf8 = ByteString.CopyFrom(bytes.WrittenSpan);
        return column;
    }

    private static IEnumerable<(string Name, string Part)> ScoreNames(ModelSchema schema) => schema.OutputKind switch
    {
        OutputKind.Classification => schema.ClassLabels.Select(l => ($"score.{l}", $"the probability of class '{l}'")),
        OutputKind.Binary => [("score", "the probability of the positive class")],
        _ => [("score", "the predicted value")],
    };

    private static bool Accepts(Need need, ColumnType type) => type switch
    {
        ColumnType.Text => true,
        ColumnType.String => need is Need.Category or Need.Text or Need.Identifier,
        ColumnType.Integer => need is Need.Number or Need.Category or Need.Identifier,
        ColumnType.Float => need is Need.Number,
        _ => false,
    };

    private static string Describe(Need need) => need switch
    {
        Need.Number => "a number column (float, double or an integer type)",
        Need.Category => "a string or integer column",
        Need.Text => "a string column",
        _ => "a string or integer column",
    };

    private static string MissingMessage(TableReader table, List<(string Part, string Column)> missing, bool noMap)
    {
        var lines = new List<string> { $"it has no column for {missing.Count} part{(missing.Count == 1 ? "" : "s")} of the records:" };
        var embedding = missing.Where(m => m.Part.StartsWith("embedding value", StringComparison.Ordinal)).ToList();
        if (embedding.Count > 3)
        {
            // Hundreds of lines for one wide embedding would bury the rest.
            missing = missing.Except(embedding).ToList();
            lines.Add($"    {embedding.Count} embedding columns, such as {string.Join(", ", embedding.Take(3).Select(m => $"'{m.Column}'"))} " +
                "(an embedding comes from all of embedding.0 … embedding.<width-1>, or from none)");
        }

        foreach ((string part, string column) in missing)
        {
            string? near = Nearest(column, table.Columns.Select(c => c.Name));
            lines.Add($"    '{column}' ({part}){(near is null ? "" : $"; did you mean '{near}'?")}");
        }

        const int Shown = 40;
        string more = table.Columns.Count > Shown ? $" and {table.Columns.Count - Shown} more" : "";
        lines.Add($"  its columns are: {string.Join(", ", table.Columns.Take(Shown).Select(c => c.Name))}{more}");
        if (noMap)
        {
            lines.Add("  name a column for a part with --map <part>=<column>, e.g. --map " + $"{(missing.Count > 0 ? missing[0].Column : embedding[0].Column)}=<column>");
        }

        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The column whose name is the same but for case, or within two edits, if there is one.</summary>
    private static string? Nearest(string wanted, IEnumerable<string> names)
    {
        string? best = null;
        int bestDistance = 3;
        foreach (string name in names)
        {
            int distance = string.Equals(name, wanted, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(wanted, name);
            if (distance < bestDistance)
            {
                best = name;
                bestDistance = distance;
            }
        }

        return best;
    }

    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return int.MaxValue;
        }

        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 39), "…");
}
