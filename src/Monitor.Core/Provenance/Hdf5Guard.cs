using System.Buffers.Binary;

namespace Monitor.Core.Provenance;

/// <summary>
/// Walks the parts of an HDF5 file that PureHDF decodes to read a root attribute (superblock, the root object
/// header with its continuation blocks, its attribute messages and the global heap collections their
/// variable-length data points to) and checks every length there against the file and
/// <see cref="ScanLimits.MaxBytes"/>, before PureHDF is let near it. PureHDF allocates what the file declares
/// (an attribute's dataspace × type size, a heap object's size) before it reads it, and follows continuation
/// blocks without noticing a loop, so a one-byte change can make it allocate gigabytes or recurse until the
/// stack overflows. Anything this walk does not understand is refused: it only has to accept what h5py and
/// Keras write at the root of a model file.
/// </summary>
internal sealed class Hdf5Guard
{
    private const ulong Undefined = ulong.MaxValue;
    private const int MaxHeaderBlocks = 64;
    private const int MaxMessages = 4096;

    private readonly Stream _stream;
    private readonly long _start;
    private readonly long _length;
    private readonly long _maxBytes;
    private readonly HashSet<ulong> _blocks = [];
    private readonly HashSet<ulong> _heaps = [];
    private int _messages;
    private long _read;

    private Hdf5Guard(Stream stream, long maxBytes)
    {
        _stream = stream;
        _start = stream.Position;
        _length = stream.Length - _start;
        _maxBytes = maxBytes;
    }

    /// <summary>Null when PureHDF may read the root attributes of the file at the stream's position; else why not.</summary>
    public static Hdf5Exception? Check(Stream stream, ScanLimits limits)
    {
        var guard = new Hdf5Guard(stream, limits.MaxBytes);
        long position = stream.Position;
        try
        {
            guard.Superblock();
            return null;
        }
        catch (Hdf5Exception e)
        {
            return e;
        }
        finally
        {
            stream.Position = position;
        }
    }

    private void Superblock()
    {
        byte[] sb = Read(0, 8 + 4);
        int version = sb[8];
        ulong root;
        ulong extension = Undefined;
        if (version is 0 or 1)
        {
            byte[] fixedPart = Read(0, 24 + (version == 1 ? 4 : 0));
            RequireSizes(fixedPart[13], fixedPart[14]);
            long at = fixedPart.Length;
            byte[] addresses = Read(at, 4 * 8 + 8 * 2);
            ulong baseAddress = U64(addresses, 0);
            ulong driverInfo = U64(addresses, 24);
            Require(baseAddress == 0, "a base address other than 0 is not read");
            root = U64(addresses, 40); // the root group's symbol table entry: link name offset, then object header address
            if (driverInfo != Undefined)
            {
                byte[] info = Read(Address(driverInfo), 16);
                Within(Address(driverInfo) + 16, BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(4)), "driver information block");
            }
        }
        else if (version is 2 or 3)
        {
            byte[] fixedPart = Read(0, 12 + 4 * 8);
            RequireSizes(fixedPart[9], fixedPart[10]);
            Require(U64(fixedPart, 12) == 0, "a base address other than 0 is not read");
            extension = U64(fixedPart, 20);
            root = U64(fixedPart, 36);
        }
        else
        {
            throw new Hdf5Exception($"superblock version {version} is not read");
        }

        ObjectHeader(Address(root));
        if (extension != Undefined)
        {
            ObjectHeader(Address(extension));
        }
    }

    private static void RequireSizes(byte offsets, byte lengths) =>
        Require(offsets == 8 && lengths == 8, $"offsets of {offsets} bytes and lengths of {lengths} bytes are not read (only 8 and 8)");

    private void ObjectHeader(long at)
    {
        byte[] prefix = Read(at, 16);
        if (prefix[0] == 1)
        {
            uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(8));
            Block(at + 16, headerSize, version: 1, creationOrder: false);
            return;
        }

        Require(prefix.AsSpan(0, 4).SequenceEqual("OHDR"u8) && prefix[4] == 2, $"no object header at byte {at}");
        byte flags = prefix[5];
        long pos = at + 6 + ((flags & 0x20) != 0 ? 16 : 0) + ((flags & 0x10) != 0 ? 4 : 0);
        int sizeBytes = 1 << (flags & 3);
        byte[] size = Read(pos, sizeBytes);
        ulong chunk0 = 0;
        for (int i = sizeBytes - 1; i >= 0; i--)
        {
            chunk0 = (chunk0 << 8) | size[i];
        }

        Block(pos + sizeBytes, chunk0, version: 2, creationOrder: (flags & 0x04) != 0);
    }

    // One block of header messages, as PureHDF's ReadHeaderMessages reads it, then its continuation blocks.
    private void Block(long from, ulong size, int version, bool creationOrder)
    {
        Require(_blocks.Add((ulong)from), $"object header continuation loops back to byte {from}");
        Require(_blocks.Count <= MaxHeaderBlocks, $"more than {MaxHeaderBlocks} object header blocks");
        long end = Within(from, size, "object header");
        int prefix = version == 1 ? 8 : 4 + (creationOrder ? 2 : 0);
        int gap = version == 1 ? 0 : prefix;
        var continuations = new List<(ulong Offset, ulong Length)>();
        long pos = from;
        while (end - pos > gap)
        {
            Require(++_messages <= MaxMessages, $"more than {MaxMessages} object header messages");
            byte[] head = Read(pos, prefix);
            int type = version == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(head) : head[0];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(version == 1 ? 2 : 1));
            byte flags = head[version == 1 ? 4 : 3];
            long data = pos + prefix;
            Require(data + length <= end, $"header message of {length} bytes at byte {pos} runs past its block");
            Require((flags & 0x02) == 0, $"shared header message of type {type} at byte {pos} is not read");
            byte[] body = Read(data, length);
            switch (type)
            {
                case 0x00: // NIL
                case 0x02: // link info
                case 0x0A: // group info
                case 0x0E: // old modification time
                case 0x11: // symbol table
                case 0x12: // modification time
                case 0x0F: // shared message table (superblock extension)
                case 0x13: // B-tree 'K' values
                case 0x14: // driver info (superblock extension), at most 64 KiB
                case 0x16: // object reference count
                    break;
                case 0x06:
                    Link(body, pos);
                    break;
                case 0x0C:
                    Attribute(body, data);
                    break;
                case 0x10: // continuation
                    Require(length >= 16, $"continuation message at byte {pos} too short");
                    continuations.Add((U64(body, 0), U64(body, 8)));
                    break;
                case 0x15: // attribute info: dense storage lives in a fractal heap PureHDF reads without bounds
                    {
                        Require(length >= 18, $"attribute info message at byte {pos} too short");
                        ulong heap = U64(body, (body[1] & 1) != 0 ? 4 : 2);
                        Require(heap == Undefined, "attributes in dense storage (a fractal heap) are not read");
                        break;
                    }
                default:
                    throw new Hdf5Exception($"header message of type 0x{type:x2} at byte {pos} is not expected in a root group");
            }

            pos = data + length;
        }

        foreach ((ulong offset, ulong length) in continuations)
        {
            long at = Address(offset);
            if (version == 1)
            {
                Block(at, length, version, creationOrder: false);
            }
            else
            {
                Require(length >= 8 && Read(at, 4).AsSpan().SequenceEqual("OCHK"u8), $"no continuation block at byte {at}");
                Block(at + 4, length - 8, version, creationOrder);
            }
        }
    }

    private static void Link(byte[] body, long pos)
    {
        Require(body.Length >= 2 && body[0] == 1, $"link message at byte {pos} of an unknown version");
        byte flags = body[1];
        int at = 2 + ((flags & 0x08) != 0 ? 1 : 0) + ((flags & 0x04) != 0 ? 8 : 0) + ((flags & 0x10) != 0 ? 1 : 0);
        int sizeBytes = 1 << (flags & 3);
        Require(body.Length >= at + sizeBytes, $"link message at byte {pos} too short");
        ulong nameLength = 0;
        for (int i = sizeBytes - 1; i >= 0; i--)
        {
            nameLength = (nameLength << 8) | body[at + i];
        }

        Require(nameLength <= (ulong)(body.Length - at - sizeBytes), $"link name of {nameLength} bytes at byte {pos} runs past its message");
    }

    // PureHDF decodes an attribute message and reads its data (dataspace × type size bytes) at once, before anything asks for it.
    private void Attribute(byte[] body, long data)
    {
        Require(body.Length >= 8, $"attribute message at byte {data} too short");
        int version = body[0];
        Require(version is >= 1 and <= 3, $"attribute message version {version} at byte {data} is not read");
        Require(version == 1 || (body[1] & 3) == 0, $"attribute at byte {data} with a shared datatype or dataspace is not read");
        int nameSize = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(2));
        int typeSize = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(4));
        int spaceSize = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(6));
        int pos = version == 3 ? 9 : 8;
        Require(nameSize >= 1 && pos + nameSize <= body.Length && Array.IndexOf(body, (byte)0, pos, nameSize) == pos + nameSize - 1,
            $"attribute name at byte {data} is not a NUL-terminated string of its stated size");
        pos += version == 1 ? Pad8(nameSize) : nameSize;

        int typeEnd = Datatype(body, pos, data, allowVlen: true, out long elementSize, out bool vlen);
        Require(typeEnd - pos == typeSize, $"attribute datatype at byte {data} is {typeEnd - pos} bytes, its message says {typeSize}");
        pos += version == 1 ? Pad8(typeSize) : typeSize;

        int spaceEnd = Dataspace(body, pos, data, out ulong count);
        Require(spaceEnd - pos == spaceSize, $"attribute dataspace at byte {data} is {spaceEnd - pos} bytes, its message says {spaceSize}");
        pos += version == 1 ? Pad8(spaceSize) : spaceSize;

        ulong left = (ulong)Math.Max(0, body.Length - pos);
        Require(count <= left && (count == 0 || (ulong)elementSize <= left / count),
            $"attribute at byte {data} declares {count} elements of {elementSize} bytes in a message with {left} bytes left");
        if (vlen)
        {
            for (ulong i = 0; i < count; i++)
            {
                ulong heap = U64(body, pos + (int)i * 16 + 4);
                if (heap != 0 && heap != Undefined && _heaps.Add(heap))
                {
                    GlobalHeap(Address(heap));
                }
            }
        }
    }

    // Numbers, fixed-length strings and variable-length strings or sequences of them: what Keras writes at the root.
    private static int Datatype(byte[] body, int pos, long data, bool allowVlen, out long size, out bool vlen)
    {
        Require(pos + 8 <= body.Length, $"attribute datatype at byte {data} runs past its message");
        int cls = body[pos] & 0x0F;
        size = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(pos + 4));
        vlen = false;
        switch (cls)
        {
            case 0: // fixed-point
                return Need(body, pos + 8 + 4, data);
            case 1: // floating-point
                return Need(body, pos + 8 + 12, data);
            case 3: // string
                return pos + 8;
            case 9 when allowVlen:
                vlen = true;
                Require(size == 16, $"variable-length attribute at byte {data} with elements of {size} bytes (16 expected)");
                return Datatype(body, pos + 8, data, allowVlen: false, out _, out _);
            default:
                throw new Hdf5Exception($"attribute at byte {data} of datatype class {cls} is not read");
        }
    }

    private static int Need(byte[] body, int end, long data)
    {
        Require(end <= body.Length, $"attribute datatype at byte {data} runs past its message");
        return end;
    }

    private static int Dataspace(byte[] body, int pos, long data, out ulong count)
    {
        Require(pos + 4 <= body.Length, $"attribute dataspace at byte {data} runs past its message");
        int version = body[pos];
        int rank = body[pos + 1];
        byte flags = body[pos + 2];
        Require(version is 1 or 2 && rank <= 32, $"attribute dataspace at byte {data}: version {version}, rank {rank}");
        int header = version == 1 ? 8 : 4;
        int arrays = 1 + ((flags & 1) != 0 ? 1 : 0) + ((flags & 2) != 0 ? 1 : 0);
        int end = pos + header + rank * 8 * arrays;
        Require(end <= body.Length, $"attribute dataspace at byte {data} runs past its message");
        int type = version == 1 ? (rank == 0 ? 0 : 1) : body[pos + 3];
        Require(type is 0 or 1 or 2, $"attribute dataspace at byte {data} of type {type}");
        count = type == 0 ? 1UL : type == 2 ? 0UL : 1UL; // scalar, null, simple (the product of its dimensions)
        for (int i = 0; type == 1 && i < rank; i++)
        {
            ulong d = U64(body, pos + header + i * 8);
            count = d == 0 || count == 0 ? 0 : count <= ulong.MaxValue / d ? count * d : ulong.MaxValue;
        }

        return end;
    }

    // PureHDF decodes every object of a collection when one is asked for, allocating each object's stated size.
    private void GlobalHeap(long at)
    {
        byte[] head = Read(at, 16);
        Require(head.AsSpan(0, 4).SequenceEqual("GCOL"u8) && head[4] == 1, $"no global heap collection at byte {at}");
        ulong size = U64(head, 8);
        Require(size >= 4096, $"global heap collection at byte {at} of {size} bytes (at least 4096)");
        long end = Within(at, size, "global heap collection");
        ulong remaining = size - 16;
        long pos = at + 16;
        while (remaining > 16)
        {
            byte[] obj = Read(pos, 2);
            if (BinaryPrimitives.ReadUInt16LittleEndian(obj) == 0)
            {
                break;
            }

            ulong objectSize = U64(Read(pos, 16), 8);
            Require(objectSize <= (ulong)(end - pos - 16), $"global heap object of {objectSize} bytes at byte {pos} runs past its collection");
            long consumed = 16 + Pad8((long)objectSize);
            Require((ulong)consumed <= remaining, $"global heap object at byte {pos} runs past its collection");
            remaining -= (ulong)consumed;
            pos += consumed;
        }
    }

    private static int Pad8(int n) => (n + 7) / 8 * 8;

    private static long Pad8(long n) => (n + 7) / 8 * 8;

    private long Address(ulong address)
    {
        Require(address < (ulong)_length, $"address {address} is beyond the end of the file ({_length} bytes)");
        return (long)address;
    }

    // The end of a region of `size` bytes at `at`, which must lie in the file and within ScanLimits.MaxBytes.
    private long Within(long at, ulong size, string what)
    {
        Require(at >= 0 && at <= _length && size <= (ulong)(_length - at),
            $"{what} of {size} bytes at byte {at} runs past the end of the file ({_length} bytes)");
        if (size > (ulong)_maxBytes)
        {
            throw new Hdf5Exception($"{what} of {size} bytes exceeds ScanLimits.MaxBytes ({_maxBytes})", limit: true);
        }

        return at + (long)size;
    }

    private byte[] Read(long at, int count)
    {
        Require(at >= 0 && count <= _length - at, $"{count} bytes wanted at byte {at}, past the end of the file ({_length} bytes)");
        _read += count;
        if (_read > _maxBytes)
        {
            throw new Hdf5Exception($"more than ScanLimits.MaxBytes ({_maxBytes}) read from the file's headers", limit: true);
        }

        byte[] buffer = new byte[count];
        _stream.Position = _start + at;
        _stream.ReadExactly(buffer);
        return buffer;
    }

    private static ulong U64(byte[] b, int at) =>
        at + 8 <= b.Length ? BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at)) : throw new Hdf5Exception("field past the end of its structure");

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new Hdf5Exception(message);
        }
    }

    /// <summary>Why the walk refused the file; <see cref="Limit"/> when a <see cref="ScanLimits"/> bound did.</summary>
    internal sealed class Hdf5Exception(string message, bool limit = false) : Exception(message)
    {
        public bool Limit { get; } = limit;
    }
}
