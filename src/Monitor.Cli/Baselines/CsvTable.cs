using System.Text;

namespace Monitor.Cli.Baselines;

/// <summary>
/// A delimited text file with a header row (RFC 4180): fields may be quoted, a quote inside one is doubled, and a
/// quoted field may hold delimiters and line breaks. Lines end in LF, CRLF or CR; blank lines are skipped.
/// </summary>
internal sealed class CsvTable : TableReader
{
    private readonly FileStream _stream;
    private readonly StreamReader _reader;
    private readonly char _delimiter;
    private readonly char[] _buffer = new char[1 << 16];
    private readonly List<string> _fields = [];
    private readonly StringBuilder _field = new();
    private readonly TableColumn[] _columns;
    private int _position;
    private int _length;
    private long _line = 1;
    private long _rowsRead;
    private long _bytesConsumed;

    private CsvTable(FileInfo file, char delimiter) : base(file)
    {
        _delimiter = delimiter;
        _stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> start = stackalloc byte[3];
        _bytesConsumed = _stream.Read(start) == 3 && start.SequenceEqual("\uFEFF"u8) ? 3 : 0; // the BOM the reader skips
        _stream.Position = 0;
        // Detection would swap in a lenient decoder after a BOM; this one skips a UTF-8 BOM and refuses invalid bytes either way.
        _reader = new StreamReader(_stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: true, throwOnInvalidBytes: true),
            detectEncodingFromByteOrderMarks: false);
        try
        {
            if (!NextRecord(out _))
            {
                throw new CliException($"{file.Name} is empty: it needs a header row naming its columns");
            }

            _columns = _fields.Select(name => new TableColumn(name.Trim(), ColumnType.Text, "text")).ToArray();
            string? duplicate = _columns.GroupBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1)?.Key;
            if (duplicate is not null)
            {
                throw new CliException($"{file.Name}: the header names column '{duplicate}' twice");
            }
        }
        catch
        {
            _reader.Dispose();
            throw;
        }
    }

    public override string Format => _delimiter == ',' ? "csv" : _delimiter == '\t' ? "tsv" : $"text delimited by '{_delimiter}'";

    public override IReadOnlyList<TableColumn> Columns => _columns;

    /// <summary>The share of the file's bytes behind the records read so far (not the buffered reads, which run ahead).</summary>
    public override double Fraction => _stream.Length == 0 ? 1 : Math.Min(1, (double)_bytesConsumed / _stream.Length);

    public static CsvTable Open(FileInfo file, char delimiter)
    {
        if (delimiter is '"' or '\r' or '\n')
        {
            throw new CliException($"--delimiter: a quote or a line break cannot separate fields", ExitCodes.Usage);
        }

        return new CsvTable(file, delimiter);
    }

    public override ValueTask<TableChunk?> ReadAsync(IReadOnlyList<int> selection, int maxRows, CancellationToken cancellationToken)
    {
        var values = new string?[selection.Count][];
        for (int s = 0; s < values.Length; s++)
        {
            values[s] = new string?[maxRows];
        }

        var lines = new long[maxRows];
        int rows = 0;
        long first = _rowsRead + 1;
        while (rows < maxRows && NextRecord(out long line))
        {
            if (_fields.Count != _columns.Length)
            {
                throw new CliException($"{File.Name} line {line}: {_fields.Count} fields, but the header names {_columns.Length} columns");
            }

            for (int s = 0; s < selection.Count; s++)
            {
                values[s][rows] = _fields[selection[s]];
            }

            lines[rows++] = line;
            _rowsRead++;
            if ((rows & 1023) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        if (rows == 0)
        {
            return ValueTask.FromResult<TableChunk?>(null);
        }

        object[] columns = values.Select(v => (object)(rows == maxRows ? v : v[..rows])).ToArray();
        return ValueTask.FromResult<TableChunk?>(new TableChunk(rows, first, columns, row => $"line {lines[row]}"));
    }

    public override ValueTask DisposeAsync()
    {
        _reader.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Reads the next non-blank record into <see cref="_fields"/>; false at the end of the file.</summary>
    private bool NextRecord(out long startLine)
    {
        while (true)
        {
            _fields.Clear();
            _field.Clear();
            startLine = _line;
            int c = Next();
            if (c < 0)
            {
                return false;
            }

            if (c is '\n' or '\r')
            {
                EndLine(c);
                continue;
            }

            while (true)
            {
                if (c == '"')
                {
                    ReadQuoted(startLine);
                    c = Next();
                    if (c >= 0 && c != _delimiter && c is not ('\n' or '\r'))
                    {
                        throw new CliException($"{File.Name} line {_line}: '{(char)c}' after the closing quote of a field; " +
                            "a quote inside a quoted field is written twice (\"\")");
                    }
                }
                else
                {
                    while (c >= 0 && c != _delimiter && c is not ('\n' or '\r'))
                    {
                        _field.Append((char)c);
                        c = Next();
                    }
                }

                _fields.Add(_field.ToString());
                _field.Clear();
                if (c == _delimiter)
                {
                    c = Next();
                    continue;
                }

                if (c >= 0)
                {
                    EndLine(c);
                }

                return true;
            }
        }
    }

    private void ReadQuoted(long startLine)
    {
        while (true)
        {
            int c = Next();
            if (c < 0)
            {
                throw new CliException($"{File.Name}: the quoted field that opens on line {startLine} is never closed");
            }

            if (c == '"')
            {
                if (Peek() != '"')
                {
                    return;
                }

                Next();
            }
            else if (c == '\n' || (c == '\r' && Peek() != '\n'))
            {
                _line++;
            }

            _field.Append((char)c);
        }
    }

    private void EndLine(int c)
    {
        if (c == '\r' && Peek() == '\n')
        {
            Next();
        }

        _line++;
    }

    private int Next()
    {
        if (_position == _length && !Fill())
        {
            return -1;
        }

        char c = _buffer[_position++];
        _bytesConsumed += c < 0x80 ? 1 : c < 0x800 || char.IsSurrogate(c) ? 2 : 3;
        return c;
    }

    private int Peek() => _position == _length && !Fill() ? -1 : _buffer[_position];

    private bool Fill()
    {
        try
        {
            _length = _reader.Read(_buffer, 0, _buffer.Length);
        }
        catch (DecoderFallbackException e)
        {
            string bytes = e.BytesUnknown is { Length: > 0 } unknown ? $" (bytes {Convert.ToHexString(unknown)})" : "";
            throw new CliException($"{File.Name} is not UTF-8 text: an invalid byte sequence{bytes} comes after line {_line}");
        }

        _position = 0;
        return _length > 0;
    }
}
