extern alias drift;

using drift::Monitor.Cli;
using drift::Monitor.Cli.Baselines;
using Parquet;
using Parquet.Schema;

namespace Monitor.Cli.Tests;

/// <summary>The Parquet reader: chunks that cross row groups, nulls, exact 64-bit integers, and columns it cannot use.</summary>
public sealed class ParquetTableTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drift-parquet-").FullName;

    [Fact]
    public async Task Chunks_cross_row_groups_in_order_with_nulls_and_exact_integers()
    {
        string path = Path.Combine(_directory, "groups.parquet");
        var id = new DataField<long>("id");
        var value = new DataField<double?>("value");
        var name = new DataField<string>("name");
        await using (FileStream file = File.Create(path))
        {
            await using ParquetWriter writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, value, name), file);
            for (int group = 0; group < 3; group++)
            {
                int first = group * 1000;
                using ParquetRowGroupWriter rows = writer.CreateRowGroup();
                await rows.WriteAsync(id, (ReadOnlyMemory<long>)Enumerable.Range(first, 1000).Select(i => 1_234_567_890_123_456_000L + i).ToArray());
                await rows.WriteAsync(value, (ReadOnlyMemory<double?>)Enumerable.Range(first, 1000).Select(i => i % 7 == 0 ? (double?)null : i / 4.0).ToArray());
                await rows.WriteAsync(name, Enumerable.Range(first, 1000).Select(i => i % 5 == 0 ? null : $"n{i}").ToArray());
            }
        }

        await using TableReader table = await TableReader.OpenAsync(new FileInfo(path), null, null, CancellationToken.None);
        Assert.Equal([("id", ColumnType.Integer), ("value", ColumnType.Float), ("name", ColumnType.String)],
            table.Columns.Select(c => (c.Name, c.Type)));
        int[] selection = [2, 0, 1];
        var ids = new List<Int128?>();
        var values = new List<double>();
        var names = new List<string?>();
        var firstRows = new List<long>();
        while (await table.ReadAsync(selection, 700, CancellationToken.None) is { } chunk)
        {
            firstRows.Add(chunk.FirstRow);
            names.AddRange((string?[])chunk[0]);
            ids.AddRange((Int128?[])chunk[1]);
            values.AddRange((double[])chunk[2]);
        }

        // A chunk never spans two row groups: 700 + 300 per group.
        Assert.Equal([1L, 701, 1001, 1701, 2001, 2701], firstRows);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => (Int128?)(1_234_567_890_123_456_000L + i)), ids);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => i % 7 == 0 ? double.NaN : i / 4.0), values);
        Assert.Equal(Enumerable.Range(0, 3000).Select(i => i % 5 == 0 ? null : $"n{i}"), names);
        Assert.Equal(1.0, table.Fraction);
    }

    [Fact]
    public async Task A_file_that_is_not_Parquet_is_refused_by_name()
    {
        string path = Path.Combine(_directory, "text.parquet");
        await File.WriteAllTextAsync(path, "a,b\n1,2\n");
        CliException error = await Assert.ThrowsAsync<CliException>(() => TableReader.OpenAsync(new FileInfo(path), null, null, CancellationToken.None));
        Assert.Contains("text.parquet", error.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
