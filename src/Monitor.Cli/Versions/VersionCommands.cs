using System.CommandLine;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Versions;

/// <summary><c>drift versions list | register | promote | quarantine | rollback | reference</c>: a model's versions and the decisions about them.</summary>
internal static class VersionCommands
{
    public static Command Build(CommandContext context)
    {
        var command = new Command("versions", "List a model's versions with their verdicts; promote, quarantine or roll one back.");
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Register(context));
        command.Subcommands.Add(Promote(context));
        command.Subcommands.Add(Quarantine(context));
        command.Subcommands.Add(RollBack(context));
        command.Subcommands.Add(Reference(context));
        return command;
    }

    private static Command Reference(CommandContext context)
    {
        Option<string> model = Options.Model();
        var version = new Argument<string>("version") { Description = "The version the reference is of." };
        var file = new Argument<FileInfo?>("file")
        {
            Description = "CSV, TSV or Parquet file in the format of 'baseline import': the baseline's reference set replayed through the " +
                "version, with its score and embedding.0 … columns. Not with --capture or --follow.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var capture = new Option<uint?>("--capture")
        {
            Description = "Instead of a file, capture the reference from the version's next N live records with embeddings (0: 5,000) and follow " +
                "the capture until it is stored; it is dropped if trigger evidence opens meanwhile.",
        };
        var follow = new Option<bool>("--follow") { Description = "Follow the version's latest capture (started with --capture) until it ends." };
        var format = new Option<string?>("--format") { Description = "csv, tsv or parquet (default: by the file's extension)." };
        format.AcceptOnlyFromAmong("csv", "tsv", "parquet");
        var delimiter = new Option<char?>("--delimiter") { Description = "Field separator of a text file (default ',' for csv, tab for tsv)." };
        var map = new Option<string[]>("--map")
        {
            Description = "Read a part of the records from a differently named column: <part>=<column>, as in 'baseline import'. Repeatable.",
            AllowMultipleArgumentsPerToken = false,
        };
        var baseline = new Option<long>("--baseline") { Description = "The baseline whose reference set was replayed (default: the one in force, the only one taken)." };
        var replace = new Option<bool>("--replace") { Description = "Replace the version's reference for that baseline if it has one." };
        var reason = new Option<string?>("--reason") { Description = "Why, for the audit log." };
        Option<string?> actor = Options.Actor();
        Option<int> batch = Options.Batch("Records per upload message.");
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and check the whole file against the model's schema; upload nothing." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Show no progress." };
        Option<bool> json = Options.Json("Print the stored reference as JSON.");
        var command = new Command("reference", "Upload a version's own reference: its outputs and embeddings on the baseline's reference " +
            "inputs (or capture it from its live records with --capture). Its embedding evidence (D5) is then judged against it alone; without " +
            "one, a version that did not build the baseline gets none.")
        {
            model, version, file, capture, follow, format, delimiter, map, baseline, replace, reason, actor, batch, dryRun, noProgress, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            bool capturing = parsed.GetValue(capture) is not null || parsed.GetValue(follow);
            if (capturing == (parsed.GetValue(file) is not null))
            {
                throw new CliException("name a file to upload, or capture the reference with --capture N (or follow a capture with --follow), not both",
                    ExitCodes.Usage);
            }

            if (capturing)
            {
                var live = new ReferenceCapture(context.Terminal, sidecar)
                {
                    Model = parsed.GetValue(model)!,
                    Version = parsed.GetValue(version)!,
                    Records = parsed.GetValue(capture) ?? 0,
                    Start = parsed.GetValue(capture) is not null,
                    Replace = parsed.GetValue(replace),
                    Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                    Reason = parsed.GetValue(reason) ?? "",
                    Progress = !parsed.GetValue(noProgress),
                    Json = parsed.GetValue(json),
                };
                return await live.RunAsync(cancellationToken);
            }

            var upload = new ReferenceUpload(context.Terminal, sidecar)
            {
                File = parsed.GetValue(file)!,
                Model = parsed.GetValue(model)!,
                Version = parsed.GetValue(version)!,
                Format = parsed.GetValue(format),
                Delimiter = parsed.GetValue(delimiter),
                Map = Baselines.BaselineCommands.ParseMap(parsed.GetValue(map) ?? []),
                BaselineId = parsed.GetValue(baseline),
                Replace = parsed.GetValue(replace),
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
                BatchRecords = parsed.GetValue(batch),
                DryRun = parsed.GetValue(dryRun),
                Progress = !parsed.GetValue(noProgress),
                Json = parsed.GetValue(json),
                Timeout = sidecar.Timeout > TimeSpan.FromMinutes(10) ? sidecar.Timeout : TimeSpan.FromMinutes(10),
            };
            return await upload.RunAsync(cancellationToken);
        });
        return command;
    }

    private static Command List(CommandContext context)
    {
        Option<string> model = Options.Model();
        Option<bool> json = Options.Json("Print the versions as JSON.");
        var command = new Command("list", "List a model's versions: state, verdict, traffic and artifact digest.") { model, json };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            string name = parsed.GetValue(model)!;
            ListVersionsResponse list = await sidecar.Admin.ListVersionsAsync(new ListVersionsRequest { Model = name }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(list));
                return ExitCodes.Ok;
            }

            if (list.Versions.Count == 0)
            {
                context.Terminal.Line($"model '{name}' has no registered version");
                return ExitCodes.Ok;
            }

            VersionVerdict serving = await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = name }, sidecar.Unary(cancellationToken));
            var table = new TextTable("version", "state", "verdict", "windows", "records", "digest mismatches", "artifact sha256", "registered", "source")
                .Right("windows", "records", "digest mismatches");
            var waiting = new List<string>();
            foreach (ModelVersion v in list.Versions)
            {
                VersionVerdict verdict = await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = name, Version = v.Version },
                    sidecar.Unary(cancellationToken));
                string marker = v.Version == serving.Version ? " (serving)" : "";
                table.Add(v.Version + marker, State(v.State), verdict.Verdict, Text.Count(v.WindowsClosed), Text.Count(v.RecordsAccepted),
                    Text.Count(v.RecordsDigestMismatch), Text.Short(v.ArtifactSha256, 16), Text.Time(v.RegisteredAt), v.Source);
                if (verdict.Waiting.Length > 0)
                {
                    waiting.Add($"{v.Version}: {verdict.Waiting}");
                }
            }

            table.WriteTo(context.Terminal.Out);
            foreach (string line in waiting)
            {
                context.Terminal.Line(line);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Register(CommandContext context)
    {
        Option<string> model = Options.Model();
        var version = new Argument<string>("version") { Description = "The version's name." };
        var artifact = new Option<FileInfo?>("--artifact") { Description = "The model artifact file: its SHA-256 is registered." };
        var sha256 = new Option<string?>("--sha256") { Description = "The artifact's SHA-256 in hex, when the file is not at hand." };
        var source = new Option<string?>("--source") { Description = "Where the artifact came from (registry URL, hub revision, build id)." };
        var knownGood = new Option<bool>("--known-good") { Description = "Register it as known-good (e.g. the version the baseline came from)." };
        var signature = new Option<FileInfo?>("--signature")
        {
            Description = "Detached signature of the artifact over its SHA-256 (ECDSA P-256 DER or raw, Ed25519; bytes or base64), verified here and by the sidecar.",
        };
        var publicKeys = new Option<FileInfo[]>("--public-key")
        {
            Description = "PEM public key to verify --signature against here (default: the model's keys pinned in the sidecar).",
        };
        var artifactPath = new Option<string?>("--artifact-path")
        {
            Description = "Where the sidecar can read the artifact (a shared volume): it hashes it at registration and keeps checking it.",
        };
        var captureReference = new Option<uint>("--capture-reference")
        {
            Description = "Capture the version's own reference from its first N records (at least 200), as 'versions reference --capture' " +
                "does; follow it with 'versions reference --follow'.",
        };
        var command = new Command("register", "Register a version of a model with the SHA-256 of its artifact; the sidecar flags " +
            "traffic from any other artifact under that name.")
        {
            model, version, artifact, sha256, source, knownGood, signature, publicKeys, artifactPath, captureReference,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            FileInfo? file = parsed.GetValue(artifact);
            string? hex = parsed.GetValue(sha256);
            if ((file is null) == (hex is null))
            {
                throw new CliException("give the artifact as --artifact <file> or its digest as --sha256 <hex>, one of the two", ExitCodes.Usage);
            }

            string digest = file is null ? hex!.Trim().ToLowerInvariant() : await DigestAsync(file, cancellationToken);
            string name = parsed.GetValue(model)!;
            byte[] signed = parsed.GetValue(signature) is { } signatureFile
                ? await VerifyAsync(sidecar, name, digest, signatureFile, parsed.GetValue(publicKeys) ?? [], cancellationToken)
                : [];
            ModelVersion registered = await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
            {
                Model = name,
                Version = parsed.GetValue(version),
                ArtifactSha256 = digest,
                Source = parsed.GetValue(source) ?? file?.FullName ?? "",
                InitialState = parsed.GetValue(knownGood) ? VersionState.KnownGood : VersionState.Unspecified,
                Signature = Google.Protobuf.ByteString.CopyFrom(signed),
                ArtifactPath = parsed.GetValue(artifactPath) ?? "",
                CaptureReferenceRecords = parsed.GetValue(captureReference),
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line($"{registered.Model} {registered.Version} is registered as {State(registered.State)}, artifact sha256 {registered.ArtifactSha256}" +
                (registered.SignedBy.Length > 0 ? $", signed by key {registered.SignedBy[..16]}" : "") +
                (registered.ArtifactPath.Length > 0 ? $", hashed by the sidecar at {registered.ArtifactPath}" : "") + ".");
            if (parsed.GetValue(captureReference) is > 0 and var first)
            {
                context.Terminal.Line($"Its own reference is captured from its first {Text.Count(first)} records; follow it with " +
                    $"`drift versions reference -m {registered.Model} {registered.Version} --follow`.");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Reads the signature and verifies it here, against the given keys or else the model's pinned ones (when it has any), so a
    /// signature that does not verify is refused before anything is sent.
    /// </summary>
    private static async Task<byte[]> VerifyAsync(SidecarConnection sidecar, string model, string digest, FileInfo signatureFile,
        FileInfo[] keyFiles, CancellationToken cancellationToken)
    {
        byte[] signature;
        try
        {
            signature = await File.ReadAllBytesAsync(signatureFile.FullName, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--signature: cannot read {signatureFile.FullName}: {e.Message}");
        }

        List<Monitor.Server.Models.SigningKey> keys = keyFiles.Length > 0
            ? [.. keyFiles.Select(f => KeyCommands.ReadKey(f, "--public-key"))]
            : [.. (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = model }, sidecar.Unary(cancellationToken))).PublicKeys
                .Select(k => Monitor.Server.Models.ArtifactSignatures.ParseKey(k.PublicKeyPem))];
        // A malformed --sha256 is left to the sidecar, which names the field.
        if (keys.Count > 0 && digest.Length == 64 && digest.All(char.IsAsciiHexDigit)
            && Monitor.Server.Models.ArtifactSignatures.Signer(keys, Convert.FromHexString(digest), signature) is null)
        {
            throw new CliException($"--signature: {signatureFile.Name} does not verify against {(keyFiles.Length > 0 ? "the --public-key keys" : $"any of model '{model}''s pinned keys")} " +
                $"({string.Join(", ", keys.Select(k => k.Fingerprint))}) over the artifact's SHA-256 {digest}");
        }

        return signature;
    }

    private static async Task<string> DigestAsync(FileInfo file, CancellationToken cancellationToken)
    {
        try
        {
            await using FileStream stream = file.OpenRead();
            return Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(stream, cancellationToken));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--artifact: cannot read {file.FullName}: {e.Message}");
        }
    }

    private static Command Promote(CommandContext context)
    {
        Option<string> model = Options.Model();
        var version = new Argument<string>("version") { Description = "The version to mark known-good." };
        var reason = new Option<string?>("--reason") { Description = "Why, for the audit log." };
        Option<string?> actor = Options.Actor();
        var command = new Command("promote", "Mark a version known-good: rollbacks go to the most recently promoted one.")
        {
            model, version, reason, actor,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            ModelVersion promoted = await sidecar.Admin.PromoteVersionAsync(new PromoteVersionRequest
            {
                Model = parsed.GetValue(model),
                Version = parsed.GetValue(version),
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line($"{promoted.Model} {promoted.Version} is {State(promoted.State)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Quarantine(CommandContext context)
    {
        Option<string> model = Options.Model();
        var version = new Argument<string>("version") { Description = "The version to quarantine." };
        Option<string> reason = Reason();
        Option<string?> actor = Options.Actor();
        var command = new Command("quarantine", "Quarantine a version by hand: its verdict becomes Failed; no rollback signal is issued.")
        {
            model, version, reason, actor,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            ModelVersion quarantined = await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest
            {
                Model = parsed.GetValue(model),
                Version = parsed.GetValue(version),
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason),
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line($"{quarantined.Model} {quarantined.Version} is {State(quarantined.State)}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RollBack(CommandContext context)
    {
        Option<string> model = Options.Model();
        Argument<string?> version = Options.Version("The version to roll back (default: the one serving the model).");
        var to = new Option<string?>("--to") { Description = "The version to roll back to (default: the most recently promoted known-good one)." };
        Option<string> reason = Reason();
        Option<string?> actor = Options.Actor();
        var command = new Command("rollback", "Roll a version back by hand: quarantine it and issue a rollback signal naming the version to go back to.")
        {
            model, version, to, reason, actor,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            string name = parsed.GetValue(model)!;
            string from = parsed.GetValue(version) ?? await ServingAsync(sidecar, name, cancellationToken);
            RollBackVersionResponse result = await sidecar.Admin.RollBackVersionAsync(new RollBackVersionRequest
            {
                Model = name,
                Version = from,
                ToVersion = parsed.GetValue(to) ?? "",
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason),
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line(result.SignalSequence == 0
                ? $"{name} {from} is {State(result.Version.State)}; no rollback signal was issued."
                : $"{name} {from} is {State(result.Version.State)}; rollback signal {result.SignalSequence} issued: " +
                  $"{from} → {(result.ToVersion.Length > 0 ? result.ToVersion : "(no known-good version to go back to)")}.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<string> ServingAsync(SidecarConnection sidecar, string model, CancellationToken cancellationToken)
    {
        VersionVerdict serving = await sidecar.Reports.GetVerdictAsync(new GetVerdictRequest { Model = model }, sidecar.Unary(cancellationToken));
        return serving.Version.Length > 0
            ? serving.Version
            : throw new CliException($"no version of model '{model}' has mirrored traffic yet; name the version to roll back");
    }

    private static Option<string> Reason() => new("--reason") { Description = "Why, for the audit log and the signal.", Required = true };

    public static string State(VersionState state) => state switch
    {
        VersionState.Candidate => "candidate",
        VersionState.KnownGood => "known-good",
        VersionState.Suspect => "suspect",
        VersionState.Quarantined => "quarantined",
        VersionState.ObservedClean => "observed-clean",
        _ => "-",
    };
}
