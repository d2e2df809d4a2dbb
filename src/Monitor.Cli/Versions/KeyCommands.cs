using System.CommandLine;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;
using Monitor.Server.Models;

namespace Monitor.Cli.Versions;

/// <summary><c>drift models keys list | add | remove | require</c>: the public keys a model's artifact signatures are verified against.</summary>
internal static class KeyCommands
{
    public static Command Build(CommandContext context)
    {
        var command = new Command("keys", "Pin the public keys a model's artifact signatures are verified against, and require signed versions.");
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Add(context));
        command.Subcommands.Add(Remove(context));
        command.Subcommands.Add(Require(context));
        return command;
    }

    private static Command List(CommandContext context)
    {
        Option<string> model = Options.Model();
        Option<bool> json = Options.Json("Print the keys as JSON.");
        var command = new Command("list", "List a model's pinned keys and whether it requires signed versions.") { model, json };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            Model m = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = parsed.GetValue(model) }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(m));
                return ExitCodes.Ok;
            }

            Print(context, m);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Add(CommandContext context)
    {
        Option<string> model = Options.Model();
        var keys = new Option<FileInfo[]>("--public-key")
        {
            Description = "PEM public key file (ECDSA P-256 or Ed25519, '-----BEGIN PUBLIC KEY-----'); repeat for several.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var require = new Option<bool>("--require-signed") { Description = "From now on, register only versions signed by a pinned key." };
        Option<string?> reason = Reason();
        Option<string?> actor = Options.Actor();
        var command = new Command("add", "Pin public keys for a model's artifact signatures.") { model, keys, require, reason, actor };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            var request = new SetModelSigningRequest
            {
                Model = parsed.GetValue(model),
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
            };
            foreach (FileInfo file in parsed.GetValue(keys)!)
            {
                request.AddPublicKeys.Add(ReadKey(file, "--public-key").Pem);
            }

            if (parsed.GetValue(require))
            {
                request.RequireSignedVersions = true;
            }

            Print(context, await sidecar.Admin.SetModelSigningAsync(request, sidecar.Unary(cancellationToken)));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Remove(CommandContext context)
    {
        Option<string> model = Options.Model();
        var id = new Argument<string[]>("key-id") { Description = "Key ids to unpin (at least 8 hex digits of each, as 'drift models keys list' shows)." };
        Option<string?> reason = Reason();
        Option<string?> actor = Options.Actor();
        var command = new Command("remove", "Unpin public keys of a model.") { model, id, reason, actor };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            var request = new SetModelSigningRequest
            {
                Model = parsed.GetValue(model),
                RemoveKeyIds = { parsed.GetValue(id)! },
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
            };
            Print(context, await sidecar.Admin.SetModelSigningAsync(request, sidecar.Unary(cancellationToken)));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Require(CommandContext context)
    {
        Option<string> model = Options.Model();
        var off = new Option<bool>("--off") { Description = "Allow unsigned versions again." };
        Option<string?> reason = Reason();
        Option<string?> actor = Options.Actor();
        var command = new Command("require", "Require (or, with --off, stop requiring) signed versions of a model.") { model, off, reason, actor };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            Print(context, await sidecar.Admin.SetModelSigningAsync(new SetModelSigningRequest
            {
                Model = parsed.GetValue(model),
                RequireSignedVersions = !parsed.GetValue(off),
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
            }, sidecar.Unary(cancellationToken)));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A PEM public key file, checked as the sidecar checks it.</summary>
    public static SigningKey ReadKey(FileInfo file, string option)
    {
        try
        {
            return ArtifactSignatures.ParseKey(File.ReadAllText(file.FullName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new CliException($"{option}: {file.FullName}: {e.Message}", ExitCodes.Usage);
        }
    }

    private static void Print(CommandContext context, Model m)
    {
        context.Terminal.Line($"Model '{m.Name}' {(m.RequireSignedVersions ? "requires" : "does not require")} signed versions; " +
            $"{m.PublicKeys.Count} pinned key{(m.PublicKeys.Count == 1 ? "" : "s")}.");
        if (m.PublicKeys.Count > 0)
        {
            var table = new TextTable("key id", "algorithm", "pinned");
            foreach (PinnedKey key in m.PublicKeys)
            {
                table.Add(key.KeyId, key.Algorithm, Text.Time(key.PinnedAt));
            }

            table.WriteTo(context.Terminal.Out);
        }
    }

    private static Option<string?> Reason() => new("--reason") { Description = "Why, for the audit log." };
}
