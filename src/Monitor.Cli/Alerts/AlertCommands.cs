using System.CommandLine;
using Grpc.Core;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Alerts;

/// <summary><c>drift alerts list | show | follow</c>: alerts as they stand, one alert's evidence, and changes as they happen.</summary>
internal static class AlertCommands
{
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(30);

    public static Command Build(CommandContext context)
    {
        var command = new Command("alerts", "List alerts, show one with its evidence, or follow alert changes as they happen.");
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Show(context));
        command.Subcommands.Add(Follow(context));
        return command;
    }

    private static Command List(CommandContext context)
    {
        Option<string?> model = OptionalModel();
        var version = new Option<string?>("--version") { Description = "Only this version's alerts (with --model)." };
        Option<AlertSeverity> severity = Severity();
        var state = new Option<string>("--state") { Description = "firing, resolved or all.", DefaultValueFactory = _ => "firing" };
        state.AcceptOnlyFromAmong("firing", "resolved", "all");
        var limit = new Option<uint>("--limit") { Description = "At most this many, the most recently changed first.", DefaultValueFactory = _ => 100 };
        Option<bool> json = Options.Json("Print the alerts as JSON.");
        var command = new Command("list", "List alerts, the most recently changed first (firing ones by default).")
        {
            model, version, severity, state, limit, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            ListAlertsResponse list = await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest
            {
                Model = parsed.GetValue(model) ?? "",
                Version = parsed.GetValue(version) ?? "",
                MinSeverity = parsed.GetValue(severity),
                State = parsed.GetValue(state) switch
                {
                    "firing" => AlertState.Firing,
                    "resolved" => AlertState.Resolved,
                    _ => AlertState.Unspecified,
                },
                Limit = parsed.GetValue(limit),
            }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(list));
                return ExitCodes.Ok;
            }

            if (list.Alerts.Count == 0)
            {
                context.Terminal.Line($"no {(parsed.GetValue(state) == "all" ? "" : parsed.GetValue(state) + " ")}alerts");
                return ExitCodes.Ok;
            }

            var table = new TextTable("id", "severity", "state", "model", "version", "kind", "windows", "first seen", "last seen", "latest evidence")
                .Right("id", "windows");
            foreach (Alert a in list.Alerts)
            {
                table.Add(a.Id.ToString(Text.Culture), Name(a.Severity), Name(a.State), a.Model, a.Version, a.Kind, Text.Count(a.Windows),
                    Text.Time(a.FirstSeen), Text.Time(a.LastSeen), Text.Short(a.Evidence.LastOrDefault() ?? "", 90));
            }

            table.WriteTo(context.Terminal.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Show(CommandContext context)
    {
        var id = new Argument<ulong>("id") { Description = "The alert's id." };
        Option<bool> json = Options.Json("Print the alert as JSON.");
        var command = new Command("show", "Show one alert with all its evidence lines.") { id, json };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            Alert a = await sidecar.Alerts.GetAlertAsync(new GetAlertRequest { Id = parsed.GetValue(id) }, sidecar.Unary(cancellationToken));
            if (parsed.GetValue(json))
            {
                context.Terminal.Line(Text.Json(a));
                return ExitCodes.Ok;
            }

            Terminal.Console console = context.Terminal;
            console.Line($"Alert {a.Id}: {Name(a.Severity)} {a.Kind} of {a.Model} {a.Version}, {Name(a.State)}");
            var facts = new TextTable("", "");
            facts.Add("problem", $"{a.DedupeKey} (episode {a.Episode})");
            facts.Add("first seen", Text.Time(a.FirstSeen));
            facts.Add("last seen", Text.Time(a.LastSeen));
            if (a.State == AlertState.Resolved)
            {
                facts.Add("resolved", Text.Time(a.ResolvedAt));
            }

            facts.Add("windows", Text.Count(a.Windows));
            facts.Add("sequence", a.Sequence.ToString(Text.Culture));
            facts.WriteTo(console.Out, "  ", header: false);
            console.Line("  evidence, newest last:");
            foreach (string line in a.Evidence)
            {
                console.Line($"    {line}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Follow(CommandContext context)
    {
        Option<string?> model = OptionalModel();
        Option<AlertSeverity> severity = Severity();
        var after = new Option<ulong?>("--after")
        {
            Description = "Replay changes after this sequence number first (0 = every stored change); default: only changes from now on.",
        };
        var count = new Option<int>("--count") { Description = "Stop after this many changes (default: follow until Ctrl-C)." };
        Option<bool> json = Options.Json("Print each change as one line of JSON.");
        var command = new Command("follow", "Print alert changes as the sidecar commits them; reconnects and resumes where it left off.")
        {
            model, severity, after, count, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            var request = new WatchAlertsRequest { Model = parsed.GetValue(model) ?? "", MinSeverity = parsed.GetValue(severity) };
            ulong? from = parsed.GetValue(after);
            context.Terminal.Note($"Following alert changes{(request.Model.Length > 0 ? $" of {request.Model}" : "")} " +
                $"{(from is ulong n ? $"after sequence {n}" : "from now on")} from {sidecar.Address} (Ctrl-C to stop).");
            try
            {
                return await FollowAsync(context.Terminal, sidecar, request, from, parsed.GetValue(count), parsed.GetValue(json), cancellationToken);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OperationCanceledException or RpcException)
            {
                // Ctrl-C is how a follow ends.
                context.Terminal.Note(request.AfterSequence == 0 && from is null ? "Stopped." : $"Stopped after sequence {request.AfterSequence}.");
                return ExitCodes.Ok;
            }
        });
        return command;
    }

    /// <summary>
    /// Watches until <paramref name="count"/> changes arrived (or for ever). A sidecar that is down, restarting or cut
    /// the watch off is retried with backoff (1 s doubling to 30 s), and the watch resumes after the last change printed.
    /// Without <paramref name="after"/> it starts after the latest change the sidecar has once it is reached.
    /// </summary>
    private static async Task<int> FollowAsync(Terminal.Console console, SidecarConnection sidecar, WatchAlertsRequest request, ulong? after,
        int count, bool json, CancellationToken cancellationToken)
    {
        int received = 0;
        TimeSpan retry = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                if (after is null)
                {
                    after = await LatestSequenceAsync(sidecar, cancellationToken);
                    console.Note($"The latest change is sequence {after}; following the ones after it.");
                }

                request.AfterSequence = after.Value;
                using AsyncServerStreamingCall<Alert> call = sidecar.Alerts.WatchAlerts(request.Clone(), sidecar.Streaming(cancellationToken));
                while (await call.ResponseStream.MoveNext(cancellationToken))
                {
                    Alert alert = call.ResponseStream.Current;
                    console.Line(json ? Text.JsonLine(alert) : Line(alert));
                    await console.Out.FlushAsync(cancellationToken);
                    after = alert.Sequence;
                    request.AfterSequence = alert.Sequence;
                    retry = TimeSpan.FromSeconds(1);
                    if (count > 0 && ++received >= count)
                    {
                        return ExitCodes.Ok;
                    }
                }

                console.Note($"The sidecar ended the watch; resuming after sequence {after}.");
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
            {
                console.Note($"Fell behind the sidecar ({e.Status.Detail}); resuming after sequence {after} in {retry.TotalSeconds:0} s.");
                retry = await BackOffAsync(retry, cancellationToken);
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested
                && e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.Aborted or StatusCode.DeadlineExceeded)
            {
                console.Note($"Lost the sidecar ({sidecar.Explain(e).Message}); retrying in {retry.TotalSeconds:0} s" +
                    $"{(after is ulong last ? $", then resuming after sequence {last}" : "")}.");
                retry = await BackOffAsync(retry, cancellationToken);
            }
        }
    }

    private static async Task<TimeSpan> BackOffAsync(TimeSpan retry, CancellationToken cancellationToken)
    {
        await Task.Delay(retry, cancellationToken);
        return TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LongestRetry.Ticks));
    }

    private static async Task<ulong> LatestSequenceAsync(SidecarConnection sidecar, CancellationToken cancellationToken)
    {
        ListAlertsResponse latest = await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Limit = 1 }, sidecar.Unary(cancellationToken));
        return latest.Alerts.Count == 0 ? 0 : latest.Alerts[0].Sequence;
    }

    private static string Line(Alert a) =>
        $"{Text.Time(a.LastSeen)}  seq {a.Sequence}  alert {a.Id}  {Name(a.Severity),-8}  {Name(a.State),-8}  {a.Model} {a.Version}  {a.Kind}" +
        $"  {a.Evidence.LastOrDefault() ?? ""}";

    private static Option<string?> OptionalModel() => new("--model", "-m") { Description = "Only this model's alerts." };

    private static Option<AlertSeverity> Severity()
    {
        var option = new Option<AlertSeverity>("--severity")
        {
            Description = "Least severity: info, warning or critical.",
            DefaultValueFactory = _ => AlertSeverity.Unspecified,
            CustomParser = result => result.Tokens[0].Value.ToLowerInvariant() switch
            {
                "info" => AlertSeverity.Info,
                "warning" => AlertSeverity.Warning,
                "critical" => AlertSeverity.Critical,
                string other => Refuse(result, other),
            },
        };
        return option;

        static AlertSeverity Refuse(System.CommandLine.Parsing.ArgumentResult result, string value)
        {
            result.AddError($"--severity: '{value}' is not info, warning or critical");
            return AlertSeverity.Unspecified;
        }
    }

    private static string Name(AlertSeverity severity) => severity switch
    {
        AlertSeverity.Info => "info",
        AlertSeverity.Warning => "warning",
        AlertSeverity.Critical => "critical",
        _ => "-",
    };

    private static string Name(AlertState state) => state switch
    {
        AlertState.Firing => "firing",
        AlertState.Resolved => "resolved",
        _ => "-",
    };
}
