using Google.Protobuf;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;
using CoreSchema = Monitor.Core.Schema.ModelSchema;

namespace Monitor.LoadTests;

/// <summary>What is sent: a model's schema and a pool of batches serialised once, so the client spends its CPU on the wire, not on building messages.</summary>
internal sealed class Workload
{
    public const string Model = "load-model";
    public const string Version = "v1";
    public static readonly string Digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("load-model v1"u8));

    private Workload(string name, CoreSchema schema, Func<CoreSchema, int, Random, CoreBatch> generate, int batch)
    {
        Name = name;
        Schema = ProtoTranslation.ToProto(schema);
        Generate = (random, n) => ProtoTranslation.ToProto(generate(schema, n, random));
        BatchRecords = batch;
        var random = new Random(5);
        Pool = [.. Enumerable.Range(0, 32).Select(i => new MirrorBatch
        {
            Model = Model,
            Version = Version,
            ArtifactSha256 = Digest,
            Sequence = (ulong)i,
            Batch = Generate(random, batch),
        }.ToByteArray())];
    }

    public string Name { get; }
    public ModelSchema Schema { get; }
    public Func<Random, int, RecordBatch> Generate { get; }
    public int BatchRecords { get; }

    /// <summary>Serialised MirrorBatch messages, sent round-robin.</summary>
    public byte[][] Pool { get; }

    /// <summary>Numeric-only traffic (Monitor.Simulation's <see cref="NumericTraffic"/>), its features drawn before its probabilities.</summary>
    public static Workload Numeric(int features, int classes, int batch) =>
        new($"{features} numeric features, {classes} classes", NumericTraffic.Schema(features, classes), NumericTraffic.NextFeaturesFirst, batch);

    /// <summary>A fraud-scoring schema: six numeric, three categorical features, a free-text memo, two classes (<see cref="FraudTraffic.Simple"/>).</summary>
    public static Workload Fraud(int batch) =>
        new("fraud: 6 numeric, 3 categorical, memo text, 2 classes", FraudTraffic.Schema, (_, n, random) => FraudTraffic.Simple(n, random), batch);

    /// <summary>Registers the model and a known-good version, and commits a baseline of reference records drawn the same way.</summary>
    public async Task SetUpAsync(GrpcChannel channel, int referenceRecords, CancellationToken cancellationToken)
    {
        var admin = new Admin.AdminClient(channel);
        await admin.RegisterModelAsync(new RegisterModelRequest { Name = Model, Schema = Schema }, cancellationToken: cancellationToken);
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model,
            Version = Version,
            ArtifactSha256 = Digest,
            Source = "load test",
            InitialState = VersionState.KnownGood,
        }, cancellationToken: cancellationToken);
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model }, cancellationToken: cancellationToken);
        var random = new Random(9);
        for (int sent = 0; sent < referenceRecords; sent += 1000)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = Generate(random, 1000) },
                cancellationToken: cancellationToken);
        }

        await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }, cancellationToken: cancellationToken);
    }
}
