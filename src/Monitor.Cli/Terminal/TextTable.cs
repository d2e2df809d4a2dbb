namespace Monitor.Cli.Terminal;

/// <summary>A plain-text table: a header, a rule, and rows padded to the widest cell; numbers align right.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];
    private readonly bool[] _right = new bool[headers.Length];

    public int Count => _rows.Count;

    /// <summary>Aligns the named columns to the right.</summary>
    public TextTable Right(params string[] columns)
    {
        foreach (string column in columns)
        {
            _right[Array.IndexOf(headers, column)] = true;
        }

        return this;
    }

    public void Add(params string[] cells)
    {
        if (cells.Length != headers.Length)
        {
            throw new ArgumentException($"a row of {cells.Length} cells in a table of {headers.Length} columns", nameof(cells));
        }

        _rows.Add(cells);
    }

    /// <summary>Writes the table; without <paramref name="header"/>, only its rows (a list of facts).</summary>
    public void WriteTo(TextWriter writer, string indent = "", bool header = true)
    {
        int[] widths = headers.Select(h => h.Length).ToArray();
        foreach (string[] row in _rows)
        {
            for (int c = 0; c < row.Length; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        if (header)
        {
            WriteRow(writer, indent, headers, widths);
            writer.WriteLine(indent + string.Join("  ", widths.Select(w => new string('-', w))));
        }

        foreach (string[] row in _rows)
        {
            WriteRow(writer, indent, row, widths);
        }
    }

    private void WriteRow(TextWriter writer, string indent, string[] cells, int[] widths)
    {
        var line = new System.Text.StringBuilder(indent);
        for (int c = 0; c < cells.Length; c++)
        {
            bool last = c == cells.Length - 1;
            line.Append(_right[c] ? cells[c].PadLeft(widths[c]) : last ? cells[c] : cells[c].PadRight(widths[c]));
            if (!last)
            {
                line.Append("  ");
            }
        }

        writer.WriteLine(line.ToString().TrimEnd());
    }
}
