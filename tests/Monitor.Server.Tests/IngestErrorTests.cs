using Google.Protobuf;
using Grpc.Core;
using Monitor.Protos.V1;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>One sidecar with the fraud model and a baseline, shared by the error-case tests.</summary>
public sealed class FraudSidecarFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();

    internal Sidecar Sidecar { get; private set; } = null!;
    internal FraudTraffic Traffic { get; } = new(seed: 99);

    public async ValueTask InitializeAsync()
    {
        Sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(_directory.File("monitor.db")), "--Monitor:Ingest:MaxRecordsPerBatch=2000",
            "--Monitor:Ingest:QueueCapacity=2");
    }

    public async ValueTask DisposeAsync()
    {
        await Sidecar.DisposeAsync();
        _directory.Dispose();
    }
}

/// <summary>Each bad input gets its status code and a message naming what was wrong; nothing else is disturbed.</summary>
public sealed class IngestErrorTests(FraudSidecarFixture fixture) : IClassFixture<FraudSidecarFixture>
{
    private Sidecar Sidecar => fixture.Sidecar;

    [Fact]
    public async Task Unknown_model_is_not_found()
    {
        MirrorBatch batch = Sidecar.Batch(fixture.Traffic, 10);
        batch.Model = "no-such-model";
        RpcException ex = await Fails(batch);
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Equal("model 'no-such-model' is not registered", ex.Status.Detail);
    }

    [Fact]
    public async Task Unknown_version_is_not_found()
    {
        RpcException ex = await Fails(Sidecar.Batch(fixture.Traffic, 10, version: "v9"));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Equal("version 'v9' of model 'fraud-scorer' is not registered", ex.Status.Detail);
    }

    [Fact]
    public async Task Numeric_width_mismatch_is_invalid_and_names_the_field()
    {
        MirrorBatch batch = Sidecar.Batch(fixture.Traffic, 10);
        batch.Batch.Numeric.RemoveAt(0);
        RpcException ex = await Fails(batch);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("batch.numeric: expected 10 records × 6 numeric features = 60 floats, got 59", ex.Status.Detail);
    }

    [Fact]
    public async Task NaN_in_output_scores_is_invalid_and_names_record_and_class()
    {
        MirrorBatch batch = Sidecar.Batch(fixture.Traffic, 10);
        batch.Batch.Scores[9] = float.NaN;
        RpcException ex = await Fails(batch);
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("batch.scores: value 9 (record 4, class 'fraud') is NaN", ex.Status.Detail);
    }

    [Fact]
    public async Task Oversized_batch_is_invalid_and_names_the_limit()
    {
        RpcException ex = await Fails(Sidecar.Batch(fixture.Traffic, 2001));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("batch.records: 2001 records exceed the limit of 2000 per batch", ex.Status.Detail);
    }

    [Fact]
    public async Task Wrong_categorical_columns_and_malformed_digest_are_invalid()
    {
        MirrorBatch batch = Sidecar.Batch(fixture.Traffic, 10);
        batch.Batch.Categorical.RemoveAt(2);
        RpcException ex = await Fails(batch);
        Assert.Equal("batch.categorical: expected 3 columns (one per schema entry), got 2", ex.Status.Detail);

        RpcException digest = await Fails(Sidecar.Batch(fixture.Traffic, 10, digest: "not-a-digest"));
        Assert.Equal(StatusCode.InvalidArgument, digest.StatusCode);
        Assert.Equal("artifact_sha256: expected 64 hexadecimal digits of a SHA-256 digest, got 'not-a-digest'", digest.Status.Detail);
    }

    [Fact]
    public async Task A_rejected_batch_changes_nothing_and_the_next_good_one_is_accepted()
    {
        ModelVersion before = await Version();
        MirrorBatch bad = Sidecar.Batch(fixture.Traffic, 100);
        bad.Batch.Scores[0] = float.PositiveInfinity;
        await Fails(bad);
        ModelVersion after = await Version();
        Assert.Equal(before.RecordsAccepted, after.RecordsAccepted);

        MirrorAck ack = await Sidecar.Mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 100));
        Assert.Equal(100u, ack.Accepted);
        Assert.Equal(before.RecordsAccepted + 100, (await Version()).RecordsAccepted);
    }

    [Fact]
    public async Task A_bad_batch_on_a_stream_is_acked_with_its_error_and_the_stream_goes_on()
    {
        using AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream = Sidecar.Mirror.IngestStream();
        MirrorBatch bad = Sidecar.Batch(fixture.Traffic, 10);
        bad.Sequence = 1;
        bad.Batch.Scores.Add(0.5f);
        await stream.RequestStream.WriteAsync(bad);
        Assert.True(await stream.ResponseStream.MoveNext());
        MirrorAck rejected = stream.ResponseStream.Current;
        Assert.Equal((int)StatusCode.InvalidArgument, rejected.ErrorCode);
        Assert.Equal("batch.scores: expected 10 records × 2 output values = 20 floats, got 21", rejected.ErrorMessage);
        Assert.Equal(0u, rejected.Accepted);

        MirrorBatch good = Sidecar.Batch(fixture.Traffic, 10);
        good.Sequence = 2;
        await stream.RequestStream.WriteAsync(good);
        Assert.True(await stream.ResponseStream.MoveNext());
        Assert.Equal(2ul, stream.ResponseStream.Current.Sequence);
        Assert.True(10u == stream.ResponseStream.Current.Accepted, stream.ResponseStream.Current.ErrorMessage);
        await stream.RequestStream.CompleteAsync();
                Assert.False(await stream.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task A_digest_mismatch_is_accepted_warned_and_recorded()
    {
        string swapped = Sidecar.Digest("swapped weights");
        ModelVersion before = await Version();
        MirrorAck ack = await Sidecar.Mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 40, digest: swapped.ToUpperInvariant()));
        Assert.Equal(40u, ack.Accepted);
        string warning = Assert.Single(ack.Warnings);
        Assert.Contains($"artifact_sha256 {swapped} differs from the registered {Sidecar.DigestV1}", warning);
        ModelVersion after = await Version();
        Assert.Equal(before.RecordsDigestMismatch + 40, after.RecordsDigestMismatch);
        Assert.Equal(before.RecordsAccepted + 40, after.RecordsAccepted);
        var stored = Sidecar.App.Services.GetRequiredService<Monitor.Server.Models.IModelStore>().LoadDigestMismatches(Sidecar.Model, "v1");
        Assert.Contains(stored, row => row.ArtifactSha256 == swapped && row.Records >= 40);
    }

    [Fact]
    public async Task A_full_queue_answers_resource_exhausted_unary_and_counts_drops_on_a_stream()
    {
        var pipeline = Sidecar.Pipeline(Sidecar.Model);
        await using (await pipeline.HoldAsync(TestContext.Current.CancellationToken))
        {
            // Capacity 2: two batches queue behind the hold, the third finds the queue full.
            await Sidecar.Mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 10));
            await Sidecar.Mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 10));
            RpcException ex = await Fails(Sidecar.Batch(fixture.Traffic, 10));
            Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
            Assert.Equal("the ingest queue of model 'fraud-scorer' is full (2 batches); the batch was dropped", ex.Status.Detail);

            using AsyncDuplexStreamingCall<MirrorBatch, MirrorAck> stream = Sidecar.Mirror.IngestStream();
            MirrorBatch batch = Sidecar.Batch(fixture.Traffic, 25);
            batch.Sequence = 7;
            await stream.RequestStream.WriteAsync(batch);
            Assert.True(await stream.ResponseStream.MoveNext());
            Assert.Equal(25u, stream.ResponseStream.Current.Dropped);
            Assert.Equal(0u, stream.ResponseStream.Current.Accepted);
            Assert.Equal((int)StatusCode.ResourceExhausted, stream.ResponseStream.Current.ErrorCode);
            await stream.RequestStream.CompleteAsync();
            Assert.False(await stream.ResponseStream.MoveNext());
        }

        // Once the held batches are analysed the queue has room again (waiting for that: on a loaded machine the two
        // queued batches may still be in the queue when the next one arrives, which is then refused, rightly).
        await pipeline.FlushAsync(TestContext.Current.CancellationToken);
        MirrorAck ack = await Sidecar.Mirror.IngestAsync(Sidecar.Batch(fixture.Traffic, 10));
        Assert.Equal(10u, ack.Accepted);
    }

    private Task<ModelVersion> Version() =>
        Sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" }).ResponseAsync;

    [Fact]
    public async Task Bytes_that_are_not_a_message_of_the_methods_type_are_invalid_and_say_so()
    {
        var raw = Marshallers.Create<byte[]>(bytes => bytes, bytes => bytes);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "monitor.v1.Mirror", "Ingest", raw, raw);
        byte[] truncated = Sidecar.Batch(fixture.Traffic, 10).ToByteArray()[..40];
        RpcException ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await Sidecar.Channel.CreateCallInvoker().AsyncUnaryCall(method, null, default, truncated));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.StartsWith("the request is not a valid MirrorBatch message: While parsing a protocol message, the input ended unexpectedly",
            ex.Status.Detail);
    }

    private async Task<RpcException> Fails(MirrorBatch batch) =>
        await Assert.ThrowsAsync<RpcException>(async () => await Sidecar.Mirror.IngestAsync(batch));
}
