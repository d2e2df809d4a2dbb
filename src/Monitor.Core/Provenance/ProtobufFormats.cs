namespace Monitor.Core.Provenance;

/// <summary>
/// Tells ONNX models and TensorFlow <c>saved_model.pb</c> files apart by their top-level protobuf fields, stepping over
/// each field's bytes without reading them. Neither holds a pickle.
/// </summary>
internal static class ProtobufFormats
{
    private const int MaxFields = 10_000;

    /// <summary>
    /// <see cref="ArtifactFormat.Onnx"/> for a ModelProto (an <c>ir_version</c> and a <c>graph</c>), <see cref="ArtifactFormat.TensorFlowSavedModel"/>
    /// for a SavedModel (schema version 1 and meta graphs, nothing else), or null, reading from the stream's position to its end.
    /// </summary>
    public static ArtifactFormat? Identify(Stream source)
    {
        long end = source.Length;
        var fields = new HashSet<ulong>();
        ulong first = 0;
        bool onnxTypes = true;
        while (source.Position < end)
        {
            if (fields.Count > MaxFields || ReadVarint(source) is not ulong tag)
            {
                return null;
            }

            ulong field = tag >> 3;
            int wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    if (ReadVarint(source) is not ulong value)
                    {
                        return null;
                    }

                    if (field == 1)
                    {
                        first = value;
                    }

                    onnxTypes &= field is 1 or 5;
                    break;
                case 2:
                    if (ReadVarint(source) is not ulong length || length > (ulong)(end - source.Position))
                    {
                        return null;
                    }

                    source.Seek((long)length, SeekOrigin.Current);
                    onnxTypes &= field is not (1 or 5);
                    break;
                default:
                    return null;
            }

            if (field is 0 or > 30)
            {
                return null;
            }

            fields.Add(field);
        }

        if (onnxTypes && fields.Contains(1) && fields.Contains(7) && first is >= 1 and <= 100)
        {
            return ArtifactFormat.Onnx;
        }

        return fields.SetEquals([1UL, 2UL]) && first == 1 ? ArtifactFormat.TensorFlowSavedModel : null;
    }

    private static ulong? ReadVarint(Stream s)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            int b = s.ReadByte();
            if (b < 0)
            {
                return null;
            }

            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        return null;
    }
}
