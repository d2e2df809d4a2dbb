namespace Monitor.Core.Provenance;

/// <summary>
/// A read-only view of a seekable stream that throws <see cref="ReadBudgetExceededException"/> once more than a budget of
/// bytes has been read through it, so a parser that trusts lengths in the file cannot read without end.
/// </summary>
internal sealed class ReadBudgetStream(Stream inner, long budget) : Stream
{
    private long _read;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _read += n;
        return _read > budget ? throw new ReadBudgetExceededException(budget) : n;
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Thrown by <see cref="ReadBudgetStream"/> when its budget is spent.</summary>
internal sealed class ReadBudgetExceededException(long budget) : Exception($"more than {budget} bytes read")
{
    public long Budget { get; } = budget;
}
