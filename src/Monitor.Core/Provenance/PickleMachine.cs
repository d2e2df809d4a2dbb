using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using static Monitor.Core.Provenance.PickleReader;
using static Monitor.Core.Provenance.Sym;

namespace Monitor.Core.Provenance;

/// <summary>
/// The symbolic stack, marks and memo of one pickle, and what the opcodes that only push, pop, store or
/// combine values do to them. Opcodes that import, call or end a stream are the scanner's.
/// </summary>
internal sealed class PickleMachine
{
    private readonly List<Sym> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, Sym> _memo = [];

    /// <summary>Whether an opcode of protocol 1 was seen (a stream without PROTO is then protocol 1, else 0).</summary>
    public bool Binary { get; set; }

    public void Push(Sym s) => _stack.Add(s);

    public Sym Pop()
    {
        if (_stack.Count == 0)
        {
            throw new MalformedPickleException("stack underflow");
        }

        Sym s = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return s;
    }

    public Sym Peek(int depth = 0) =>
        _stack.Count > depth ? _stack[^(depth + 1)] : throw new MalformedPickleException("stack underflow");

    public List<Sym> PopMark()
    {
        if (_marks.Count == 0)
        {
            throw new MalformedPickleException("no MARK to pop to");
        }

        int m = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        if (m > _stack.Count)
        {
            throw new MalformedPickleException("MARK above the stack");
        }

        List<Sym> items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    /// <summary>
    /// Runs <paramref name="op"/> (named <paramref name="name"/>, at <paramref name="at"/>) when it only moves values; returns false
    /// for any other opcode, leaving <paramref name="pos"/> where it was. Throws <see cref="MalformedPickleException"/>.
    /// </summary>
    public bool Step(byte op, string name, long at, ReadOnlyMemory<byte> memory, ref long pos)
    {
        ReadOnlySpan<byte> data = memory.Span;
        switch (op)
        {
            case (byte)'(':
                _marks.Add(_stack.Count);
                return true;
            case (byte)'0': // POP
                if (_marks.Count > 0 && _marks[^1] == _stack.Count)
                {
                    _marks.RemoveAt(_marks.Count - 1); // pickletools: POP of a mark
                }
                else
                {
                    Pop();
                }

                return true;
            case (byte)'1': // POP_MARK
                Binary = true;
                PopMark();
                return true;
            case (byte)'2': // DUP
                Push(Peek());
                return true;
            case (byte)'P': // PERSID
                ReadLine(data, ref pos);
                Push(Other.Value);
                return true;
            case (byte)'Q': // BINPERSID: torch's storages; the id itself is data
                Binary = true;
                Pop();
                Push(Other.Value);
                return true;
            case 0x98: // READONLY_BUFFER
                Peek();
                return true;
            default:
                return StepNumberOrString(op, at, memory, ref pos) || StepContainer(op) || StepMemo(op, name, data, ref pos);
        }
    }

    private bool StepNumberOrString(byte op, long at, ReadOnlyMemory<byte> memory, ref long pos)
    {
        ReadOnlySpan<byte> data = memory.Span;
        switch (op)
        {
            case (byte)'F':
                ReadLine(data, ref pos);
                Push(Other.Value);
                return true;
            case (byte)'I':
                {
                    string s = ReadLine(data, ref pos);
                    Push(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? new Int(v) : Other.Value);
                    return true;
                }
            case (byte)'L':
                {
                    string s = ReadLine(data, ref pos).TrimEnd('L');
                    Push(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? new Int(v) : Other.Value);
                    return true;
                }
            case (byte)'J':
                Binary = true;
                Push(new Int(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(data, ref pos, 4))));
                return true;
            case (byte)'K':
                Binary = true;
                Push(new Int(ReadBytes(data, ref pos, 1)[0]));
                return true;
            case (byte)'M':
                Binary = true;
                Push(new Int(BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(data, ref pos, 2))));
                return true;
            case 0x8a: // LONG1
            case 0x8b: // LONG4
                {
                    long n = op == 0x8a ? ReadBytes(data, ref pos, 1)[0] : ReadLength4(data, ref pos);
                    ReadOnlySpan<byte> b = ReadBytes(data, ref pos, n);
                    long v = 0;
                    for (int i = Math.Min(b.Length, 8) - 1; i >= 0; i--)
                    {
                        v = (v << 8) | b[i];
                    }

                    Push(b.Length <= 7 ? new Int(b.Length > 0 && (b[^1] & 0x80) != 0 ? v - (1L << (8 * b.Length)) : v) : Other.Value);
                    return true;
                }
            case (byte)'G':
                Binary = true;
                ReadBytes(data, ref pos, 8);
                Push(Other.Value);
                return true;
            case (byte)'N':
            case 0x88: // NEWTRUE
            case 0x89: // NEWFALSE
                Push(Other.Value);
                return true;
            case (byte)'S':
                {
                    string s = ReadLine(data, ref pos);
                    if (s.Length < 2 || (s[0] != '\'' && s[0] != '"') || s[^1] != s[0])
                    {
                        throw new MalformedPickleException($"STRING argument is not quoted at byte {at}", complete: true);
                    }

                    Push(new Str(s[1..^1]));
                    return true;
                }
            case (byte)'V':
                Push(new Str(ReadLine(data, ref pos)));
                return true;
            case (byte)'T': // BINSTRING
            case (byte)'X': // BINUNICODE
                Binary = true;
                Push(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadLength4(data, ref pos)))));
                return true;
            case (byte)'U': // SHORT_BINSTRING
            case 0x8c: // SHORT_BINUNICODE
                Binary = true;
                Push(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadBytes(data, ref pos, 1)[0]))));
                return true;
            case 0x8d: // BINUNICODE8
                Push(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadLength8(data, ref pos)))));
                return true;
            case (byte)'B': // BINBYTES
            case (byte)'C': // SHORT_BINBYTES
            case 0x8e: // BINBYTES8
            case 0x96: // BYTEARRAY8
                {
                    long n = op switch
                    {
                        (byte)'B' => ReadLength4(data, ref pos),
                        (byte)'C' => ReadBytes(data, ref pos, 1)[0],
                        _ => ReadLength8(data, ref pos),
                    };
                    long from = pos;
                    ReadBytes(data, ref pos, n);
                    Push(new Bytes(memory.Slice((int)from, (int)n), from));
                    return true;
                }
            default:
                return false;
        }
    }

    private bool StepContainer(byte op)
    {
        switch (op)
        {
            case (byte)')':
                Binary = true;
                Push(new TupleSym([]));
                return true;
            case (byte)']':
            case (byte)'}':
            case 0x8f: // EMPTY_SET
                Binary = true;
                Push(op == (byte)'}' ? new Dict() : new ListSym());
                return true;
            case (byte)'l': // LIST
            case 0x91: // FROZENSET
                Push(new ListSym { Items = PopMark() });
                return true;
            case (byte)'t': // TUPLE
                Push(new TupleSym(PopMark()));
                return true;
            case 0x85:
            case 0x86:
            case 0x87:
                {
                    int n = op - 0x84;
                    var items = new List<Sym>();
                    for (int i = 0; i < n; i++)
                    {
                        items.Insert(0, Pop());
                    }

                    Push(new TupleSym(items));
                    return true;
                }
            case (byte)'d': // DICT
                {
                    List<Sym> items = PopMark();
                    var d = new Dict();
                    AddPairs(d, items);
                    Push(d);
                    return true;
                }
            case (byte)'a': // APPEND
                {
                    Sym v = Pop();
                    (Peek() as ListSym)?.Items.Add(v);
                    return true;
                }
            case (byte)'e': // APPENDS
            case 0x90: // ADDITEMS
                {
                    Binary = true;
                    List<Sym> items = PopMark();
                    (Peek() as ListSym)?.Items.AddRange(items);
                    return true;
                }
            case (byte)'s': // SETITEM
                {
                    Sym v = Pop();
                    Sym k = Pop();
                    (Peek() as Dict)?.Items.Add((k, v));
                    return true;
                }
            case (byte)'u': // SETITEMS
                {
                    Binary = true;
                    List<Sym> items = PopMark();
                    if (Peek() is Dict d)
                    {
                        AddPairs(d, items);
                    }

                    return true;
                }
            default:
                return false;
        }
    }

    private bool StepMemo(byte op, string name, ReadOnlySpan<byte> data, ref long pos)
    {
        switch (op)
        {
            case (byte)'p':
                _memo[ParseMemoKey(ReadLine(data, ref pos))] = Peek();
                return true;
            case (byte)'q':
                Binary = true;
                _memo[ReadBytes(data, ref pos, 1)[0]] = Peek();
                return true;
            case (byte)'r':
                Binary = true;
                _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(data, ref pos, 4))] = Peek();
                return true;
            case 0x94: // MEMOIZE
                _memo[_memo.Count] = Peek();
                return true;
            case (byte)'g':
            case (byte)'h':
            case (byte)'j':
                {
                    long key = op switch
                    {
                        (byte)'g' => ParseMemoKey(ReadLine(data, ref pos)),
                        (byte)'h' => ReadBytes(data, ref pos, 1)[0],
                        _ => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(data, ref pos, 4)),
                    };
                    Binary |= op != (byte)'g';
                    if (!_memo.TryGetValue(key, out Sym? v))
                    {
                        throw new MalformedPickleException($"{name} of memo key {key} that was never stored", complete: true);
                    }

                    Push(v);
                    return true;
                }
            default:
                return false;
        }
    }

    private static void AddPairs(Dict d, List<Sym> items)
    {
        if (items.Count % 2 != 0)
        {
            throw new MalformedPickleException("odd number of items for a dict");
        }

        for (int i = 0; i < items.Count; i += 2)
        {
            d.Items.Add((items[i], items[i + 1]));
        }
    }
}
