using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Monitor.Core.Provenance;

/// <summary>
/// Reads pickle streams (protocols 0 to 5) opcode by opcode without unpickling anything. A small symbolic
/// stack and memo follow strings, numbers, tuples, dicts, imported names and the objects made from them,
/// enough to resolve STACK_GLOBAL (also through the memo), to see which import REDUCE, NEWOBJ, INST, OBJ
/// and BUILD call, and to step over the array bytes joblib writes after a NumpyArrayWrapper.
/// </summary>
internal sealed class PickleScanner(ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
{
    private long _opcodes;

    /// <summary>Highest PROTO seen; 0 or 1 for streams without one.</summary>
    public int? Protocol { get; private set; }

    /// <summary>Whether a joblib NumpyArrayWrapper was seen.</summary>
    public bool SawJoblib { get; private set; }

    /// <summary>Whether a limit stopped the scan.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Scans every pickle in <paramref name="data"/>, one after another (joblib and torch write several).</summary>
    public void ScanAll(ReadOnlyMemory<byte> data, string? entry, int depth = 0)
    {
        var tracked = new List<Tracked>();
        long pos = 0;
        while (pos < data.Length && !Stopped)
        {
            long end = ScanOne(data, pos, entry, depth, tracked);
            if (end < 0)
            {
                break;
            }

            pos = end;
        }

        foreach (Tracked t in tracked)
        {
            if (t.Called)
            {
                continue;
            }

            if (t.Class == ImportClass.Denied)
            {
                Add(FindingSeverity.Blocking, $"denied {t.Import.FullName} is referenced ({ImportPolicy.ReasonFor(t.Import.Module, t.Import.Name)})",
                    t.Import.FullName, t.Import.Opcode, t.Import.Offset, entry);
            }
            else if (t.Class == ImportClass.Unknown)
            {
                Add(FindingSeverity.Warning, $"{t.Import.FullName} is not on the allow list; it is referenced but not called",
                    t.Import.FullName, t.Import.Opcode, t.Import.Offset, entry);
            }
        }
    }

    // Returns the offset after STOP, or -1 when the stream cannot be read further (a finding says why).
    private long ScanOne(ReadOnlyMemory<byte> memory, long start, string? entry, int depth, List<Tracked> tracked)
    {
        ReadOnlySpan<byte> data = memory.Span;
        var stack = new List<Sym>();
        var marks = new List<int>();
        var memo = new Dictionary<long, Sym>();
        long pos = start;
        bool binary = false;

        while (true)
        {
            if (pos >= data.Length)
            {
                Malformed($"truncated: the pickle starting at byte {start} ends at byte {pos} without STOP", "EOF", pos, entry);
                return -1;
            }

            if (++_opcodes > limits.MaxOpcodes)
            {
                Stopped = true;
                Add(FindingSeverity.Blocking, $"scan stopped after {limits.MaxOpcodes} opcodes (ScanLimits.MaxOpcodes); the rest is not scanned",
                    null, "LIMIT", pos, entry);
                return -1;
            }

            long at = pos;
            byte op = data[(int)pos++];
            string name = OpName(op);
            try
            {
                switch (op)
                {
                    case 0x80: // PROTO
                        {
                            int p = ReadBytes(data, ref pos, 1)[0];
                            if (p > 5)
                            {
                                Malformed($"unsupported pickle protocol {p}", name, at, entry);
                                return -1;
                            }

                            Protocol = Math.Max(Protocol ?? 0, p);
                            break;
                        }
                    case 0x95: // FRAME: the frame's bytes follow inline
                        {
                            long len = (long)BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(data, ref pos, 8));
                            if (len > data.Length - pos)
                            {
                                Malformed($"truncated: FRAME of {len} bytes at byte {at} runs past the end ({data.Length - pos} left)", name, at, entry);
                                return -1;
                            }

                            break;
                        }
                    case (byte)'.': // STOP
                        if (Protocol is null)
                        {
                            Protocol = binary ? 1 : 0;
                        }

                        return pos;
                    case (byte)'(':
                        marks.Add(stack.Count);
                        break;
                    case (byte)'0': // POP
                        if (marks.Count > 0 && marks[^1] == stack.Count)
                        {
                            marks.RemoveAt(marks.Count - 1); // pickletools: POP of a mark
                        }
                        else
                        {
                            Pop(stack);
                        }

                        break;
                    case (byte)'1': // POP_MARK
                        binary = true;
                        PopMark(stack, marks);
                        break;
                    case (byte)'2': // DUP
                        stack.Add(Peek(stack, 0));
                        break;

                    // Numbers, strings, constants.
                    case (byte)'F':
                        ReadLine(data, ref pos);
                        stack.Add(Other.Value);
                        break;
                    case (byte)'I':
                        {
                            string s = ReadLine(data, ref pos);
                            stack.Add(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? new Int(v) : Other.Value);
                            break;
                        }
                    case (byte)'L':
                        {
                            string s = ReadLine(data, ref pos).TrimEnd('L');
                            stack.Add(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? new Int(v) : Other.Value);
                            break;
                        }
                    case (byte)'J':
                        binary = true;
                        stack.Add(new Int(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(data, ref pos, 4))));
                        break;
                    case (byte)'K':
                        binary = true;
                        stack.Add(new Int(ReadBytes(data, ref pos, 1)[0]));
                        break;
                    case (byte)'M':
                        binary = true;
                        stack.Add(new Int(BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(data, ref pos, 2))));
                        break;
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

                            stack.Add(b.Length <= 7 ? new Int(b.Length > 0 && (b[^1] & 0x80) != 0 ? v - (1L << (8 * b.Length)) : v) : Other.Value);
                            break;
                        }
                    case (byte)'G':
                        binary = true;
                        ReadBytes(data, ref pos, 8);
                        stack.Add(Other.Value);
                        break;
                    case (byte)'N':
                    case 0x88: // NEWTRUE
                    case 0x89: // NEWFALSE
                        stack.Add(Other.Value);
                        break;
                    case (byte)'S':
                        {
                            string s = ReadLine(data, ref pos);
                            if (s.Length < 2 || (s[0] != '\'' && s[0] != '"') || s[^1] != s[0])
                            {
                                Malformed($"STRING argument is not quoted at byte {at}", name, at, entry);
                                return -1;
                            }

                            stack.Add(new Str(s[1..^1]));
                            break;
                        }
                    case (byte)'V':
                        stack.Add(new Str(ReadLine(data, ref pos)));
                        break;
                    case (byte)'T': // BINSTRING
                    case (byte)'X': // BINUNICODE
                        binary = true;
                        stack.Add(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadLength4(data, ref pos)))));
                        break;
                    case (byte)'U': // SHORT_BINSTRING
                    case 0x8c: // SHORT_BINUNICODE
                        binary = true;
                        stack.Add(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadBytes(data, ref pos, 1)[0]))));
                        break;
                    case 0x8d: // BINUNICODE8
                        stack.Add(new Str(Encoding.UTF8.GetString(ReadBytes(data, ref pos, ReadLength8(data, ref pos)))));
                        break;
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
                            stack.Add(new Bytes(memory.Slice((int)from, (int)n), from));
                            break;
                        }
                    case 0x97: // NEXT_BUFFER: out-of-band data the scanner cannot see
                        stack.Add(Other.Value);
                        Add(FindingSeverity.Warning, "NEXT_BUFFER takes out-of-band data that is not in the file", null, name, at, entry);
                        break;
                    case 0x98: // READONLY_BUFFER
                        Peek(stack, 0);
                        break;

                    // Containers.
                    case (byte)')':
                        binary = true;
                        stack.Add(new Tuple([]));
                        break;
                    case (byte)']':
                    case (byte)'}':
                    case 0x8f: // EMPTY_SET
                        binary = true;
                        stack.Add(op == (byte)'}' ? new Dict() : new ListSym());
                        break;
                    case (byte)'l': // LIST
                    case 0x91: // FROZENSET
                        stack.Add(new ListSym { Items = PopMark(stack, marks) });
                        break;
                    case (byte)'t': // TUPLE
                        stack.Add(new Tuple(PopMark(stack, marks)));
                        break;
                    case 0x85:
                    case 0x86:
                    case 0x87:
                        {
                            int n = op - 0x84;
                            var items = new List<Sym>();
                            for (int i = 0; i < n; i++)
                            {
                                items.Insert(0, Pop(stack));
                            }

                            stack.Add(new Tuple(items));
                            break;
                        }
                    case (byte)'d': // DICT
                        {
                            List<Sym> items = PopMark(stack, marks);
                            var d = new Dict();
                            AddPairs(d, items);
                            stack.Add(d);
                            break;
                        }
                    case (byte)'a': // APPEND
                        {
                            Sym v = Pop(stack);
                            (Peek(stack, 0) as ListSym)?.Items.Add(v);
                            break;
                        }
                    case (byte)'e': // APPENDS
                    case 0x90: // ADDITEMS
                        {
                            binary = true;
                            List<Sym> items = PopMark(stack, marks);
                            (Peek(stack, 0) as ListSym)?.Items.AddRange(items);
                            break;
                        }
                    case (byte)'s': // SETITEM
                        {
                            Sym v = Pop(stack);
                            Sym k = Pop(stack);
                            (Peek(stack, 0) as Dict)?.Items.Add((k, v));
                            break;
                        }
                    case (byte)'u': // SETITEMS
                        {
                            binary = true;
                            List<Sym> items = PopMark(stack, marks);
                            if (Peek(stack, 0) is Dict d)
                            {
                                AddPairs(d, items);
                            }

                            break;
                        }

                    // Memo.
                    case (byte)'p':
                        memo[ParseMemoKey(ReadLine(data, ref pos))] = Peek(stack, 0);
                        break;
                    case (byte)'q':
                        binary = true;
                        memo[ReadBytes(data, ref pos, 1)[0]] = Peek(stack, 0);
                        break;
                    case (byte)'r':
                        binary = true;
                        memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(data, ref pos, 4))] = Peek(stack, 0);
                        break;
                    case 0x94: // MEMOIZE
                        memo[memo.Count] = Peek(stack, 0);
                        break;
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
                            binary |= op != (byte)'g';
                            if (!memo.TryGetValue(key, out Sym? v))
                            {
                                Malformed($"{name} of memo key {key} that was never stored", name, at, entry);
                                return -1;
                            }

                            stack.Add(v);
                            break;
                        }

                    // Imports.
                    case (byte)'c': // GLOBAL
                        {
                            string module = ReadLine(data, ref pos);
                            string qual = ReadLine(data, ref pos);
                            stack.Add(Import(module, qual, name, at, entry, tracked));
                            break;
                        }
                    case 0x93: // STACK_GLOBAL
                        {
                            Sym qual = Pop(stack);
                            Sym module = Pop(stack);
                            if (module is not Str m || qual is not Str q)
                            {
                                Add(FindingSeverity.Blocking, "STACK_GLOBAL imports a name that is not a string literal; the import cannot be known",
                                    null, name, at, entry);
                                stack.Add(Other.Value);
                                break;
                            }

                            stack.Add(Import(m.Value, q.Value, name, at, entry, tracked));
                            break;
                        }
                    case 0x82:
                    case 0x83:
                    case 0x84: // EXT1, EXT2, EXT4: the copyreg extension registry
                        {
                            ReadBytes(data, ref pos, op == 0x82 ? 1 : op == 0x83 ? 2 : 4);
                            Add(FindingSeverity.Blocking, $"{name} imports through the copyreg extension registry, which the scanner cannot resolve",
                                null, name, at, entry);
                            stack.Add(Other.Value);
                            break;
                        }

                    // Calls.
                    case (byte)'R': // REDUCE
                        {
                            Sym args = Pop(stack);
                            Sym callable = Pop(stack);
                            stack.Add(Call(callable, args, name, at, entry, depth));
                            break;
                        }
                    case 0x81: // NEWOBJ
                        {
                            Sym args = Pop(stack);
                            Sym cls = Pop(stack);
                            stack.Add(Call(cls, args, name, at, entry, depth));
                            break;
                        }
                    case 0x92: // NEWOBJ_EX
                        {
                            Sym kwargs = Pop(stack);
                            Sym args = Pop(stack);
                            Sym cls = Pop(stack);
                            CheckStored(kwargs, name, at, entry);
                            stack.Add(Call(cls, args, name, at, entry, depth));
                            break;
                        }
                    case (byte)'i': // INST
                        {
                            string module = ReadLine(data, ref pos);
                            string qual = ReadLine(data, ref pos);
                            List<Sym> args = PopMark(stack, marks);
                            stack.Add(Call(Import(module, qual, name, at, entry, tracked), new Tuple(args), name, at, entry, depth));
                            break;
                        }
                    case (byte)'o': // OBJ
                        {
                            binary = true;
                            List<Sym> items = PopMark(stack, marks);
                            if (items.Count == 0)
                            {
                                Malformed($"OBJ without a class at byte {at}", name, at, entry);
                                return -1;
                            }

                            stack.Add(Call(items[0], new Tuple(items.GetRange(1, items.Count - 1)), name, at, entry, depth));
                            break;
                        }
                    case (byte)'b': // BUILD
                        {
                            Sym state = Pop(stack);
                            Sym obj = Peek(stack, 0);
                            long skip = Build(obj, state, memory, pos, name, at, entry, depth, tracked);
                            if (skip < 0)
                            {
                                return -1;
                            }

                            pos += skip;
                            break;
                        }
                    case (byte)'P': // PERSID
                        ReadLine(data, ref pos);
                        stack.Add(Other.Value);
                        break;
                    case (byte)'Q': // BINPERSID: torch's storages; the id itself is data
                        binary = true;
                        Pop(stack);
                        stack.Add(Other.Value);
                        break;
                    default:
                        Malformed($"unknown opcode 0x{op:x2} at byte {at}", $"0x{op:x2}", at, entry);
                        return -1;
                }
            }
            catch (MalformedPickleException e)
            {
                Malformed($"{e.Message} ({name} at byte {at})", name, at, entry);
                return -1;
            }
        }
    }

    private Global Import(string module, string qual, string opcode, long at, string? entry, List<Tracked> tracked)
    {
        var import = new PickleImport(module, qual, opcode, at, entry);
        imports.Add(import);
        if (module.Contains("joblib", StringComparison.Ordinal))
        {
            SawJoblib = true;
        }

        var t = new Tracked(import, ImportPolicy.Classify(module, qual));
        tracked.Add(t);
        return new Global(t);
    }

    private Sym Call(Sym callable, Sym args, string opcode, long at, string? entry, int depth)
    {
        if (callable is not Global g)
        {
            Add(FindingSeverity.Blocking, $"{opcode} calls {Describe(callable)}, not an imported name", null, opcode, at, entry);
            return Other.Value;
        }

        Tracked t = g.Tracked;
        t.Called = true;
        string full = t.Import.FullName;
        switch (t.Class)
        {
            case ImportClass.Denied:
                Add(FindingSeverity.Blocking, $"denied {full} is called by {opcode} ({ImportPolicy.ReasonFor(t.Import.Module, t.Import.Name)})",
                    full, opcode, at, entry);
                ScanNested(args, at, entry, depth);
                break;
            case ImportClass.Unknown:
                Add(FindingSeverity.Blocking, $"{full} is not on the allow list and is called by {opcode}", full, opcode, at, entry);
                ScanNested(args, at, entry, depth);
                break;
            default:
                if (full is not ("copyreg._reconstructor" or "copy_reg._reconstructor"))
                {
                    CheckStored(args, opcode, at, entry, via: full); // defaultdict(factory) and the like call what they are given
                }
                else
                {
                    Sym? cls = (args as Tuple)?.Items.FirstOrDefault();
                    if (cls is Global c)
                    {
                        c.Tracked.Called = true;
                        if (c.Tracked.Class != ImportClass.Allowed)
                        {
                            Add(FindingSeverity.Blocking, $"{full} is given {c.Tracked.Import.FullName}, which is not on the allow list",
                                c.Tracked.Import.FullName, opcode, at, entry);
                        }
                    }
                    else
                    {
                        Add(FindingSeverity.Blocking, $"{full} is given {Describe(cls)} instead of an imported class", full, opcode, at, entry);
                    }
                }

                break;
        }

        return new Instance(g, args);
    }

    // BUILD sets an object's state; returns how many bytes follow that are not opcodes (joblib's array data), or -1.
    private long Build(Sym obj, Sym state, ReadOnlyMemory<byte> memory, long pos, string opcode, long at, string? entry, int depth, List<Tracked> tracked)
    {
        if (obj is Global g)
        {
            g.Tracked.Called = true;
            Add(FindingSeverity.Blocking, $"BUILD sets attributes of the imported {g.Tracked.Import.FullName} itself",
                g.Tracked.Import.FullName, opcode, at, entry);
            return 0;
        }

        CheckStored(state, opcode, at, entry);
        if (obj is not Instance inst)
        {
            return 0;
        }

        inst.State = state;
        if (inst.Class.Tracked.Import.FullName != "joblib.numpy_pickle.NumpyArrayWrapper")
        {
            return 0;
        }

        return JoblibArrayBytes(inst, memory, pos, at, entry, depth, tracked);
    }

    // joblib's NumpyPickler writes each array's bytes right after the BUILD of its wrapper: a pickle of its
    // own (protocol 2) for object arrays, otherwise an alignment padding byte and padding (when the state has
    // numpy_array_alignment_bytes) and then shape-product times itemsize raw bytes.
    private long JoblibArrayBytes(Instance wrapper, ReadOnlyMemory<byte> memory, long pos, long at, string? entry, int depth, List<Tracked> tracked)
    {
        SawJoblib = true;
        var state = wrapper.State as Dict;
        Sym? shape = state?.Get("shape");
        Sym? dtype = state?.Get("dtype");
        long? itemSize = ItemSize(dtype, out bool hasObject);
        if (hasObject)
        {
            if (depth + 1 > limits.MaxNesting)
            {
                Add(FindingSeverity.Blocking, $"joblib object array at byte {pos} not scanned: deeper than ScanLimits.MaxNesting ({limits.MaxNesting})",
                    null, "LIMIT", pos, entry);
                return -1;
            }

            long end = ScanOne(memory, pos, entry, depth + 1, tracked);
            return end < 0 ? -1 : end - pos;
        }

        long count = 1;
        bool known = shape is Tuple dims;
        if (shape is Tuple st)
        {
            foreach (Sym d in st.Items)
            {
                if (d is Int n && n.Value >= 0 && (n.Value == 0 || count <= long.MaxValue / n.Value))
                {
                    count *= n.Value;
                }
                else
                {
                    known = false;
                }
            }
        }

        if (!known || itemSize is null || (count > 0 && itemSize > long.MaxValue / count))
        {
            Malformed("joblib NumpyArrayWrapper whose shape or dtype cannot be read; its array bytes cannot be skipped", "BUILD", at, entry);
            return -1;
        }

        long skip = 0;
        if (state!.Get("numpy_array_alignment_bytes") is Int)
        {
            if (pos >= memory.Length)
            {
                Malformed("truncated: joblib array padding runs past the end", "BUILD", at, entry);
                return -1;
            }

            skip = 1 + memory.Span[(int)pos];
        }

        skip += count * itemSize.Value;
        if (skip > memory.Length - pos)
        {
            Malformed($"truncated: joblib array of {count} items of {itemSize} bytes runs past the end", "BUILD", at, entry);
            return -1;
        }

        return skip;
    }

    // numpy.dtype is pickled as dtype(code, False, True) then BUILD (3, byteorder, subarray, names, fields, elsize, alignment, flags).
    private static long? ItemSize(Sym? dtype, out bool hasObject)
    {
        hasObject = false;
        if (dtype is not Instance { Class.Tracked.Import.FullName: "numpy.dtype" } d
            || d.Args is not Tuple { Items.Count: > 0 } args || args.Items[0] is not Str code || code.Value.Length == 0)
        {
            return null;
        }

        if (d.State is Tuple state && state.Items.Count >= 6)
        {
            if (state.Items[2] is not Other || state.Items[3] is not Other)
            {
                return null; // sub-arrays and structured types: not sized here, fail closed
            }

            if (state.Items[5] is Int { Value: > 0 } elsize)
            {
                hasObject = code.Value[0] == 'O';
                return elsize.Value;
            }
        }

        hasObject = code.Value[0] == 'O';
        return long.TryParse(code.Value.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out long size) && size > 0 ? size : null;
    }

    // Callables stored as state (e.g. {'__setstate__': os.system}) run on a later BUILD or when the object is used.
    private void CheckStored(Sym state, string opcode, long at, string? entry, int level = 0, string? via = null)
    {
        if (level > 3)
        {
            return;
        }

        IEnumerable<Sym> children = state switch
        {
            Global g => [g],
            Tuple t => t.Items,
            ListSym l => l.Items,
            Dict d => d.Items.Select(p => p.Value),
            _ => [],
        };
        foreach (Sym c in children)
        {
            if (c is Global g && g.Tracked.Class != ImportClass.Allowed)
            {
                g.Tracked.Called = true;
                Add(FindingSeverity.Blocking,
                    via is null
                        ? $"{(g.Tracked.Class == ImportClass.Denied ? "denied " : "")}{g.Tracked.Import.FullName} is stored into an object by {opcode}; a stored callable runs on a later BUILD or use"
                        : $"{(g.Tracked.Class == ImportClass.Denied ? "denied " : "")}{g.Tracked.Import.FullName} is passed to {via} by {opcode}; a callable it keeps runs later",
                    g.Tracked.Import.FullName, opcode, at, entry);
            }
            else if (c is not Global)
            {
                CheckStored(c, opcode, at, entry, level + 1, via);
            }
        }
    }

    private void ScanNested(Sym args, long at, string? entry, int depth)
    {
        if (args is not Tuple t)
        {
            return;
        }

        foreach (Sym a in t.Items)
        {
            if (a is Bytes b && b.Data.Length > 1 && (b.Data.Span[0] == 0x80 || b.Data.Span[0] == (byte)'c' || b.Data.Span[0] == (byte)'('))
            {
                if (depth + 1 > limits.MaxNesting)
                {
                    Add(FindingSeverity.Blocking, $"nested pickle at byte {b.Offset} not scanned: deeper than ScanLimits.MaxNesting ({limits.MaxNesting})",
                        null, "LIMIT", b.Offset, entry);
                    continue;
                }

                ScanAll(b.Data, $"{entry ?? "stream"}: nested pickle at byte {b.Offset}", depth + 1);
            }
        }
    }

    private void Malformed(string message, string opcode, long at, string? entry) =>
        Add(FindingSeverity.Blocking, "malformed pickle: " + message, null, opcode, at, entry);

    private void Add(FindingSeverity severity, string message, string? import, string? opcode, long? at, string? entry) =>
        findings.Add(new ScanFinding(severity, message, import, opcode, at, entry));

    private static string Describe(Sym? s) => s switch
    {
        Instance i => $"the result of calling {i.Class.Tracked.Import.FullName}",
        Str => "a string",
        null => "nothing",
        _ => "a value",
    };

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

    private static Sym Pop(List<Sym> stack)
    {
        if (stack.Count == 0)
        {
            throw new MalformedPickleException("stack underflow");
        }

        Sym s = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return s;
    }

    private static Sym Peek(List<Sym> stack, int depth) =>
        stack.Count > depth ? stack[^(depth + 1)] : throw new MalformedPickleException("stack underflow");

    private static List<Sym> PopMark(List<Sym> stack, List<int> marks)
    {
        if (marks.Count == 0)
        {
            throw new MalformedPickleException("no MARK to pop to");
        }

        int m = marks[^1];
        marks.RemoveAt(marks.Count - 1);
        if (m > stack.Count)
        {
            throw new MalformedPickleException("MARK above the stack");
        }

        List<Sym> items = stack.GetRange(m, stack.Count - m);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private static ReadOnlySpan<byte> ReadBytes(ReadOnlySpan<byte> data, ref long pos, long n)
    {
        if (n < 0 || n > data.Length - pos)
        {
            throw new MalformedPickleException($"truncated: {n} bytes wanted at byte {pos}, {data.Length - pos} left");
        }

        ReadOnlySpan<byte> s = data.Slice((int)pos, (int)n);
        pos += n;
        return s;
    }

    private static long ReadLength4(ReadOnlySpan<byte> data, ref long pos) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(data, ref pos, 4));

    private static long ReadLength8(ReadOnlySpan<byte> data, ref long pos)
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(data, ref pos, 8));
        return n > int.MaxValue ? throw new MalformedPickleException($"length {n} too large") : (long)n;
    }

    private static string ReadLine(ReadOnlySpan<byte> data, ref long pos)
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

    private static long ParseMemoKey(string s) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long k) ? k : throw new MalformedPickleException($"bad memo key '{s}'");

    internal static string OpName(byte op) => op switch
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

    private sealed class MalformedPickleException(string message) : Exception(message);

    private sealed class Tracked(PickleImport import, ImportClass cls)
    {
        public PickleImport Import { get; } = import;
        public ImportClass Class { get; } = cls;
        public bool Called { get; set; }
    }

    private abstract class Sym;

    private sealed class Other : Sym
    {
        public static readonly Other Value = new();
    }

    private sealed class Int(long value) : Sym
    {
        public long Value { get; } = value;
    }

    private sealed class Str(string value) : Sym
    {
        public string Value { get; } = value;
    }

    private sealed class Bytes(ReadOnlyMemory<byte> data, long offset) : Sym
    {
        public ReadOnlyMemory<byte> Data { get; } = data;
        public long Offset { get; } = offset;
    }

    private sealed class Tuple(List<Sym> items) : Sym
    {
        public List<Sym> Items { get; } = items;
    }

    private sealed class ListSym : Sym
    {
        public List<Sym> Items { get; init; } = [];
    }

    private sealed class Dict : Sym
    {
        public List<(Sym Key, Sym Value)> Items { get; } = [];

        public Sym? Get(string key)
        {
            foreach ((Sym k, Sym v) in Items)
            {
                if (k is Str s && s.Value == key)
                {
                    return v;
                }
            }

            return null;
        }
    }

    private sealed class Global(Tracked tracked) : Sym
    {
        public Tracked Tracked { get; } = tracked;
    }

    private sealed class Instance(Global cls, Sym args) : Sym
    {
        public Global Class { get; } = cls;
        public Sym Args { get; } = args;
        public Sym? State { get; set; }
    }
}
