using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Versions;
using Proto = Monitor.Protos.V1;

namespace Monitor.Server.Ingest;

/// <summary>Translation between the wire messages and the core's types. Byte columns are not copied.</summary>
internal static class ProtoTranslation
{
    public static RecordBatch ToCore(Proto.RecordBatch batch) => new()
    {
        Count = (int)Math.Min(batch.Records, int.MaxValue),
        Numeric = ToArray(batch.Numeric),
        Scores = ToArray(batch.Scores),
        Embeddings = ToArray(batch.Embeddings),
        Categorical = ToColumns(batch.Categorical),
        Text = ToColumns(batch.Text),
        RequestIds = batch.RequestIds is null ? Utf8Column.Empty : ToColumn(batch.RequestIds),
        PairedVersion = batch.PairedVersion.Length == 0 ? null : batch.PairedVersion,
        PairedScores = ToArray(batch.PairedScores),
    };

    /// <summary>
    /// Translates a batch from the wire and checks it against the schema; the error names the field.
    /// The record limit is checked before anything is copied.
    /// </summary>
    /// <param name="version">The version the batch is mirrored for, and <paramref name="isVersion"/> the model's registered versions: the paired version is checked against them.</param>
    public static BatchError? TryToCore(ModelSchema schema, Proto.RecordBatch? batch, int maxRecords, out RecordBatch records,
        TextLimits? textLimits = null, string? version = null, Func<string, bool>? isVersion = null)
    {
        records = null!;
        if (batch is null)
        {
            return new BatchError("batch", "required");
        }

        if (batch.Records > maxRecords)
        {
            return new BatchError("batch.records", $"{batch.Records} records exceed the limit of {maxRecords} per batch", "records_per_batch");
        }

        records = ToCore(batch);
        return BatchValidator.Validate(schema, records, maxRecords, textLimits, version, isVersion);
    }

    public static Proto.RecordBatch ToProto(RecordBatch batch)
    {
        var proto = new Proto.RecordBatch { Records = (uint)batch.Count };
        proto.Numeric.AddRange(batch.Numeric.ToArray());
        proto.Scores.AddRange(batch.Scores.ToArray());
        proto.Embeddings.AddRange(batch.Embeddings.ToArray());
        proto.PairedVersion = batch.PairedVersion ?? "";
        proto.PairedScores.AddRange(batch.PairedScores.ToArray());
        foreach (Utf8Column column in batch.Categorical)
        {
            proto.Categorical.Add(ToProto(column));
        }

        foreach (Utf8Column column in batch.Text)
        {
            proto.Text.Add(ToProto(column));
        }

        if (batch.RequestIds.Count > 0)
        {
            proto.RequestIds = ToProto(batch.RequestIds);
        }

        return proto;
    }

    public static Proto.StringColumn ToProto(Utf8Column column)
    {
        var proto = new Proto.StringColumn { Utf8 = ByteString.CopyFrom(column.Data.Span) };
        proto.Ends.AddRange(column.Ends.ToArray());
        return proto;
    }

    public static ModelSchema ToCore(Proto.ModelSchema schema) => new()
    {
        NumericFeatures = [.. schema.NumericFeatures],
        CategoricalFeatures = [.. schema.CategoricalFeatures],
        TextFields = [.. schema.TextFields],
        OutputKind = schema.OutputKind switch
        {
            Proto.OutputKind.Classification => OutputKind.Classification,
            Proto.OutputKind.Binary => OutputKind.Binary,
            Proto.OutputKind.Regression => OutputKind.Regression,
            _ => throw new ArgumentException("schema.output_kind: must be CLASSIFICATION, BINARY or REGRESSION"),
        },
        ClassLabels = [.. schema.ClassLabels],
        EmbeddingWidth = (int)Math.Min(schema.EmbeddingWidth, int.MaxValue),
        CriticalFeatures = [.. schema.CriticalFeatures],
    };

    public static Proto.ModelSchema ToProto(ModelSchema schema)
    {
        var proto = new Proto.ModelSchema
        {
            OutputKind = schema.OutputKind switch
            {
                OutputKind.Classification => Proto.OutputKind.Classification,
                OutputKind.Binary => Proto.OutputKind.Binary,
                _ => Proto.OutputKind.Regression,
            },
            EmbeddingWidth = (uint)schema.EmbeddingWidth,
        };
        proto.NumericFeatures.AddRange(schema.NumericFeatures);
        proto.CategoricalFeatures.AddRange(schema.CategoricalFeatures);
        proto.TextFields.AddRange(schema.TextFields);
        proto.ClassLabels.AddRange(schema.ClassLabels);
        proto.CriticalFeatures.AddRange(schema.CriticalFeatures);
        return proto;
    }

    public static Proto.VersionState ToProto(VersionState state) => state switch
    {
        VersionState.Candidate => Proto.VersionState.Candidate,
        VersionState.KnownGood => Proto.VersionState.KnownGood,
        VersionState.Suspect => Proto.VersionState.Suspect,
        VersionState.ObservedClean => Proto.VersionState.ObservedClean,
        _ => Proto.VersionState.Quarantined,
    };

    public static VersionState? ToCore(Proto.VersionState state) => state switch
    {
        Proto.VersionState.Unspecified or Proto.VersionState.Candidate => VersionState.Candidate,
        Proto.VersionState.KnownGood => VersionState.KnownGood,
        _ => null,
    };

    public static Timestamp ToProto(DateTimeOffset at) => Timestamp.FromDateTimeOffset(at);

    /// <summary>
    /// The values as memory. Without a copy where the runtime lets us read the field's own array (the
    /// message is not touched again after translation); with one otherwise. A 64-feature batch of 512
    /// records is 131 KB: one large-object allocation and copy fewer per batch.
    /// </summary>
    private static ReadOnlyMemory<float> ToArray(RepeatedField<float> values)
    {
        if (values.Count == 0)
        {
            return ReadOnlyMemory<float>.Empty;
        }

        if (s_shareArrays)
        {
            try
            {
                float[] shared = RepeatedFieldArray<float>.Of(values);
                if (shared.Length >= values.Count)
                {
                    return new ReadOnlyMemory<float>(shared, 0, values.Count);
                }
            }
            catch (MissingFieldException)
            {
                s_shareArrays = false;
            }
        }

        var array = new float[values.Count];
        values.CopyTo(array, 0);
        return array;
    }

    private static bool s_shareArrays = true;

    /// <summary>Google.Protobuf keeps a repeated field's values in a private array named "array".</summary>
    private static class RepeatedFieldArray<T>
    {
        [System.Runtime.CompilerServices.UnsafeAccessor(System.Runtime.CompilerServices.UnsafeAccessorKind.Field, Name = "array")]
        private static extern ref T[] Field(RepeatedField<T> field);

        public static T[] Of(RepeatedField<T> field) => Field(field);
    }

    private static Utf8Column[] ToColumns(RepeatedField<Proto.StringColumn> columns)
    {
        var result = new Utf8Column[columns.Count];
        for (int c = 0; c < result.Length; c++)
        {
            result[c] = ToColumn(columns[c]);
        }

        return result;
    }

    private static Utf8Column ToColumn(Proto.StringColumn column)
    {
        var ends = new uint[column.Ends.Count];
        column.Ends.CopyTo(ends, 0);
        return new Utf8Column(column.Utf8.Memory, ends);
    }
}
