using System.CommandLine;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Reports;

/// <summary><c>drift verdict</c>: a version's verdict, with an exit code a deployment script can branch on.</summary>
internal static class VerdictCommand
{
    public static Command Build(CommandContext context)
    {
        Option<string> model = Options.Model();
        Argument<string?> version = Options.Version("The version (default: the one serving the model).");
        Option<bool> json = Options.Json("Print the verdict as JSON.");
        var command = new Command("verdict",
            "A version's verdict. Exit code 0: Successful; 4: Inconclusive; 5: Failed (so a script can gate a rollout on it).")
        {
            model, version, json,
        };
        context.SetAction(command, async (parsed, sidecar, cancellationToken) =>
        {
            VersionVerdict verdict = await sidecar.Reports.GetVerdictAsync(
                new GetVerdictRequest { Model = parsed.GetValue(model), Version = parsed.GetValue(version) ?? "" }, sidecar.Unary(cancellationToken));
            Terminal.Console console = context.Terminal;
            if (parsed.GetValue(json))
            {
                console.Line(Text.Json(verdict));
            }
            else
            {
                string name = verdict.Version.Length > 0 ? $"{verdict.Model} {verdict.Version}" : $"{verdict.Model} (no traffic yet)";
                console.Line($"{name}: {verdict.Verdict} ({verdict.State})");
                console.Line($"  windows judged        {Text.Count(verdict.WindowsJudged)}; failing in a row {Text.Count(verdict.ConsecutiveFailing)}" +
                    (verdict.LatestWindowInconclusive ? "; the latest window was inconclusive" : ""));
                if (verdict.RecordsRequired > 0)
                {
                    console.Line($"  records judged        {Text.Count(verdict.RecordsJudged)} of the {Text.Count(verdict.RecordsRequired)} a candidate serves before promotion");
                }

                if (verdict.Waiting.Length > 0)
                {
                    console.Line($"  waiting               {verdict.Waiting}");
                }

                if (verdict.HasWindowFalseAlarmRate)
                {
                    console.Line($"  false-alarm rate      {Text.Percent(verdict.WindowFalseAlarmRate)} of clean windows (from the baseline)");
                }

                console.Line($"  rollback              {verdict.Rollback}{(verdict.RollbackRecommended ? " (recommended)" : "")}");
                if (verdict.LatestSignal is { } signal)
                {
                    console.Line($"  latest signal         {signal.Sequence}: {signal.FromVersion} → " +
                        $"{(signal.ToVersion.Length > 0 ? signal.ToVersion : "(none known-good)")} at {Text.Time(signal.IssuedAt)} by {signal.Actor}" +
                        $"{(signal.Acknowledged ? ", acknowledged" : "")}");
                    console.Line($"                        {signal.Reason}");
                }
            }

            return verdict.Verdict switch
            {
                "Successful" => ExitCodes.Ok,
                "Failed" => ExitCodes.VerdictFailed,
                _ => ExitCodes.VerdictInconclusive,
            };
        });
        return command;
    }
}
