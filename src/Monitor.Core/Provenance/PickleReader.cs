using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Monitor.Core.Provenance;

/// <summary>Reads the arguments that follow a pickle opcode in the stream, and names the opcodes as pickletools does.</summary>
internal static class PickleReader
{
    public static ReadOnlySpan<byte> ReadBytes(ReadOnlySpan<byte> data, ref long pos, long n)
    {
        if (n < 0 || n > data.Length - pos)
        {
            throw new MalformedPickleException($"truncated: {n} bytes wanted at byte {pos}, {data.Length - pos} left");
        }

        ReadOnlySpan<byte> s = data.Slice((int)pos, (int)n);
        pos += n;
        return s;
    }

    public static long ReadLength4(ReadOnlySpan<byte> data, ref long pos) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(data, ref pos, 4));

    public static long ReadLength8(ReadOnlySpan<byte> data, ref long pos)
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(data, ref pos, 8));
        return n > int.MaxValue ? throw new MalformedPickleException($"length {n} too large") : (long)n;
    }

    public static string ReadLine(ReadOnlySpan<byte> data, ref long pos)
    {
        int nl = data[(int)pos..].IndexOf((byte)'\n');
        if (nl < 0)
        {
            throw new MalformedPickleException($"truncated: no end of line after byte {pos}");
        }

        string s = Encoding.UTF8.GetString(data.Slice((int)pos, nl));
        pos += nl + 1;
        return s.TrimEnd('\r');
    }

    public static long ParseMemoKey(string s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long k) ? k : throw new MalformedPickleException($"bad memo key '{s}'");

    public static string OpName(byte op) => op switch
    {
        (byte)'(' => "MARK", (byte)'.' => "STOP", (byte)'0' => "POP", (byte)'1' => "POP_MARK", (byte)'2' => "DUP",
        (byte)'F' => "FLOAT", (byte)'I' => "INT", (byte)'J' => "BININT", (byte)'K' => "BININT1", (byte)'L' => "LONG",
        (byte)'M' => "BININT2", (byte)'N' => "NONE", (byte)'P' => "PERSID", (byte)'Q' => "BINPERSID", (byte)'R' => "REDUCE",
        (byte)'S' => "STRING", (byte)'T' => "BINSTRING", (byte)'U' => "SHORT_BINSTRING", (byte)'V' => "UNICODE",
        (byte)'X' => "BINUNICODE", (byte)'a' => "APPEND", (byte)'b' => "BUILD", (byte)'c' => "GLOBAL", (byte)'d' => "DICT",
        (byte)'}' => "EMPTY_DICT", (byte)'e' => "APPENDS", (byte)'g' => "GET", (byte)'h' => "BINGET", (byte)'i' => "INST",
        (byte)'j' => "LONG_BINGET", (byte)'l' => "LIST", (byte)']' => "EMPTY_LIST", (byte)'o' => "OBJ", (byte)'p' => "PUT",
        (byte)'q' => "BINPUT", (byte)'r' => "LONG_BINPUT", (byte)'s' => "SETITEM", (byte)'t' => "TUPLE", (byte)')' => "EMPTY_TUPLE",
        (byte)'u' => "SETITEMS", (byte)'G' => "BINFLOAT", (byte)'B' => "BINBYTES", (byte)'C' => "SHORT_BINBYTES",
        0x80 => "PROTO", 0x81 => "NEWOBJ", 0x82 => "EXT1", 0x83 => "EXT2", 0x84 => "EXT4", 0x85 => "TUPLE1", 0x86 => "TUPLE2",
        0x87 => "TUPLE3", 0x88 => "NEWTRUE", 0x89 => "NEWFALSE", 0x8a => "LONG1", 0x8b => "LONG4", 0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8", 0x8e => "BINBYTES8", 0x8f => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX", 0x93 => "STACK_GLOBAL", 0x94 => "MEMOIZE", 0x95 => "FRAME", 0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
        _ => $"0x{op:x2}",
    };
}

/// <summary>
/// A stream the scanner cannot read further. <paramref name="complete"/> messages are reported as they are;
/// the others get the opcode and its offset appended.
/// </summary>
internal sealed class MalformedPickleException(string message, bool complete = false) : Exception(message)
{
    public bool Complete { get; } = complete;
}
