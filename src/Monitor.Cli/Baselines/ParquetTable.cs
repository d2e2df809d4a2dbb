using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace Monitor.Cli.Baselines;

/// <summary>A Parquet file read a row group at a time; only its flat (non-repeated, non-nested) columns can be imported.</summary>
internal sealed class ParquetTable : TableReader
{
    private readonly ParquetReader _reader;
    private readonly DataField?[] _fields;
    private readonly TableColumn[] _columns;
    private readonly long _totalRows;
    private int _nextGroup;
    private object[]? _group;
    private IReadOnlyList<int>? _groupSelection;
    private int _groupRows;
    private int _groupOffset;
    private long _rowsRead;

    private ParquetTable(FileInfo file, ParquetReader reader) : base(file)
    {
        _reader = reader;
        Field[] top = reader.Schema.Fields.ToArray();
        _fields = top.Select(f => f is DataField { MaxRepetitionLevel: 0 } data ? data : null).ToArray();
        _columns = top.Select((f, i) => _fields[i] is { } data ? Describe(data) : new TableColumn(f.Name, ColumnType.Other, f.SchemaType.ToString().ToLowerInvariant()))
            .ToArray();
        _totalRows = reader.Metadata?.NumRows ?? 0;
    }

    public override string Format => "parquet";

    public override IReadOnlyList<TableColumn> Columns => _columns;

    public override double Fraction => _totalRows == 0 ? 1 : (double)_rowsRead / _totalRows;

    public static async Task<ParquetTable> OpenAsync(FileInfo file, CancellationToken cancellationToken)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(file.FullName, null, cancellationToken);
        }
        catch (Exception e) when (e is not (OperationCanceledException or IOException or UnauthorizedAccessException))
        {
            throw new CliException($"{file.Name} is not a Parquet file this tool can read: {e.Message}");
        }

        return new ParquetTable(file, reader);
    }

    public override async ValueTask<TableChunk?> ReadAsync(IReadOnlyList<int> selection, int maxRows, CancellationToken cancellationToken)
    {
        while (_group is null || _groupOffset == _groupRows || !ReferenceEquals(selection, _groupSelection))
        {
            if (_group is not null && _groupOffset < _groupRows)
            {
                throw new InvalidOperationException("the selection changed in the middle of a row group");
            }

            if (_nextGroup == _reader.RowGroupCount)
            {
                return null;
            }

            await LoadGroupAsync(_nextGroup++, selection, cancellationToken);
        }

        int rows = Math.Min(maxRows, _groupRows - _groupOffset);
        int offset = _groupOffset;
        var values = new object[selection.Count];
        for (int s = 0; s < values.Length; s++)
        {
            values[s] = _group[s] switch
            {
                double[] numbers => numbers.AsSpan(offset, rows).ToArray(),
                Int128?[] integers => integers.AsSpan(offset, rows).ToArray(),
                string?[] strings => strings.AsSpan(offset, rows).ToArray(),
                _ => throw new InvalidOperationException("a column read as neither numbers nor strings"),
            };
        }

        long first = _rowsRead + 1;
        int group = _nextGroup - 1;
        _groupOffset += rows;
        _rowsRead += rows;
        return new TableChunk(rows, first, values, row => $"row {first + row} (row group {group})");
    }

    public override async ValueTask DisposeAsync() => await _reader.DisposeAsync();

    private async Task LoadGroupAsync(int index, IReadOnlyList<int> selection, CancellationToken cancellationToken)
    {
        using ParquetRowGroupReader group = _reader.OpenRowGroupReader(index);
        if (group.RowCount > int.MaxValue)
        {
            throw new CliException($"{File.Name}: row group {index} holds {group.RowCount} rows, more than this tool reads at once");
        }

        int rows = (int)group.RowCount;
        var values = new object[selection.Count];
        for (int s = 0; s < selection.Count; s++)
        {
            DataField field = _fields[selection[s]] ?? throw new InvalidOperationException($"column {selection[s]} cannot be read");
            values[s] = Describe(field).Type == ColumnType.String
                ? await ReadStringsAsync(group, field, rows, cancellationToken)
                : field.ClrType switch
                {
                    Type t when t == typeof(double) => await ReadNumbersAsync<double>(group, field, rows, cancellationToken),
                    Type t when t == typeof(float) => await ReadNumbersAsync<float>(group, field, rows, cancellationToken),
                    Type t when t == typeof(decimal) => await ReadNumbersAsync<decimal>(group, field, rows, cancellationToken),
                    Type t when t == typeof(long) => await ReadIntegersAsync<long>(group, field, rows, cancellationToken),
                    Type t when t == typeof(int) => await ReadIntegersAsync<int>(group, field, rows, cancellationToken),
                    Type t when t == typeof(short) => await ReadIntegersAsync<short>(group, field, rows, cancellationToken),
                    Type t when t == typeof(sbyte) => await ReadIntegersAsync<sbyte>(group, field, rows, cancellationToken),
                    Type t when t == typeof(ulong) => await ReadIntegersAsync<ulong>(group, field, rows, cancellationToken),
                    Type t when t == typeof(uint) => await ReadIntegersAsync<uint>(group, field, rows, cancellationToken),
                    Type t when t == typeof(ushort) => await ReadIntegersAsync<ushort>(group, field, rows, cancellationToken),
                    Type t when t == typeof(byte) => await ReadIntegersAsync<byte>(group, field, rows, cancellationToken),
                    _ => throw new InvalidOperationException($"column '{field.Name}' of type {field.ClrType.Name} cannot be read"),
                };
        }

        _group = values;
        _groupSelection = selection;
        _groupRows = rows;
        _groupOffset = 0;
    }

    private static async Task<double[]> ReadNumbersAsync<T>(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
        where T : struct, INumberBase<T>
    {
        T?[] read = await ReadValuesAsync<T>(group, field, rows, cancellationToken);
        var numbers = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            numbers[i] = read[i] is T value ? double.CreateTruncating(value) : double.NaN;
        }

        return numbers;
    }

    /// <summary>Integers kept exact (a 64-bit id or category code does not fit a double), null where the file has none.</summary>
    private static async Task<Int128?[]> ReadIntegersAsync<T>(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
        where T : struct, IBinaryInteger<T>
    {
        T?[] read = await ReadValuesAsync<T>(group, field, rows, cancellationToken);
        var integers = new Int128?[rows];
        for (int i = 0; i < rows; i++)
        {
            integers[i] = read[i] is T value ? Int128.CreateTruncating(value) : null;
        }

        return integers;
    }

    /// <summary>
    /// A column's values, null where the file has none. A required column has no definition levels and is read as plain
    /// values; only an optional one goes through the library's merge of values and definition levels.
    /// </summary>
    private static async Task<T?[]> ReadValuesAsync<T>(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
        where T : struct
    {
        var read = new T?[rows];
        if (field.MaxDefinitionLevel == 0)
        {
            var values = new T[rows];
            await group.ReadAsync<T>(field, values.AsMemory(), null, cancellationToken);
            for (int i = 0; i < rows; i++)
            {
                read[i] = values[i];
            }
        }
        else
        {
            await group.ReadAsync<T>(field, read.AsMemory(), null, cancellationToken);
        }

        return read;
    }

    private static async Task<string?[]> ReadStringsAsync(ParquetRowGroupReader group, DataField field, int rows, CancellationToken cancellationToken)
    {
        var read = new string?[rows];
        await group.ReadAsync(field, read.AsMemory()!, null, cancellationToken);
        return read;
    }

    private static TableColumn Describe(DataField field)
    {
        Type type = field.ClrType;
        ColumnType kind =
            type == typeof(string) || type == typeof(ReadOnlyMemory<char>) ? ColumnType.String
            : type == typeof(double) || type == typeof(float) || type == typeof(decimal) ? ColumnType.Float
            : type == typeof(long) || type == typeof(int) || type == typeof(short) || type == typeof(sbyte)
              || type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort) || type == typeof(byte) ? ColumnType.Integer
            : ColumnType.Other;
        string name = kind == ColumnType.String ? "string" : type.Name;
        return new TableColumn(field.Name, kind, name);
    }
}
