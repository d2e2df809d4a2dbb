using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>
/// One capture: begin capturing a known-good version's live records, follow the capture until the sidecar has
/// committed it (checked against the baseline in force), and summarise what it kept out of the key table. A failure
/// or a cancellation while it is open aborts it, so the baseline in force stays as it was.
/// </summary>
internal sealed class BaselineCapture(Terminal.Console console, SidecarConnection sidecar)
{
    public required string Model { get; init; }

    public required string Version { get; init; }

    public required uint Records { get; init; }

    public string Description { get; init; } = "";

    public uint WindowRecords { get; init; }

    public double FalseAlarmRate { get; init; }

    public bool Progress { get; init; } = true;

    public bool Json { get; init; }

    /// <summary>How often the capture's state is read.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest
        {
            Model = Model,
            Description = Description.Length > 0 ? Description : $"captured from {Records:N0} live records of {Version}",
            WindowRecords = WindowRecords,
            FalseAlarmRate = FalseAlarmRate,
            CaptureFromVersion = Version,
            CaptureRecords = Records,
        }, sidecar.Unary(cancellationToken));
        console.Note($"Capturing {Text.Count(Records)} live records of {Model} {Version} (upload {upload.UploadId}); it commits itself once they " +
            "arrived, checked against the baseline in force. Ctrl-C aborts it.");
        var progress = new ProgressBar(console, "records", Progress);
        Baseline baseline;
        try
        {
            upload = await FollowAsync(upload, progress, cancellationToken);
            baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Model, BaselineId = upload.BaselineId },
                sidecar.Unary(cancellationToken));
        }
        catch (Exception e) when (e is not CliException)
        {
            // Whatever went wrong (a refusal, a lost sidecar, Ctrl-C), an open capture must not stay open. (A CliException
            // here says the capture already ended.)
            progress.Finish();
            await UploadAbort.RunAsync(console, sidecar, upload.UploadId);
            throw;
        }

        if (Json)
        {
            console.Line(Text.Json(baseline));
            return ExitCodes.Ok;
        }

        WriteSummary(baseline, progress.Elapsed);
        return ExitCodes.Ok;
    }

    /// <summary>Reads the capture's state until it is committed; progress while records arrive.</summary>
    private async Task<BaselineUpload> FollowAsync(BaselineUpload upload, ProgressBar progress, CancellationToken cancellationToken)
    {
        bool full = false;
        while (true)
        {
            if (upload.State is BaselineUploadState.Aborted or BaselineUploadState.Failed)
            {
                progress.Finish();
                throw new CliException($"the capture (upload {upload.UploadId}) is {upload.State.ToString().ToLowerInvariant()}" +
                    $"{(upload.Error.Length > 0 ? $": {upload.Error}" : "")}");
            }

            bool arrived = upload.State != BaselineUploadState.Open || upload.RecordsReceived >= upload.CaptureRecords;
            if (arrived && !full)
            {
                full = true;
                progress.Complete((long)upload.RecordsReceived);
                if (upload.State != BaselineUploadState.Committed)
                {
                    console.Note($"Committing {Text.Count(upload.RecordsSampled)} sampled records: profiling them, calibrating thresholds and " +
                        "checking the key table against the baseline in force…");
                }
            }
            else if (!arrived)
            {
                progress.Report(upload.RecordsReceived / (double)Math.Max(upload.CaptureRecords, 1), (long)upload.RecordsReceived);
            }

            if (upload.State == BaselineUploadState.Committed)
            {
                return upload;
            }

            await Task.Delay(PollInterval, cancellationToken);
            upload = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = upload.UploadId },
                sidecar.Unary(cancellationToken));
        }
    }

    private void WriteSummary(Baseline baseline, TimeSpan elapsed)
    {
        BaselineSummary s = baseline.Summary;
        console.Line($"Baseline {s.Id} of model '{s.Model}' is committed{(s.InForce ? " and in force" : "")}, captured from version {Version}.");
        var facts = new TextTable("", "");
        facts.Add("records received", $"{Text.Count(s.RecordsReceived)} in {Text.Seconds(elapsed)}");
        facts.Add("profiled", $"{Text.Count(s.RecordsProfiled)} (bins, categories, moments)");
        facts.Add("calibration", $"{Text.Count(s.RecordsCalibration)} (held out to calibrate thresholds; the key table is counted on them)");
        facts.Add("window", $"{Text.Count(s.WindowRecords)} records");
        facts.Add("false-alarm rate", $"{Text.Percent(s.FalseAlarmRate)} of clean windows stated; {Text.Percent(s.CalibratedFalseAlarmRate)} " +
            $"measured over {Text.Count(s.BootstrapWindows)} bootstrap windows");
        CaptureCheck? check = baseline.CaptureCheck;
        facts.Add("capture check", check is null ? "none (the sidecar did not report one)" : check.Summary);
        facts.WriteTo(console.Out, "  ", header: false);
        console.Line();
        ReadinessView.Write(console, baseline);
        if (check is null)
        {
            return;
        }

        if (check.AgainstBaselineId == 0)
        {
            console.Note($"warning: baseline {s.Id} was not checked against another baseline ({check.Summary}).");
        }

        if (check.Excluded.Count == 0)
        {
            return;
        }

        console.Line();
        console.Line($"Kept out of the key table ({check.Excluded.Count}): their records in the capture were served a class far more often than " +
            $"baseline {check.AgainstBaselineId} expects, so the detectors go on judging them as new keys.");
        var table = new TextTable("kind", "field", "key", "records", "class", "served", "expected", "z", $"in baseline {check.AgainstBaselineId}")
            .Right("records", "served", "expected", "z");
        foreach (ExcludedKey key in check.Excluded)
        {
            table.Add(key.Kind, key.Field, key.Text, Text.Count(key.Support), key.TargetLabel,
                $"{Text.Percent(key.Rate)} of {Text.Count(key.Contrarian)}", Text.Percent(key.HasKeyRate ? key.KeyRate : key.ExpectedRate),
                key.Z.ToString("0.0", Text.Culture), key.NewKey ? "new" : key.HasKeyRate ? "known (own rate)" : "known");
        }

        table.WriteTo(console.Out, "  ");
    }
}
