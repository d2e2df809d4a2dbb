extern alias drift;

using System.Text;
using drift::Monitor.Cli;
using drift::Monitor.Cli.Baselines;

namespace Monitor.Cli.Tests;

/// <summary>The delimited-text reader against files with every quoting and line-ending case, and the errors for broken ones.</summary>
public sealed class CsvTableTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drift-csv-").FullName;

    [Fact]
    public async Task Quoted_fields_hold_delimiters_quotes_and_every_kind_of_line_break_and_lines_are_counted_through_them()
    {
        // Line 1 header; line 2 a record; lines 3-5 one record whose quoted field spans LF and CRLF; a blank line (6);
        // a record ending in a lone CR (7); a record with a trailing delimiter and no final line break (8).
        string text = "a,b,c\r\n" +
            "1,\"x, y\",plain\n" +
            "2,\"he said \"\"hi\"\"\nsecond\r\nthird\",z\n" +
            "\n" +
            "3,,\"\"\r" +
            "4,last,";
        (string[][] rows, string[] where) = await ReadAllAsync(Write("quoting.csv", text));

        Assert.Equal(
        [
            ["1", "x, y", "plain"],
            ["2", "he said \"hi\"\nsecond\r\nthird", "z"],
            ["3", "", ""],
            ["4", "last", ""],
        ], rows);
        Assert.Equal(["line 2", "line 3", "line 7", "line 8"], where);
    }

    [Fact]
    public async Task A_BOM_is_skipped_a_tab_file_is_split_on_tabs_and_the_header_is_trimmed()
    {
        byte[] bom = [0xEF, 0xBB, 0xBF];
        string path = Write("data.tsv", "", [.. bom, .. Encoding.UTF8.GetBytes(" id \tnote\n7\tcafé, naïve\n")]);
        await using TableReader table = await TableReader.OpenAsync(new FileInfo(path), null, null, CancellationToken.None);
        Assert.Equal(["id", "note"], table.Columns.Select(c => c.Name));
        Assert.Equal("tsv", table.Format);
        TableChunk chunk = (await table.ReadAsync([0, 1], 10, CancellationToken.None))!;
        Assert.Equal(("7", "café, naïve"), (((string?[])chunk[0])[0], ((string?[])chunk[1])[0]));
        Assert.Equal(1.0, table.Fraction);
    }

    [Theory]
    [InlineData("a,b\n1,\"open\n2,3\n", "the quoted field that opens on line 2 is never closed")]
    [InlineData("a,b\n1,\"x\"y\n", "line 2: 'y' after the closing quote of a field")]
    [InlineData("a,b\n1,2\n3\n", "line 3: 1 fields, but the header names 2 columns")]
    [InlineData("a,a\n1,2\n", "the header names column 'a' twice")]
    [InlineData("", "is empty: it needs a header row")]
    public async Task A_broken_file_is_refused_naming_the_line(string text, string message)
    {
        string path = Write("broken.csv", text);
        CliException error = await Assert.ThrowsAsync<CliException>(() => ReadAllAsync(path));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Bytes_that_are_not_UTF8_are_refused_with_or_without_a_BOM(bool bom)
    {
        byte[] body = [.. Encoding.ASCII.GetBytes("a,b\n1,2\n3,caf"), 0xE9, .. Encoding.ASCII.GetBytes("\n")];
        string path = Write("latin1.csv", "", bom ? [0xEF, 0xBB, 0xBF, .. body] : body);
        CliException error = await Assert.ThrowsAsync<CliException>(() => ReadAllAsync(path));
        Assert.Contains("latin1.csv is not UTF-8 text: an invalid byte sequence (bytes E9", error.Message);
    }

    [Fact]
    public async Task Rows_come_in_chunks_of_the_asked_size_with_their_row_numbers()
    {
        string path = Write("many.csv", "n\n" + string.Concat(Enumerable.Range(1, 25).Select(i => $"{i}\n")));
        await using TableReader table = await TableReader.OpenAsync(new FileInfo(path), "csv", null, CancellationToken.None);
        var sizes = new List<(int Rows, long First)>();
        var values = new List<string?>();
        while (await table.ReadAsync([0], 10, CancellationToken.None) is { } chunk)
        {
            sizes.Add((chunk.Rows, chunk.FirstRow));
            values.AddRange((string?[])chunk[0]);
            Assert.True(table.Fraction <= 1);
        }

        Assert.Equal([(10, 1L), (10, 11L), (5, 21L)], sizes);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), values);
        Assert.Equal(1.0, table.Fraction);
    }

    private static async Task<(string[][] Rows, string[] Where)> ReadAllAsync(string path)
    {
        await using TableReader table = await TableReader.OpenAsync(new FileInfo(path), null, null, CancellationToken.None);
        int[] all = [.. Enumerable.Range(0, table.Columns.Count)];
        var rows = new List<string[]>();
        var places = new List<string>();
        while (await table.ReadAsync(all, 2, CancellationToken.None) is { } chunk)
        {
            for (int i = 0; i < chunk.Rows; i++)
            {
                rows.Add([.. all.Select(c => ((string?[])chunk[c])[i] ?? "<null>")]);
                places.Add(chunk.Where(i));
            }
        }

        return ([.. rows], [.. places]);
    }

    private string Write(string name, string text, byte[]? bytes = null)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes ?? new UTF8Encoding(false).GetBytes(text));
        return path;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
