using static Monitor.Core.Provenance.Sym;

namespace Monitor.Core.Provenance;

// The judgement: which imports are called, instantiated or stored, and whether that blocks trust (see ImportPolicy).
internal sealed partial class PickleScanner
{
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
                    Sym? cls = (args as TupleSym)?.Items.FirstOrDefault();
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
            TupleSym t => t.Items,
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
        if (args is not TupleSym t)
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

    private static string Describe(Sym? s) => s switch
    {
        Instance i => $"the result of calling {i.Class.Tracked.Import.FullName}",
        Str => "a string",
        null => "nothing",
        _ => "a value",
    };
}
