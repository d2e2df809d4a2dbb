using Grpc.Core;
using Monitor.Cli.Baselines;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Versions;

/// <summary>
/// One upload of a version's own reference (docs/detectors.md, "Per-version references"): a file in the baseline import's format
/// (the baseline's reference set replayed through the version: the same inputs, its scores and embedding columns) streamed in
/// batches as one call. The sidecar checks it whole; a refusal or a cancellation leaves the version's reference as it was.
/// </summary>
internal sealed class ReferenceUpload(Terminal.Console console, SidecarConnection sidecar)
{
    public required FileInfo File { get; init; }

    public required string Model { get; init; }

    public required string Version { get; init; }

    public string? Format { get; init; }

    public char? Delimiter { get; init; }

    public IReadOnlyDictionary<string, string> Map { get; init; } = new Dictionary<string, string>();

    public long BaselineId { get; init; }

    public bool Replace { get; init; }

    public required string Actor { get; init; }

    public string Reason { get; init; } = "";

    public int BatchRecords { get; init; } = 2000;

    public bool DryRun { get; init; }

    public bool Progress { get; init; } = true;

    public bool Json { get; init; }

    /// <summary>How long the whole upload and the sidecar's build of the geometry may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        await using TableReader table = await TableReader.OpenAsync(File, Format, Delimiter, cancellationToken);
        Model model = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Model }, sidecar.Unary(cancellationToken));
        ImportPlan plan = ImportPlan.Create(model, table, Map);
        if (model.Schema.EmbeddingWidth > 0 && !plan.HasEmbedding)
        {
            throw new CliException($"{File.Name} has no embedding.0 … embedding.{model.Schema.EmbeddingWidth - 1} columns: a reference is the " +
                "version's embeddings (and outputs) on the baseline's reference inputs");
        }

        console.Note($"Reading {File.Name} ({table.Format}, {Text.Bytes(File.Length)}) as the reference of {model.Name} {Version}: " +
            $"{plan.Selection.Count} columns used{(plan.Ignored.Count > 0 ? $", {plan.Ignored.Count} ignored ({string.Join(", ", plan.Ignored)})" : "")}.");
        var progress = new ProgressBar(console, "rows", Progress);
        if (DryRun)
        {
            long rows = 0;
            try
            {
                while (await table.ReadAsync(plan.Selection, BatchRecords, cancellationToken) is { } chunk)
                {
                    plan.Build(chunk);
                    rows += chunk.Rows;
                    progress.Report(table.Fraction, rows);
                }
            }
            finally
            {
                progress.Finish();
            }

            console.Line($"{File.Name}: {Text.Count(rows)} rows fit model '{model.Name}'; nothing was uploaded (--dry-run).");
            return ExitCodes.Ok;
        }

        VersionReference reference = await UploadAsync(table, plan, progress, cancellationToken);
        if (Json)
        {
            console.Line(Text.Json(reference));
            return ExitCodes.Ok;
        }

        console.Line($"Reference {reference.Id} of {reference.Model} {reference.Version} is stored{(reference.Replaced ? ", replacing the earlier one" : "")}" +
            $"{(reference.InUse ? "; the version's embeddings and outputs are judged against it from now on" : "")}.");
        var facts = new TextTable("", "");
        facts.Add("file", $"{File.FullName} ({table.Format}, {Text.Bytes(File.Length)})");
        facts.Add("baseline", $"{reference.BaselineId} (its reference inputs, replayed through {reference.Version})");
        facts.Add("records", $"{Text.Count(reference.RecordsReceived)} uploaded in {Text.Seconds(progress.Elapsed)}; {Text.Count(reference.RecordsKept)} kept for the geometry");
        facts.Add("embedding", reference.EmbeddingWidth == 0 ? "none (the model declares no embedding)"
            : $"{reference.EmbeddingWidth} wide, {reference.EmbeddingComponents} principal components; " +
              $"{Text.Percent(reference.OutlierRate)} of its own records beyond its 99.9th percentiles");
        facts.Add("confidence", reference.ConfidencePercentiles
            ? "D3's 99.9th percentiles of confidence, from its own outputs on the baseline's inputs"
            : "none: D3 judges the version against the baseline's percentiles");
        facts.Add("output shape", reference.OutputShape
            ? "the whole-output test's tails and D4's residuals, from its own outputs on the baseline's inputs"
            : "none: the whole-output test and D4 judge the version against the baseline's");
        facts.Add("uploaded by", reference.UploadedBy);
        facts.WriteTo(console.Out, "  ", header: false);
        return ExitCodes.Ok;
    }

    private async Task<VersionReference> UploadAsync(TableReader table, ImportPlan plan, ProgressBar progress, CancellationToken cancellationToken)
    {
        using AsyncClientStreamingCall<VersionReferenceChunk, VersionReference> call = sidecar.Admin.UploadVersionReference(
            sidecar.Streaming(cancellationToken).WithDeadline(DateTime.UtcNow + Timeout));
        long rows = 0;
        bool refused = false;
        try
        {
            try
            {
                bool first = true;
                while (await table.ReadAsync(plan.Selection, BatchRecords, cancellationToken) is { } chunk)
                {
                    var message = new VersionReferenceChunk { Batch = plan.Build(chunk) };
                    if (first)
                    {
                        (message.Model, message.Version, message.BaselineId, message.Replace, message.Actor, message.Reason) =
                            (Model, Version, BaselineId, Replace, Actor, Reason);
                        first = false;
                    }

                    await call.RequestStream.WriteAsync(message, cancellationToken);
                    rows += chunk.Rows;
                    progress.Report(table.Fraction, rows);
                }

                if (rows == 0)
                {
                    throw new CliException($"{File.Name} has a header but no rows");
                }

                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The sidecar refused before the file ended: its answer says why.
                refused = true;
            }

            if (!refused)
            {
                progress.Complete(rows);
                console.Note($"Uploaded {Text.Count(rows)} records; the sidecar builds the version's reference…");
            }

            return await call.ResponseAsync;
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition
            or StatusCode.NotFound or StatusCode.ResourceExhausted)
        {
            progress.Finish();
            string where = e.Status.Detail.Contains("records from", StringComparison.Ordinal) ? " (record n of the upload is data row n + 1)" : "";
            throw new CliException($"the sidecar refused the reference of {Model} {Version} from {File.Name}{where}: {e.Status.Detail}");
        }
        finally
        {
            progress.Finish();
        }
    }
}
