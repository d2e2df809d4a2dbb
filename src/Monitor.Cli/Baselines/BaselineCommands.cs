using System.CommandLine;
using Grpc.Core;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>
/// <c>drift baseline import | capture | list | readiness | abort</c> (also spelled <c>baselines</c>): a model's reference traffic from a
/// file or from a known-good version's live records, and the baselines it has.
/// </summary>
internal static class BaselineCommands
{
    private static readonly TimeSpan LeastCommitTime = TimeSpan.FromMinutes(10);

    public static Command Build(CommandContext context)
    {
        var command = new Command("baseline", "Import a model's baseline from a CSV or Parquet file of known-good traffic, capture one from a " +
            "known-good version's live traffic, or list its baselines.");
        command.Aliases.Add("baselines");
        command.Subcommands.Add(Import(context));
        command.Subcommands.Add(Capture(context));
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(ReadinessCommand(context));
        command.Subcommands.Add(Abort(context));
        return command;
    }

    private static Command Import(CommandContext context)
    {
        var file = new Argument<FileInfo>("file") { Description = "CSV, TSV or Parquet file of known-good records, one per row, with a header." };
        Option<string> model = Options.Model();
        var format = new Option<string?>("--format") { Description = "csv, tsv or parquet (default: by the file's extension)." };
        format.AcceptOnlyFromAmong("csv", "tsv", "parquet");
        var delimiter = new Option<char?>("--delimiter") { Description = "Field separator of a text file (default ',' for csv, tab for tsv)." };
        var map = new Option<string[]>("--map")
        {
            Description = "Read a part of the records from a differently named column: <part>=<column>, e.g. amount=txn_amount or " +
                "score.fraud=p_fraud. Repeatable.",
            AllowMultipleArgumentsPerToken = false,
        };
        var description = new Option<string?>("--description") { Description = "What this reference set is (shown in 'baseline list')." };
        var windowRecords = new Option<uint>("--window-records") { Description = "Records per live window the thresholds are calibrated for (default: the sidecar's)." };
        Option<double> falseAlarmRate = FalseAlarmRate();
        Option<int> batch = Options.Batch("Records per upload message.");
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and check the whole file against the model's schema; upload nothing." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Show no progress." };
        Option<bool> json = Options.Json("Print the committed baseline as JSON.");
        var scoredBy = new Option<string?>("--scored-by")
        {
            Description = "The registered version whose outputs (and embeddings) the file holds: its embeddings are judged against this " +
                "baseline; other versions need a reference of their own ('versions reference').",
        };
        var command = new Command("import", "Upload a file of known-good records as the model's baseline, then commit it: " +
            "it is profiled, its thresholds calibrated, and it takes force. Nothing changes if the import fails or is cancelled.")
        {
            file, model, format, delimiter, map, description, windowRecords, falseAlarmRate, batch, dryRun, noProgress, json, scoredBy,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            var import = new BaselineImport(context.Terminal, sidecar)
            {
                File = parsed.GetValue(file)!,
                Model = parsed.GetValue(model)!,
                Format = parsed.GetValue(format),
                Delimiter = parsed.GetValue(delimiter),
                Map = ParseMap(parsed.GetValue(map) ?? []),
                Description = parsed.GetValue(description) ?? "",
                WindowRecords = parsed.GetValue(windowRecords),
                FalseAlarmRate = parsed.GetValue(falseAlarmRate),
                ScoredBy = parsed.GetValue(scoredBy) ?? "",
                BatchRecords = parsed.GetValue(batch),
                DryRun = parsed.GetValue(dryRun),
                Progress = !parsed.GetValue(noProgress),
                Json = parsed.GetValue(json),
                CommitTimeout = sidecar.Timeout > LeastCommitTime ? sidecar.Timeout : LeastCommitTime,
            };
            return await import.RunAsync(cancellationToken);
        });
        return command;
    }

    private static Command Capture(CommandContext context)
    {
        Option<string> model = Options.Model();
        var version = new Option<string>("--from-version")
        {
            Description = "The known-good version whose live records become the baseline.",
            Required = true,
        };
        var records = new Option<uint>("--records") { Description = "Live records to capture; the capture commits itself once they arrived.", Required = true };
        records.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<uint>() == 0)
            {
                r.AddError("--records: must be at least 1");
            }
        });
        var description = new Option<string?>("--description") { Description = "What this capture is (shown in 'baseline list')." };
        var windowRecords = new Option<uint>("--window-records") { Description = "Records per live window the thresholds are calibrated for (default: the sidecar's)." };
        Option<double> falseAlarmRate = FalseAlarmRate();
        var noProgress = new Option<bool>("--no-progress") { Description = "Show no progress." };
        Option<bool> json = Options.Json("Print the committed baseline, with its capture check, as JSON.");
        var command = new Command("capture", "Capture a known-good version's live records as the model's next baseline and follow the capture " +
            "until it commits: it is checked against the baseline in force, keys skewed in the capture are kept out of the new key table " +
            "(and listed), and it takes force. Ctrl-C aborts it, and the baseline in force stays as it was.")
        {
            model, version, records, description, windowRecords, falseAlarmRate, noProgress, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            var capture = new BaselineCapture(context.Terminal, sidecar)
            {
                Model = parsed.GetValue(model)!,
                Version = parsed.GetValue(version)!,
                Records = parsed.GetValue(records),
                Description = parsed.GetValue(description) ?? "",
                WindowRecords = parsed.GetValue(windowRecords),
                FalseAlarmRate = parsed.GetValue(falseAlarmRate),
                Progress = !parsed.GetValue(noProgress),
                Json = parsed.GetValue(json),
            };
            return await capture.RunAsync(cancellationToken);
        });
        return command;
    }

    private static Option<double> FalseAlarmRate()
    {
        var falseAlarmRate = new Option<double>("--false-alarm-rate") { Description = "Whole-window false-alarm rate to calibrate for, e.g. 0.01 (default: the sidecar's)." };
        falseAlarmRate.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0 or >= 1 or double.NaN)
            {
                r.AddError("--false-alarm-rate: must be more than 0 and less than 1 (or 0 for the sidecar's default)");
            }
        });
        return falseAlarmRate;
    }

    private static Command List(CommandContext context)
    {
        Option<string> model = Options.Model();
        Option<bool> json = Options.Json("Print the baselines as JSON.");
        var command = new Command("list", "List a model's baselines, the one in force marked.") { model, json };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            ListBaselinesResponse list = await sidecar.Admin.ListBaselinesAsync(new ListBaselinesRequest { Model = parsed.GetValue(model) },
                sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(list));
                return ExitCodes.Ok;
            }

            var table = new TextTable("id", "in force", "created", "source", "records", "profiled", "window", "false-alarm rate", "description")
                .Right("id", "records", "profiled", "window");
            foreach (BaselineSummary b in list.Baselines)
            {
                table.Add(b.Id.ToString(Text.Culture), b.InForce ? "yes" : "", Text.Time(b.CreatedAt), b.Source, Text.Count(b.RecordsReceived),
                    Text.Count(b.RecordsProfiled), Text.Count(b.WindowRecords), Text.Percent(b.FalseAlarmRate), b.Description);
            }

            if (table.Count == 0)
            {
                context.Terminal.Line($"model '{parsed.GetValue(model)}' has no baseline yet; import one with 'drift baseline import'");
                return ExitCodes.Ok;
            }

            table.WriteTo(context.Terminal.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command ReadinessCommand(CommandContext context)
    {
        Option<string> model = Options.Model();
        var id = new Option<long>("--id") { Description = "The baseline's id (default: the one in force)." };
        Option<bool> json = Options.Json("Print the baseline's readiness report as JSON.");
        var command = new Command("readiness", "What the trigger detectors can find with a baseline: per class, the occurrences a trigger needs " +
            "before it is found, the classes the detectors are blind to and the reference size that would fix it, and the records a candidate " +
            "must serve before it is promoted.") { model, id, json };
        command.Aliases.Add("show");
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            Baseline baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = parsed.GetValue(model), BaselineId = parsed.GetValue(id) },
                sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(baseline.Readiness is null ? "{}" : Text.Json(baseline.Readiness));
                return ExitCodes.Ok;
            }

            ReadinessView.Write(context.Terminal, baseline);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Abort(CommandContext context)
    {
        var id = new Argument<string>("upload") { Description = "The upload's id (an interrupted import names it)." };
        var command = new Command("abort", "Abort an open baseline upload, e.g. one an interrupted import could not abort.") { id };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            BaselineUpload upload = await sidecar.Admin.AbortBaselineAsync(new AbortBaselineRequest { UploadId = parsed.GetValue(id) },
                sidecar.Unary(cancellationToken));
            context.Terminal.Line($"Upload {upload.UploadId} of model '{upload.Model}' is aborted ({Text.Count(upload.RecordsReceived)} records " +
                "received are dropped); the baseline in force is unchanged.");
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static Dictionary<string, string> ParseMap(string[] pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in pairs)
        {
            int equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || equals == pair.Length - 1)
            {
                throw new CliException($"--map {pair}: expected <part>=<column>, e.g. amount=txn_amount", ExitCodes.Usage);
            }

            if (!map.TryAdd(pair[..equals], pair[(equals + 1)..]))
            {
                throw new CliException($"--map {pair}: '{pair[..equals]}' is mapped twice", ExitCodes.Usage);
            }
        }

        return map;
    }
}
