using System.CommandLine;
using Monitor.Cli.Baselines;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Versions;

/// <summary><c>drift models list | show | register | keys | artifact-path</c>: the registered models, and the columns a baseline file of one needs.</summary>
internal static class ModelCommands
{
    public static Command Build(CommandContext context)
    {
        var command = new Command("models", "List the registered models, or show one's schema and the columns a baseline file needs.");
        Option<bool> listJson = Options.Json("Print the models as JSON.");
        var list = new Command("list", "List the registered models.") { listJson };
        context.SetAction(list, async (parsed, sidecar, cancellationToken) =>
        {
            ListModelsResponse models = await sidecar.Admin.ListModelsAsync(new ListModelsRequest(), sidecar.Unary(cancellationToken));
            if (parsed.GetValue(listJson))
            {
                context.Terminal.Line(Text.Json(models));
                return ExitCodes.Ok;
            }

            var table = new TextTable("model", "output", "numeric", "categorical", "text", "embedding", "baseline", "registered", "description")
                .Right("numeric", "categorical", "text", "embedding", "baseline");
            foreach (Model m in models.Models)
            {
                ModelSchema s = m.Schema;
                table.Add(m.Name, Output(s), s.NumericFeatures.Count.ToString(Text.Culture), s.CategoricalFeatures.Count.ToString(Text.Culture),
                    s.TextFields.Count.ToString(Text.Culture), s.EmbeddingWidth.ToString(Text.Culture),
                    m.BaselineId == 0 ? "none" : m.BaselineId.ToString(Text.Culture), Text.Time(m.RegisteredAt), m.Description);
            }

            if (table.Count == 0)
            {
                context.Terminal.Line("no model is registered");
                return ExitCodes.Ok;
            }

            table.WriteTo(context.Terminal.Out);
            return ExitCodes.Ok;
        });

        var name = new Argument<string>("model") { Description = "The model's name." };
        Option<bool> showJson = Options.Json("Print the model as JSON.");
        var show = new Command("show", "Show a model's schema, and the columns 'drift baseline import' looks for in a file.") { name, showJson };
        context.SetAction(show, async (parsed, sidecar, cancellationToken) =>
        {
            Model m = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = parsed.GetValue(name) }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(showJson))
            {
                context.Terminal.Line(Text.Json(m));
                return ExitCodes.Ok;
            }

            ModelSchema s = m.Schema;
            Terminal.Console console = context.Terminal;
            console.Line($"Model '{m.Name}'{(m.Description.Length > 0 ? $": {m.Description}" : "")}");
            console.Line($"  output          {Output(s)}");
            console.Line($"  registered      {Text.Time(m.RegisteredAt)}");
            console.Line($"  baseline        {(m.BaselineId == 0 ? "none in force" : $"{m.BaselineId} in force")}");
            if (s.CriticalFeatures.Count > 0)
            {
                console.Line($"  critical        {string.Join(", ", s.CriticalFeatures)}");
            }

            console.Line();
            console.Line("Columns of a baseline file (rename with --map <part>=<column>):");
            var columns = new TextTable("column", "part", "values");
            foreach (string f in s.NumericFeatures)
            {
                columns.Add(f, "numeric feature", "numbers; empty, NA, NaN, null or inf = missing");
            }

            foreach (string f in s.CategoricalFeatures)
            {
                columns.Add(f, "categorical feature", "strings or integers; empty = missing");
            }

            foreach (string f in s.TextFields)
            {
                columns.Add(f, "text field", "strings");
            }

            if (s.OutputKind == OutputKind.Classification)
            {
                foreach (string label in s.ClassLabels)
                {
                    columns.Add($"score.{label}", $"probability of class '{label}'", "numbers in [0, 1]");
                }
            }
            else
            {
                columns.Add("score", s.OutputKind == OutputKind.Binary ? "probability of the positive class" : "predicted value",
                    s.OutputKind == OutputKind.Binary ? "numbers in [0, 1]" : "finite numbers");
            }

            if (s.EmbeddingWidth > 0)
            {
                columns.Add($"embedding.0 … embedding.{s.EmbeddingWidth - 1}", "embedding (all or none)", "finite numbers");
            }

            columns.Add(ImportPlan.RequestIdName, "request id (optional)", "strings or integers");
            columns.WriteTo(console.Out, "  ");
            return ExitCodes.Ok;
        });

        command.Subcommands.Add(list);
        command.Subcommands.Add(show);
        command.Subcommands.Add(Register(context));
        command.Subcommands.Add(KeyCommands.Build(context));
        command.Subcommands.Add(ArtifactPath(context));
        return command;
    }

    private static Command ArtifactPath(CommandContext context)
    {
        Option<string> model = Options.Model();
        var template = new Argument<string>("template")
        {
            Description = "Absolute path where the sidecar reads each version's artifact, {version} standing for its name (\"\" for none).",
        };
        var reason = new Option<string?>("--reason") { Description = "Why, for the audit log." };
        Option<string?> actor = Options.Actor();
        var command = new Command("artifact-path", "Set where the sidecar reads the artifact of each version registered from now on without " +
            "--artifact-path: it hashes the file itself, at registration, at start and periodically.") { model, template, reason, actor };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            Model m = await sidecar.Admin.SetModelArtifactPathAsync(new SetModelArtifactPathRequest
            {
                Model = parsed.GetValue(model),
                ArtifactPathTemplate = parsed.GetValue(template) ?? "",
                Actor = Options.ActorOrUser(parsed.GetValue(actor)),
                Reason = parsed.GetValue(reason) ?? "",
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line(m.ArtifactPathTemplate.Length > 0
                ? $"The sidecar reads the artifacts of model '{m.Name}' at {m.ArtifactPathTemplate}."
                : $"Model '{m.Name}' has no artifact path: only versions registered with --artifact-path are hashed by the sidecar.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Register(CommandContext context)
    {
        var name = new Argument<string>("model") { Description = "The model's name." };
        var schema = new Option<FileInfo>("--schema")
        {
            Description = "JSON file of the model's schema (the ModelSchema message of protos/monitor/v1/models.proto in protobuf's JSON form).",
            Required = true,
        };
        var description = new Option<string?>("--description") { Description = "What the model does." };
        var command = new Command("register", "Register a model with its schema: the features, text fields and outputs its records carry.")
        {
            name, schema, description,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            FileInfo file = parsed.GetValue(schema)!;
            Model m = await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest
            {
                Name = parsed.GetValue(name),
                Schema = ReadSchema(file),
                Description = parsed.GetValue(description) ?? "",
            }, sidecar.Unary(cancellationToken));
            context.Terminal.Line($"Model '{m.Name}' is registered: {Output(m.Schema)}, {m.Schema.NumericFeatures.Count} numeric, " +
                $"{m.Schema.CategoricalFeatures.Count} categorical, {m.Schema.TextFields.Count} text. See its columns with 'drift models show {m.Name}'.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static ModelSchema ReadSchema(FileInfo file)
    {
        string json;
        try
        {
            json = File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--schema: cannot read {file.FullName}: {e.Message}");
        }

        try
        {
            return Google.Protobuf.JsonParser.Default.Parse<ModelSchema>(json);
        }
        catch (Exception e) when (e is Google.Protobuf.InvalidJsonException or Google.Protobuf.InvalidProtocolBufferException or FormatException)
        {
            throw new CliException($"--schema: {file.Name} is not a model schema: {e.Message} (expected e.g. " +
                "{\"numericFeatures\": [\"amount\"], \"outputKind\": \"OUTPUT_KIND_BINARY\"})");
        }
    }

    private static string Output(ModelSchema schema) => schema.OutputKind switch
    {
        OutputKind.Classification => $"classification ({string.Join(", ", schema.ClassLabels)})",
        OutputKind.Binary => schema.ClassLabels.Count == 2 ? $"binary ({schema.ClassLabels[0]} / {schema.ClassLabels[1]})" : "binary",
        OutputKind.Regression => "regression",
        _ => "-",
    };
}
