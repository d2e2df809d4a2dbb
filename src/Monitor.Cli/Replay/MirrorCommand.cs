using System.CommandLine;
using Grpc.Core;
using Monitor.Cli.Baselines;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Replay;

/// <summary>
/// <c>drift mirror</c>: replays a CSV, TSV or Parquet file of recorded inferences as a version's mirrored traffic, as the
/// serving process would have mirrored it; with <c>--paired-version</c> each row also carries the trusted version's output
/// on the same request (<c>paired.&lt;label&gt;</c> columns), so the sidecar weighs paired evidence.
/// </summary>
internal static class MirrorCommand
{
    public static Command Build(CommandContext context)
    {
        var file = new Argument<FileInfo>("file") { Description = "CSV, TSV or Parquet file of recorded inferences, one per row, with a header." };
        Option<string> model = Options.Model();
        var version = new Option<string>("--version") { Description = "The version whose traffic the file holds (registered for the model).", Required = true };
        var paired = new Option<string?>("--paired-version")
        {
            Description = "The trusted version whose outputs on the same requests the file holds in paired.<label> columns (paired for a " +
                "binary classifier): paired evidence.",
        };
        var sha256 = new Option<string?>("--sha256") { Description = "The SHA-256 of the artifact that served the file (default: the version's registered one)." };
        var format = new Option<string?>("--format") { Description = "csv, tsv or parquet (default: by the file's extension)." };
        format.AcceptOnlyFromAmong("csv", "tsv", "parquet");
        var delimiter = new Option<char?>("--delimiter") { Description = "Field separator of a text file (default ',' for csv, tab for tsv)." };
        var map = new Option<string[]>("--map")
        {
            Description = "Read a part of the records from a differently named column: <part>=<column>, e.g. paired.fraud=p_fraud_v1. Repeatable.",
            AllowMultipleArgumentsPerToken = false,
        };
        Option<int> batch = Options.Batch("Records per mirrored batch.");
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and check the whole file against the model's schema; mirror nothing." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Show no progress." };
        var command = new Command("mirror", "Replay a file of recorded inferences as a version's mirrored traffic; with --paired-version, with " +
            "the trusted version's outputs on the same requests (paired evidence).")
        {
            file, model, version, paired, sha256, format, delimiter, map, batch, dryRun, noProgress,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) => await new MirrorReplay(context.Terminal, sidecar)
        {
            File = parsed.GetValue(file)!,
            Model = parsed.GetValue(model)!,
            Version = parsed.GetValue(version)!,
            PairedVersion = parsed.GetValue(paired),
            Sha256 = parsed.GetValue(sha256),
            Format = parsed.GetValue(format),
            Delimiter = parsed.GetValue(delimiter),
            Map = BaselineCommands.ParseMap(parsed.GetValue(map) ?? []),
            BatchRecords = parsed.GetValue(batch),
            DryRun = parsed.GetValue(dryRun),
            Progress = !parsed.GetValue(noProgress),
        }.RunAsync(cancellationToken));
        return command;
    }
}

/// <summary>One replay: check the file against the model's schema, then mirror it in batches, one in flight while the next is read.</summary>
internal sealed class MirrorReplay(Terminal.Console console, SidecarConnection sidecar)
{
    public required FileInfo File { get; init; }

    public required string Model { get; init; }

    public required string Version { get; init; }

    public string? PairedVersion { get; init; }

    public string? Sha256 { get; init; }

    public string? Format { get; init; }

    public char? Delimiter { get; init; }

    public IReadOnlyDictionary<string, string> Map { get; init; } = new Dictionary<string, string>();

    public int BatchRecords { get; init; } = 2000;

    public bool DryRun { get; init; }

    public bool Progress { get; init; } = true;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (PairedVersion is not null && (PairedVersion.Length == 0 || PairedVersion == Version))
        {
            throw new CliException($"--paired-version must name the trusted version, another than --version '{Version}'");
        }

        await using TableReader table = await TableReader.OpenAsync(File, Format, Delimiter, cancellationToken);
        Model model = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Model }, sidecar.Unary(cancellationToken));
        ImportPlan plan = ImportPlan.Create(model, table, Map, paired: PairedVersion is not null);
        string digest = Sha256 ?? (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = Version },
            sidecar.Unary(cancellationToken))).ArtifactSha256;
        console.Note($"Reading {File.Name} ({table.Format}, {Text.Bytes(File.Length)}) as version '{Version}' of model '{model.Name}'" +
            $"{(PairedVersion is null ? "" : $", paired with '{PairedVersion}'")}: {plan.Selection.Count} columns used" +
            $"{(plan.Ignored.Count > 0 ? $", {plan.Ignored.Count} ignored ({string.Join(", ", plan.Ignored)})" : "")}.");
        var progress = new ProgressBar(console, "rows", Progress);
        long rows = 0;
        long warnings = 0;
        ulong sequence = 0;
        Task inFlight = Task.CompletedTask;
        try
        {
            while (await table.ReadAsync(plan.Selection, BatchRecords, cancellationToken) is { } chunk)
            {
                RecordBatch batch = plan.Build(chunk);
                batch.PairedVersion = PairedVersion ?? "";
                await inFlight;
                if (!DryRun)
                {
                    var request = new MirrorBatch { Model = Model, Version = Version, ArtifactSha256 = digest, Sequence = ++sequence, Batch = batch };
                    inFlight = SendAsync(request, chunk, w => warnings += w, cancellationToken);
                }

                rows += chunk.Rows;
                progress.Report(table.Fraction, rows);
            }

            await inFlight;
        }
        finally
        {
            progress.Finish();
        }

        if (rows == 0)
        {
            throw new CliException($"{File.Name} has a header but no rows");
        }

        console.Line(DryRun
            ? $"{File.Name}: {Text.Count(rows)} rows fit model '{model.Name}'; nothing was mirrored (--dry-run)."
            : $"Mirrored {Text.Count(rows)} records of {File.Name} as version '{Version}' of model '{model.Name}'" +
              $"{(PairedVersion is null ? "" : $", paired with '{PairedVersion}'")}{(warnings > 0 ? $"; the sidecar warned about {warnings} batches (above)" : "")}.");
        return ExitCodes.Ok;
    }

    private async Task SendAsync(MirrorBatch request, TableChunk chunk, Action<long> warned, CancellationToken cancellationToken)
    {
        MirrorAck ack;
        try
        {
            ack = await sidecar.Mirror.IngestAsync(request, sidecar.Unary(cancellationToken));
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted)
        {
            throw new CliException($"the sidecar refused rows {Text.Count(chunk.FirstRow)} to {Text.Count(chunk.FirstRow + chunk.Rows - 1)} " +
                $"({chunk.Where(0)} to {chunk.Where(chunk.Rows - 1)}) of {File.Name}: {e.Status.Detail}");
        }

        foreach (string warning in ack.Warnings)
        {
            console.Note($"warning: {warning}");
        }

        warned(ack.Warnings.Count > 0 ? 1 : 0);
        if (ack.Dropped > 0)
        {
            throw new CliException($"the sidecar dropped rows {Text.Count(chunk.FirstRow)} to {Text.Count(chunk.FirstRow + chunk.Rows - 1)} of {File.Name}: " +
                $"{ack.ErrorMessage} (a smaller --batch, or a pause, lets its queue drain)");
        }
    }
}
