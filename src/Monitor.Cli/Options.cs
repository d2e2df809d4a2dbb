using System.CommandLine;

namespace Monitor.Cli;

/// <summary>Options several commands share, spelled the same everywhere.</summary>
internal static class Options
{
    public static Option<string> Model() => new("--model", "-m") { Description = "The model's name.", Required = true };

    /// <summary>A model version as the optional last word of a command; empty means the version serving the model.</summary>
    public static Argument<string?> Version(string description)
    {
        var version = new Argument<string?>("version") { Description = description, Arity = ArgumentArity.ZeroOrOne };
        version.Validators.Add(result =>
        {
            // An unknown option would otherwise be taken for the version.
            if (result.GetValueOrDefault<string?>() is { } value && value.StartsWith('-'))
            {
                result.AddError($"Unrecognized option '{value}'.");
            }
        });
        return version;
    }

    public static Option<bool> Json(string description) => new("--json") { Description = description };

    /// <summary>--batch: records per message sent, 2,000 by default, from 1 to 10,000 (the sidecar's default Monitor:Ingest:MaxRecordsPerBatch).</summary>
    public static Option<int> Batch(string description)
    {
        var batch = new Option<int>("--batch") { Description = description, DefaultValueFactory = _ => 2000 };
        batch.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 10_000)
            {
                r.AddError("--batch: must be from 1 to 10000 records");
            }
        });
        return batch;
    }

    public static Option<string?> Actor() => new("--actor")
    {
        Description = "Who acts, for the sidecar's audit log (default: the user name).",
    };

    public static string ActorOrUser(string? actor) => string.IsNullOrWhiteSpace(actor) ? Environment.UserName : actor;
}
