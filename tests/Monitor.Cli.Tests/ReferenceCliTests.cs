extern alias drift;

using System.Globalization;
using System.Text;
using drift::Monitor.Cli;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Cli.Tests;

/// <summary><c>drift versions reference</c>: a version's own reference from a file in the baseline import's format.</summary>
public sealed class ReferenceCliTests(ITestOutputHelper output)
{
    private const string Model = "scenario";
    private const int ReferenceSeed = 6100;
    private const int ReferenceRecords = 3000;

    private static readonly RetrainedEmbedding Retrained = new(ScenarioTraffic.EmbeddingWidth, seed: 6101);

    [Fact]
    public async Task A_version_s_reference_is_uploaded_from_a_CSV_file_with_progress_and_replaced_only_with_replace()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        await SetUpAsync(sidecar.Admin);
        string csv = directory.File("v2-reference.csv");
        WriteCsv(csv, Reference(ReferenceRecords));

        Run uploaded = await Drift.RunAsync(sidecar, "versions", "reference", "v2", csv, "--model", Model, "--batch", "700", "--reason", "retrained");
        output.WriteLine(uploaded.Error + uploaded.Out);
        Assert.True(uploaded.Exit == ExitCodes.Ok, uploaded.Error);
        Assert.Contains($"Reference 1 of {Model} v2 is stored; the version's embeddings and outputs are judged against it from now on.", uploaded.Out);
        Assert.Contains("D3's 99.9th percentiles of confidence, from its own outputs on the baseline's inputs", uploaded.Out);
        Assert.Contains("the whole-output test's tails and D4's residuals, from its own outputs on the baseline's inputs", uploaded.Out);
        Assert.Contains("100%", uploaded.Error);
        Assert.Contains($"{ReferenceRecords:N0} rows", uploaded.Error);
        VersionReference stored = await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" });
        Assert.Equal((1L, (ulong)ReferenceRecords, 16u), (stored.Id, stored.RecordsReceived, stored.EmbeddingWidth));

        Run again = await Drift.RunAsync(sidecar, "versions", "reference", "v2", csv, "--model", Model);
        output.WriteLine(again.Error);
        Assert.Equal(ExitCodes.Failed, again.Exit);
        Assert.Contains("has reference 1 for baseline", again.Error);
        Assert.Contains("(drift versions reference --replace) replaces it", again.Error);

        string partial = directory.File("partial.csv");
        WriteCsv(partial, Reference(2000));
        Run shorter = await Drift.RunAsync(sidecar, "versions", "reference", "v2", partial, "--model", Model, "--replace");
        output.WriteLine(shorter.Error);
        Assert.Equal(ExitCodes.Failed, shorter.Exit);
        Assert.Contains($"the upload has 2000 records, but baseline 1's reference set has {ReferenceRecords}", shorter.Error);
        Assert.Equal(1L, (await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" })).Id);

        Run replaced = await Drift.RunAsync(sidecar, "versions", "reference", "v2", csv, "--model", Model, "--replace", "--json");
        Assert.Equal(ExitCodes.Ok, replaced.Exit);
        Assert.Contains("\"replaced\": true", replaced.Out);
        Assert.Equal(2L, (await sidecar.Admin.GetVersionReferenceAsync(new GetVersionReferenceRequest { Model = Model, Version = "v2" })).Id);
    }

    /// <summary>
    /// <c>--capture N</c> takes the reference from the version's next live records and follows the capture until it is stored; a
    /// file and <c>--capture</c> together are a usage error.
    /// </summary>
    [Fact]
    public async Task A_version_s_reference_is_captured_from_its_live_records_and_followed_until_stored()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        await SetUpAsync(sidecar.Admin);

        Run both = await Drift.RunAsync(sidecar, "versions", "reference", "v2", "x.csv", "--model", Model, "--capture", "1000");
        Assert.Equal(ExitCodes.Usage, both.Exit);
        Assert.Contains("name a file to upload, or capture the reference with --capture N", both.Error);

        Task<Run> capturing = Drift.RunAsync(sidecar, "versions", "reference", "v2", "--model", Model, "--capture", "1000", "--no-progress", "--reason", "canary");
        // The capture starts before the traffic arrives: wait until the sidecar has it, then mirror v2's records.
        var request = new GetVersionReferenceRequest { Model = Model, Version = "v2" };
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!capturing.IsCompleted && DateTime.UtcNow < deadline)
        {
            try
            {
                await sidecar.Admin.GetVersionReferenceCaptureAsync(request);
                break;
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }

        var traffic = new ScenarioTraffic(6102);
        for (int b = 0; b < 3 && !capturing.IsCompleted; b++)
        {
            await sidecar.Mirror.IngestAsync(new MirrorBatch
            {
                Model = Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Batch = ProtoTranslation.ToProto(Retrained.Apply(traffic.Next(500))),
            });
        }

        Run captured = await capturing;
        output.WriteLine(captured.Error + captured.Out);
        Assert.True(captured.Exit == ExitCodes.Ok, captured.Error);
        Assert.Contains($"Reference 1 of {Model} v2 is stored, captured from its own live records; the version's embeddings and outputs are judged against it from now on.",
            captured.Out);
        Assert.Contains("1,000 taken", captured.Out);
        Assert.True((await sidecar.Admin.GetVersionReferenceAsync(request)).Captured);

        Run followed = await Drift.RunAsync(sidecar, "versions", "reference", "v2", "--model", Model, "--follow", "--json");
        Assert.Equal(ExitCodes.Ok, followed.Exit);
        Assert.Contains("\"state\": \"STORED\"", followed.Out);
    }

    private static async Task SetUpAsync(Admin.AdminClient admin)
    {
        await admin.RegisterModelAsync(new RegisterModelRequest { Name = Model, Schema = ProtoTranslation.ToProto(ScenarioTraffic.Schema) });
        foreach ((string version, VersionState state) in new[] { ("v1", VersionState.KnownGood), ("v2", VersionState.Candidate) })
        {
            await admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = Model, Version = version, ArtifactSha256 = Sidecar.Digest(version), Source = "test", InitialState = state,
            });
        }

        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model });
        var traffic = new ScenarioTraffic(ReferenceSeed);
        for (int sent = 0; sent < ReferenceRecords; sent += 1000)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(traffic.Next(1000)) });
        }

        await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
    }

    /// <summary>The first records of the baseline's reference set replayed through v2: the same inputs and scores, its embeddings.</summary>
    private static CoreBatch[] Reference(int records)
    {
        var traffic = new ScenarioTraffic(ReferenceSeed);
        return [.. Enumerable.Range(0, records / 1000).Select(_ => Retrained.Apply(traffic.Next(1000)))];
    }

    private static void WriteCsv(string path, CoreBatch[] batches)
    {
        var schema = ScenarioTraffic.Schema;
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        int e = schema.EmbeddingWidth;
        string[] header =
        [
            .. schema.NumericFeatures, .. schema.CategoricalFeatures, .. schema.TextFields, .. schema.ClassLabels.Select(l => $"score.{l}"),
            .. Enumerable.Range(0, e).Select(j => $"embedding.{j}"),
        ];
        var text = new StringBuilder().AppendJoin(',', header).Append('\n');
        foreach (CoreBatch batch in batches)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                IEnumerable<string> cells =
                [
                    .. Enumerable.Range(0, d).Select(j => Number(batch.Numeric.Span[i * d + j])),
                    .. batch.Categorical.Select(c => Quote(c.GetString(i))),
                    .. batch.Text.Select(t => Quote(t.GetString(i))),
                    .. Enumerable.Range(0, k).Select(c => Number(batch.Scores.Span[i * k + c])),
                    .. Enumerable.Range(0, e).Select(j => Number(batch.Embeddings.Span[i * e + j])),
                ];
                text.AppendJoin(',', cells).Append('\n');
            }
        }

        File.WriteAllText(path, text.ToString());
    }

    private static string Number(float value) => float.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Quote(string cell) =>
        cell.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{cell.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : cell;
}
