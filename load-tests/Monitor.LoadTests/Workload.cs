using System.Text;
using Google.Protobuf;
using Grpc.Net.Client;
using Monitor.Protos.V1;

namespace Monitor.LoadTests;

/// <summary>What is sent: a model's schema and a pool of batches serialised once, so the client spends its CPU on the wire, not on building messages.</summary>
internal sealed class Workload
{
    public const string Model = "load-model";
    public const string Version = "v1";
    public static readonly string Digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("load-model v1"u8));

    private Workload(string name, ModelSchema schema, Func<Random, int, RecordBatch> generate, int batch)
    {
        Name = name;
        Schema = schema;
        Generate = generate;
        BatchRecords = batch;
        var random = new Random(5);
        Pool = [.. Enumerable.Range(0, 32).Select(i => new MirrorBatch
        {
            Model = Model,
            Version = Version,
            ArtifactSha256 = Digest,
            Sequence = (ulong)i,
            Batch = generate(random, batch),
        }.ToByteArray())];
    }

    public string Name { get; }
    public ModelSchema Schema { get; }
    public Func<Random, int, RecordBatch> Generate { get; }
    public int BatchRecords { get; }

    /// <summary>Serialised MirrorBatch messages, sent round-robin.</summary>
    public byte[][] Pool { get; }

    public static Workload Numeric(int features, int classes, int batch)
    {
        var schema = new ModelSchema { OutputKind = OutputKind.Classification };
        schema.NumericFeatures.AddRange(Enumerable.Range(0, features).Select(i => $"x{i}"));
        schema.ClassLabels.AddRange(Enumerable.Range(0, classes).Select(i => $"c{i}"));
        return new Workload($"{features} numeric features, {classes} classes", schema, (random, n) =>
        {
            var records = new RecordBatch { Records = (uint)n };
            for (int i = 0; i < n * features; i++)
            {
                records.Numeric.Add((float)(Normal(random) + (i % features * 0.01)));
            }

            AddProbabilities(records, random, n, classes);
            return records;
        }, batch);
    }

    /// <summary>A fraud-scoring schema: six numeric, three categorical features, a free-text memo, two classes.</summary>
    public static Workload Fraud(int batch)
    {
        string[] categories = ["grocery", "fuel", "electronics", "travel", "restaurants", "online", "jewelry"];
        string[] countries = ["US", "GB", "DE", "FR", "NL", "BR", "IN"];
        string[] channels = ["web", "mobile", "pos"];
        string[] memos = ["monthly rent", "groceries for the week", "invoice {0}", "dinner with friends", "fuel", "gift card",
            "subscription renewal", "order #{0} thanks", "travel booking {0}", "refund request"];
        var schema = new ModelSchema { OutputKind = OutputKind.Classification };
        schema.NumericFeatures.AddRange(["amount", "account_age_days", "tx_per_hour", "distance_km", "hour_of_day", "merchant_risk"]);
        schema.CategoricalFeatures.AddRange(["merchant_category", "country", "channel"]);
        schema.TextFields.Add("memo");
        schema.ClassLabels.AddRange(["legitimate", "fraud"]);
        return new Workload("fraud: 6 numeric, 3 categorical, memo text, 2 classes", schema, (random, n) =>
        {
            var records = new RecordBatch { Records = (uint)n };
            for (int i = 0; i < n; i++)
            {
                records.Numeric.Add((float)Math.Exp(3.5 + Normal(random)));
                records.Numeric.Add((float)(random.NextDouble() * 3000));
                records.Numeric.Add((float)Math.Abs(Normal(random) * 2));
                records.Numeric.Add((float)Math.Exp(1.5 + Normal(random)));
                records.Numeric.Add(random.Next(24));
                records.Numeric.Add((float)random.NextDouble());
            }

            records.Categorical.Add(Column(n, _ => categories[random.Next(categories.Length)]));
            records.Categorical.Add(Column(n, _ => countries[random.Next(countries.Length)]));
            records.Categorical.Add(Column(n, _ => channels[random.Next(channels.Length)]));
            records.Text.Add(Column(n, _ => string.Format(System.Globalization.CultureInfo.InvariantCulture, memos[random.Next(memos.Length)],
                random.Next(100_000))));
            AddProbabilities(records, random, n, 2);
            records.RequestIds = Column(n, i => $"req-{random.Next():x8}{i:x4}");
            return records;
        }, batch);
    }

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

    private static void AddProbabilities(RecordBatch records, Random random, int n, int classes)
    {
        Span<float> p = stackalloc float[classes];
        for (int i = 0; i < n; i++)
        {
            float total = 0;
            for (int c = 0; c < classes; c++)
            {
                p[c] = (float)Math.Exp(2 * Normal(random));
                total += p[c];
            }

            for (int c = 0; c < classes; c++)
            {
                records.Scores.Add(p[c] / total);
            }
        }
    }

    private static StringColumn Column(int n, Func<int, string> value)
    {
        var text = new StringBuilder();
        var column = new StringColumn();
        int end = 0;
        for (int i = 0; i < n; i++)
        {
            string s = value(i);
            text.Append(s);
            end += Encoding.UTF8.GetByteCount(s);
            column.Ends.Add((uint)end);
        }

        column.Utf8 = ByteString.CopyFromUtf8(text.ToString());
        return column;
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
