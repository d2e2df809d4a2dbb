using System.Buffers.Binary;
using static Monitor.Core.Provenance.PickleReader;
using static Monitor.Core.Provenance.Sym;

namespace Monitor.Core.Provenance;

/// <summary>
/// Reads pickle streams (protocols 0 to 5) opcode by opcode without unpickling anything. A small symbolic
/// stack and memo (<see cref="PickleMachine"/>) follow strings, numbers, tuples, dicts, imported names and the
/// objects made from them, enough to resolve STACK_GLOBAL (also through the memo), to see which import REDUCE,
/// NEWOBJ, INST, OBJ and BUILD call (judged in PickleScanner.Calls.cs), and to step over the array bytes joblib
/// writes after a NumpyArrayWrapper (PickleScanner.Joblib.cs).
/// </summary>
internal sealed partial class PickleScanner(ScanLimits limits, List<PickleImport> imports, List<ScanFinding> findings)
{
    private long _opcodes;

    /// <summary>Highest PROTO seen; 0 or 1 for streams without one.</summary>
    public int? Protocol { get; private set; }

    /// <summary>Whether a joblib NumpyArrayWrapper was seen.</summary>
    public bool SawJoblib { get; private set; }

    /// <summary>Whether a limit stopped the scan.</summary>
    public bool Stopped { get; private set; }

    /// <summary>
    /// Scans every pickle in <paramref name="data"/>, one after another (joblib and torch write several), or the first
    /// <paramref name="count"/> of them. Returns the offset after the last pickle scanned (-1 when a stream could not be
    /// read to its STOP: a finding says why) and how many pickles were read to their STOP.
    /// </summary>
    public (long End, int Pickles) ScanAll(ReadOnlyMemory<byte> data, string? entry, int depth = 0, int count = int.MaxValue)
    {
        var tracked = new List<Tracked>();
        long pos = 0;
        int scanned = 0;
        while (pos < data.Length && !Stopped && scanned < count)
        {
            long end = ScanOne(data, pos, entry, depth, tracked);
            if (end < 0)
            {
                pos = -1;
                break;
            }

            pos = end;
            scanned++;
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

        return (Stopped ? -1 : pos, scanned);
    }

    // Returns the offset after STOP, or -1 when the stream cannot be read further (a finding says why).
    private long ScanOne(ReadOnlyMemory<byte> memory, long start, string? entry, int depth, List<Tracked> tracked)
    {
        ReadOnlySpan<byte> data = memory.Span;
        var machine = new PickleMachine();
        long pos = start;

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
                if (machine.Step(op, name, at, memory, ref pos))
                {
                    continue;
                }

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
                            Protocol = machine.Binary ? 1 : 0;
                        }

                        return pos;
                    case 0x97: // NEXT_BUFFER: out-of-band data the scanner cannot see
                        machine.Push(Other.Value);
                        Add(FindingSeverity.Warning, "NEXT_BUFFER takes out-of-band data that is not in the file", null, name, at, entry);
                        break;

                    // Imports.
                    case (byte)'c': // GLOBAL
                        {
                            string module = ReadLine(data, ref pos);
                            string qual = ReadLine(data, ref pos);
                            machine.Push(Import(module, qual, name, at, entry, tracked));
                            break;
                        }
                    case 0x93: // STACK_GLOBAL
                        {
                            Sym qual = machine.Pop();
                            Sym module = machine.Pop();
                            if (module is not Str m || qual is not Str q)
                            {
                                Add(FindingSeverity.Blocking, "STACK_GLOBAL imports a name that is not a string literal; the import cannot be known",
                                    null, name, at, entry);
                                machine.Push(Other.Value);
                                break;
                            }

                            machine.Push(Import(m.Value, q.Value, name, at, entry, tracked));
                            break;
                        }
                    case 0x82:
                    case 0x83:
                    case 0x84: // EXT1, EXT2, EXT4: the copyreg extension registry
                        {
                            ReadBytes(data, ref pos, op == 0x82 ? 1 : op == 0x83 ? 2 : 4);
                            Add(FindingSeverity.Blocking, $"{name} imports through the copyreg extension registry, which the scanner cannot resolve",
                                null, name, at, entry);
                            machine.Push(Other.Value);
                            break;
                        }

                    // Calls.
                    case (byte)'R': // REDUCE
                    case 0x81: // NEWOBJ
                        {
                            Sym args = machine.Pop();
                            Sym callable = machine.Pop();
                            machine.Push(Call(callable, args, name, at, entry, depth));
                            break;
                        }
                    case 0x92: // NEWOBJ_EX
                        {
                            Sym kwargs = machine.Pop();
                            Sym args = machine.Pop();
                            Sym cls = machine.Pop();
                            CheckStored(kwargs, name, at, entry);
                            machine.Push(Call(cls, args, name, at, entry, depth));
                            break;
                        }
                    case (byte)'i': // INST
                        {
                            string module = ReadLine(data, ref pos);
                            string qual = ReadLine(data, ref pos);
                            List<Sym> args = machine.PopMark();
                            machine.Push(Call(Import(module, qual, name, at, entry, tracked), new TupleSym(args), name, at, entry, depth));
                            break;
                        }
                    case (byte)'o': // OBJ
                        {
                            machine.Binary = true;
                            List<Sym> items = machine.PopMark();
                            if (items.Count == 0)
                            {
                                Malformed($"OBJ without a class at byte {at}", name, at, entry);
                                return -1;
                            }

                            machine.Push(Call(items[0], new TupleSym(items.GetRange(1, items.Count - 1)), name, at, entry, depth));
                            break;
                        }
                    case (byte)'b': // BUILD
                        {
                            Sym state = machine.Pop();
                            Sym obj = machine.Peek();
                            long skip = Build(obj, state, memory, pos, name, at, entry, depth, tracked);
                            if (skip < 0)
                            {
                                return -1;
                            }

                            pos += skip;
                            break;
                        }
                    default:
                        Malformed($"unknown opcode 0x{op:x2} at byte {at}", $"0x{op:x2}", at, entry);
                        return -1;
                }
            }
            catch (MalformedPickleException e)
            {
                Malformed(e.Complete ? e.Message : $"{e.Message} ({name} at byte {at})", name, at, entry);
                return -1;
            }
        }
    }

    private void Malformed(string message, string opcode, long at, string? entry) =>
        Add(FindingSeverity.Blocking, "malformed pickle: " + message, null, opcode, at, entry);

    private void Add(FindingSeverity severity, string message, string? import, string? opcode, long? at, string? entry) =>
        findings.Add(new ScanFinding(severity, message, import, opcode, at, entry));
}
