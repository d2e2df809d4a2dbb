namespace Monitor.Core.Provenance;

/// <summary>How the scanner classes an imported name.</summary>
public enum ImportClass
{
    /// <summary>On neither list: a call blocks trust (fail closed), a mere reference is a warning.</summary>
    Unknown,
    /// <summary>Known to rebuild data only; may be called.</summary>
    Allowed,
    /// <summary>Runs code, reaches the system or loads more code; blocks trust wherever it appears.</summary>
    Denied,
}

/// <summary>
/// The deny and allow lists of pickle imports, each entry with its reason (docs/security.md prints the same
/// tables). A name matches an entry equal to <c>module.name</c>, or an entry ending in <c>.*</c> whose
/// prefix is the module or a parent module; deny wins over allow.
/// </summary>
public static class ImportPolicy
{
    /// <summary>Denied names and modules with the reason.</summary>
    public static IReadOnlyList<(string Entry, string Reason)> Deny { get; } =
    [
        ("os.*", "process execution (system, popen, exec*, spawn*), file and environment access"),
        ("posix.*", "what `os` is called on Linux/macOS when pickled (`posix.system`)"),
        ("nt.*", "what `os` is called on Windows when pickled (`nt.system`)"),
        ("subprocess.*", "starts processes (`Popen`, `run`, `call`, `check_output`)"),
        ("builtins.eval", "evaluates a Python expression"),
        ("builtins.exec", "executes Python statements"),
        ("builtins.compile", "makes code objects to execute"),
        ("builtins.open", "reads and writes files"),
        ("builtins.getattr", "reaches any attribute of an allowed object (`getattr(obj, 'system')`), the usual way round a list"),
        ("builtins.setattr", "rewrites attributes of loaded modules and classes"),
        ("builtins.delattr", "removes attributes of loaded modules and classes"),
        ("builtins.__import__", "imports any module"),
        ("builtins.globals", "reaches the loader's globals"),
        ("builtins.locals", "reaches the loader's locals"),
        ("builtins.vars", "reaches an object's namespace"),
        ("builtins.input", "blocks on and reads standard input"),
        ("builtins.breakpoint", "starts a debugger"),
        ("builtins.help", "starts the interactive help (a pager)"),
        ("builtins.memoryview", "raw memory access"),
        ("__builtin__.*", "Python 2's name for `builtins`; nothing legitimate pickles it under Python 3"),
        ("importlib.*", "imports any module (`import_module`)"),
        ("pkgutil.*", "imports modules by name (`resolve_name`)"),
        ("operator.attrgetter", "reaches any attribute, like `getattr`"),
        ("operator.itemgetter", "reaches items of namespaces, like `getattr`"),
        ("operator.methodcaller", "calls any method by name"),
        ("_operator.*", "the C implementation of `operator`'s getters"),
        ("pickle.*", "`pickle.loads` of embedded bytes hides a second pickle from a shallow scan"),
        ("_pickle.*", "the C implementation of `pickle`"),
        ("dill.*", "unpickles code objects and functions"),
        ("cloudpickle.*", "unpickles code objects and functions"),
        ("joblib.load", "loads another file (a nested pickle)"),
        ("torch.load", "loads another pickle"),
        ("torch.serialization.*", "loads another pickle"),
        ("torch.storage._load_from_bytes", "`torch.load` of embedded bytes"),
        ("numpy.load", "with `allow_pickle`, loads another pickle"),
        ("numpy.lib.npyio.*", "`numpy.load` and friends"),
        ("marshal.*", "loads code objects"),
        ("types.FunctionType", "builds a function from a code object"),
        ("types.CodeType", "builds a code object"),
        ("types.MethodType", "binds a callable to an object"),
        ("functools.partial", "calls its target later, with arguments chosen by the pickle"),
        ("functools.reduce", "calls a callable repeatedly"),
        ("socket.*", "network access"),
        ("shutil.*", "copies, moves and deletes files"),
        ("sys.*", "interpreter state (`sys.modules`, `sys.path`), exits"),
        ("runpy.*", "runs modules and files"),
        ("code.*", "interactive interpreter, `InteractiveInterpreter.runsource`"),
        ("codeop.*", "compiles code"),
        ("pty.*", "spawns shells"),
        ("webbrowser.*", "opens URLs, starts programs"),
        ("ctypes.*", "calls native code"),
        ("_ctypes.*", "calls native code"),
        ("multiprocessing.*", "starts processes"),
        ("asyncio.*", "subprocess and network APIs"),
        ("urllib.*", "network access"),
        ("http.*", "network access"),
        ("requests.*", "network access"),
        ("ftplib.*", "network access"),
        ("smtplib.*", "network access"),
        ("telnetlib.*", "network access"),
        ("tempfile.*", "creates files"),
        ("pathlib.*", "reads, writes and deletes files"),
        ("io.*", "opens files (`io.open`, `FileIO`)"),
        ("_io.*", "the C implementation of `io`"),
        ("glob.*", "file system access"),
        ("signal.*", "changes signal handlers of the host process"),
        ("threading.*", "starts threads running a callable"),
        ("_thread.*", "starts threads running a callable"),
        ("bdb.*", "debugger"),
        ("pdb.*", "debugger"),
        ("timeit.*", "executes strings as code"),
        ("trace.*", "executes code"),
        ("profile.*", "executes strings as code"),
        ("cProfile.*", "executes strings as code"),
        ("venv.*", "creates environments and runs pip"),
        ("ensurepip.*", "runs pip"),
        ("pip.*", "installs packages"),
        ("setuptools.*", "builds and runs packages"),
        ("distutils.*", "spawns compilers and commands"),
        ("sqlite3.*", "opens database files"),
        ("zipimport.*", "imports code from archives"),
        ("gc.*", "reaches every live object (`gc.get_objects`)"),
        ("inspect.*", "reaches frames and globals"),
    ];

    /// <summary>Allowed names and modules with the reason.</summary>
    public static IReadOnlyList<(string Entry, string Reason)> Allow { get; } =
    [
        ("numpy.core.multiarray._reconstruct", "rebuilds an ndarray (numpy < 2)"),
        ("numpy._core.multiarray._reconstruct", "rebuilds an ndarray (numpy 2)"),
        ("numpy.core.multiarray.scalar", "rebuilds a numpy scalar from its bytes"),
        ("numpy._core.multiarray.scalar", "rebuilds a numpy scalar from its bytes (numpy 2)"),
        ("numpy.core.numeric._frombuffer", "rebuilds an ndarray from a pickle-5 buffer"),
        ("numpy._core.numeric._frombuffer", "rebuilds an ndarray from a pickle-5 buffer (numpy 2)"),
        ("numpy.ndarray", "the array class `_reconstruct` is given"),
        ("numpy.dtype", "element types; `BUILD` sets only byte order and field layout"),
        ("numpy.random._pickle.__randomstate_ctor", "rebuilds a `RandomState` (estimators keep one)"),
        ("numpy.random._pickle.__generator_ctor", "rebuilds a `Generator`"),
        ("numpy.random._pickle.__bit_generator_ctor", "rebuilds a bit generator"),
        ("numpy.random._mt19937.MT19937", "bit generator class"),
        ("numpy.random._pcg64.PCG64", "bit generator class"),
        ("collections.OrderedDict", "dictionary (torch state_dicts are OrderedDicts)"),
        ("collections.defaultdict", "dictionary; its factory is checked like any other import"),
        ("collections.Counter", "dictionary"),
        ("collections.deque", "list"),
        ("torch._utils._rebuild_tensor_v2", "rebuilds a tensor from a storage, offset, size and stride"),
        ("torch._utils._rebuild_tensor", "rebuilds a tensor (older torch)"),
        ("torch._utils._rebuild_parameter", "wraps a tensor as an `nn.Parameter`"),
        ("torch._utils._rebuild_parameter_with_state", "wraps a tensor as an `nn.Parameter` with attributes"),
        ("torch._tensor._rebuild_from_type_v2", "rebuilds a tensor subclass (`nn.Parameter` in newer torch); the function and class it is given are checked like any import"),
        ("torch.nn.parameter.Parameter", "the tensor subclass of module weights"),
        ("torch.Tensor", "the tensor class"),
        ("torch.FloatStorage", "storage type named in a persistent id"),
        ("torch.DoubleStorage", "storage type named in a persistent id"),
        ("torch.HalfStorage", "storage type named in a persistent id"),
        ("torch.BFloat16Storage", "storage type named in a persistent id"),
        ("torch.LongStorage", "storage type named in a persistent id"),
        ("torch.IntStorage", "storage type named in a persistent id"),
        ("torch.ShortStorage", "storage type named in a persistent id"),
        ("torch.CharStorage", "storage type named in a persistent id"),
        ("torch.ByteStorage", "storage type named in a persistent id"),
        ("torch.BoolStorage", "storage type named in a persistent id"),
        ("torch.storage.UntypedStorage", "storage type named in a persistent id"),
        ("torch.float32", "dtype object"),
        ("torch.float16", "dtype object"),
        ("torch.bfloat16", "dtype object"),
        ("torch.float64", "dtype object"),
        ("torch.int64", "dtype object"),
        ("torch.int32", "dtype object"),
        ("torch.int8", "dtype object"),
        ("torch.uint8", "dtype object"),
        ("torch.bool", "dtype object"),
        ("torch.Size", "tuple of dimensions"),
        ("sklearn.*", "estimators are pickled as their class followed by `BUILD` of their attributes; a class is only instantiated, its methods are not called on load"),
        ("joblib.numpy_pickle.NumpyArrayWrapper", "placeholder joblib writes for an array whose bytes follow in the file"),
        ("copyreg._reconstructor", "`object.__reduce_ex__` for protocols 0 and 1; allowed only when the class it is given is itself allowed"),
        ("copy_reg._reconstructor", "Python 2 spelling of `copyreg._reconstructor`, same condition"),
        ("_codecs.encode", "how protocol 2 writes `bytes` (`encode(text, 'latin1')`)"),
        ("builtins.set", "container"),
        ("builtins.frozenset", "container"),
        ("builtins.bytearray", "container"),
        ("builtins.bytes", "container"),
        ("builtins.complex", "number"),
        ("builtins.slice", "slice object"),
        ("builtins.range", "range object"),
        ("builtins.object", "the base class `copyreg._reconstructor` names"),
        ("builtins.list", "container"),
        ("builtins.dict", "container"),
        ("builtins.tuple", "container"),
        ("builtins.int", "number"),
        ("builtins.float", "number"),
        ("builtins.str", "text"),
        ("builtins.bool", "truth value"),
        ("datetime.datetime", "timestamp"),
        ("datetime.date", "date"),
        ("datetime.timedelta", "duration"),
        ("datetime.timezone", "time zone"),
        ("decimal.Decimal", "number"),
    ];

    /// <summary>Classes a name.</summary>
    public static ImportClass Classify(string module, string name)
    {
        string full = module + "." + name;
        if (name.Contains('.', StringComparison.Ordinal))
        {
            return ClassifyDotted(full);
        }

        if (Matches(Deny, module, full))
        {
            return ImportClass.Denied;
        }

        return Matches(Allow, module, full) ? ImportClass.Allowed : ImportClass.Unknown;
    }

    // From protocol 4 the unpickler walks a dotted name attribute by attribute, so an allowed module reaches
    // whatever it imported ('sklearn', 'utils.os.system'). A dotted name is denied when any stretch of it is,
    // allowed only when an entry names it exactly, and otherwise unknown.
    private static ImportClass ClassifyDotted(string full)
    {
        string[] parts = full.Split('.');
        for (int start = 0; start < parts.Length - 1; start++)
        {
            for (int split = start + 1; split < parts.Length; split++)
            {
                string mod = string.Join('.', parts[start..split]);
                string rest = string.Join('.', parts[split..]);
                if (Matches(Deny, mod, mod + "." + rest) || Matches(Deny, mod, mod + "." + parts[split]))
                {
                    return ImportClass.Denied;
                }
            }
        }

        foreach ((string entry, _) in Allow)
        {
            if (entry == full)
            {
                return ImportClass.Allowed;
            }
        }

        return ImportClass.Unknown;
    }

    /// <summary>The reason recorded for the entry that decides a name, or null.</summary>
    public static string? ReasonFor(string module, string name)
    {
        string full = module + "." + name;
        foreach (var list in new[] { Deny, Allow })
        {
            foreach ((string entry, string reason) in list)
            {
                if (EntryMatches(entry, module, full))
                {
                    return reason;
                }
            }
        }

        return null;
    }

    private static bool Matches(IReadOnlyList<(string Entry, string Reason)> list, string module, string full)
    {
        foreach ((string entry, _) in list)
        {
            if (EntryMatches(entry, module, full))
            {
                return true;
            }
        }

        return false;
    }

    private static bool EntryMatches(string entry, string module, string full)
    {
        if (entry.EndsWith(".*", StringComparison.Ordinal))
        {
            string prefix = entry[..^2];
            return module == prefix || module.StartsWith(prefix + ".", StringComparison.Ordinal);
        }

        return full == entry;
    }
}
