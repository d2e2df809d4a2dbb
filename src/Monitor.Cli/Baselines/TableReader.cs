namespace Monitor.Cli.Baselines;

/// <summary>What a column of a file holds, as far as an import cares.</summary>
internal enum ColumnType
{
    /// <summary>CSV: text to be parsed as whatever its target needs.</summary>
    Text,
    String,
    Integer,
    Float,
    /// <summary>Anything an import cannot use (dates, booleans, lists, structs): <see cref="TableColumn.TypeName"/> says what.</summary>
    Other,
}

internal sealed record TableColumn(string Name, ColumnType Type, string TypeName);

/// <summary>
/// Up to a batch of rows of the selected columns: each value array is <c>string?[]</c> (text and string columns),
/// <c>double[]</c> (floating-point numbers; NaN where the file has none) or <c>Int128?[]</c> (integers, exact).
/// </summary>
internal sealed class TableChunk(int rows, long firstRow, object[] values, Func<int, string> where)
{
    public int Rows => rows;

    /// <summary>Number of the chunk's first row among the file's data rows, from 1.</summary>
    public long FirstRow => firstRow;

    /// <summary>Values of the i-th selected column.</summary>
    public object this[int selected] => values[selected];

    /// <summary>Where row <paramref name="row"/> of the chunk is in the file, for messages: "line 17" or "row 16".</summary>
    public string Where(int row) => where(row);
}

/// <summary>A file of records read a batch at a time: CSV (or any delimiter) or Parquet.</summary>
internal abstract class TableReader : IAsyncDisposable
{
    protected TableReader(FileInfo file) => File = file;

    public FileInfo File { get; }

    public abstract string Format { get; }

    public abstract IReadOnlyList<TableColumn> Columns { get; }

    /// <summary>The share of the file read so far, from 0 to 1.</summary>
    public abstract double Fraction { get; }

    /// <summary>The next rows of the columns at <paramref name="selection"/> (indexes into <see cref="Columns"/>), or null at the end.</summary>
    public abstract ValueTask<TableChunk?> ReadAsync(IReadOnlyList<int> selection, int maxRows, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    /// <summary>Opens <paramref name="file"/>; the format is "csv", "tsv" or "parquet", or null to go by the file's extension.</summary>
    public static async Task<TableReader> OpenAsync(FileInfo file, string? format, char? delimiter, CancellationToken cancellationToken)
    {
        if (!file.Exists)
        {
            throw new CliException(Directory.Exists(file.FullName) ? $"{file.FullName} is a directory, not a file" : $"{file.FullName} does not exist");
        }

        format ??= file.Extension.ToLowerInvariant() switch
        {
            ".parquet" or ".pq" => "parquet",
            ".tsv" or ".tab" => "tsv",
            ".csv" or ".txt" => "csv",
            _ => throw new CliException($"cannot tell the format of {file.Name} from its extension; say --format csv, tsv or parquet"),
        };
        try
        {
            return format switch
            {
                "parquet" => await ParquetTable.OpenAsync(file, cancellationToken),
                "csv" => CsvTable.Open(file, delimiter ?? ','),
                "tsv" => CsvTable.Open(file, delimiter ?? '\t'),
                _ => throw new CliException($"--format: '{format}' is not csv, tsv or parquet", ExitCodes.Usage),
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {file.FullName}: {e.Message}");
        }
    }
}
