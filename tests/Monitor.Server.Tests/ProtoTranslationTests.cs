using Monitor.Server.Ingest;
using Proto = Monitor.Protos.V1;

namespace Monitor.Server.Tests;

/// <summary>Float columns reach the core without a copy: the wire message's own array is shared.</summary>
public sealed class ProtoTranslationTests
{
    [Fact]
    public void Float_columns_share_the_parsed_message_arrays()
    {
        var wire = new Proto.RecordBatch { Records = 2 };
        wire.Numeric.AddRange([1f, 2f, 3f, 4f]);
        wire.Scores.AddRange([0.25f, 0.75f, 0.5f, 0.5f]);
        Proto.RecordBatch parsed = Proto.RecordBatch.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(wire));

        Core.Ingest.RecordBatch core = ProtoTranslation.ToCore(parsed);
        Assert.Equal([1f, 2f, 3f, 4f], core.Numeric.ToArray());
        Assert.Equal([0.25f, 0.75f, 0.5f, 0.5f], core.Scores.ToArray());

        parsed.Numeric[0] = 9f; // the same memory: no copy was made
        Assert.Equal(9f, core.Numeric.Span[0]);
    }
}
