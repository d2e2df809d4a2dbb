using Grpc.Core;
using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Baselines;

/// <summary>
/// One import: check the file against the model's schema, upload it in batches (reading the next batch while the
/// last is in flight), commit, and summarise. A failure or a cancellation aborts the upload, so the baseline in force
/// stays as it was.
/// </summary>
internal sealed partial class BaselineImport(Terminal.Console console, SidecarConnection sidecar)
{
    public required FileInfo File { get; init; }

    public required string Model { get; init; }

    public string? Format { get; init; }

    public char? Delimiter { get; init; }

    public IReadOnlyDictionary<string, string> Map { get; init; } = new Dictionary<string, string>();

    public string Description { get; init; } = "";

    public uint WindowRecords { get; init; }

    public double FalseAlarmRate { get; init; }

    /// <summary>The version that scored the file (scored_by_version); empty: not named.</summary>
    public string ScoredBy { get; init; } = "";

    public int BatchRecords { get; init; } = 2000;

    public bool DryRun { get; init; }

    public bool Progress { get; init; } = true;

    public bool Json { get; init; }

    public TimeSpan CommitTimeout { get; init; } = TimeSpan.FromMinutes(10);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        // The file first: a missing or unreadable file is the problem to tell, whether or not the sidecar is up.
        await using TableReader table = await TableReader.OpenAsync(File, Format, Delimiter, cancellationToken);
        Model model = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Model }, sidecar.Unary(cancellationToken));
        ImportPlan plan = ImportPlan.Create(model, table, Map);
        console.Note($"Reading {File.Name} ({table.Format}, {Text.Bytes(File.Length)}) for model '{model.Name}': " +
            $"{plan.Selection.Count} columns used{(plan.Ignored.Count > 0 ? $", {plan.Ignored.Count} ignored ({string.Join(", ", plan.Ignored)})" : "")}" +
            $"{(model.Schema.EmbeddingWidth > 0 && !plan.HasEmbedding ? "; no embedding.0… columns, so the baseline has no embedding reference" : "")}.");
        var progress = new ProgressBar(console, "rows", Progress);
        if (DryRun)
        {
            long checkedRows;
            try
            {
                checkedRows = await ReadAllAsync(table, plan, progress, (_, _) => Task.CompletedTask, cancellationToken);
            }
            finally
            {
                progress.Finish();
            }

            console.Line($"{File.Name}: {Text.Count(checkedRows)} rows fit model '{model.Name}'; nothing was uploaded (--dry-run).");
            return ExitCodes.Ok;
        }

        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest
        {
            Model = model.Name,
            Description = Description.Length > 0 ? Description : $"imported from {File.Name}",
            WindowRecords = WindowRecords,
            FalseAlarmRate = FalseAlarmRate,
            ScoredByVersion = ScoredBy,
        }, sidecar.Unary(cancellationToken));
        long rows;
        Baseline baseline;
        TimeSpan uploadTime;
        try
        {
            rows = await ReadAllAsync(table, plan, progress, (batch, chunk) => AppendAsync(upload.UploadId, batch, chunk, cancellationToken),
                cancellationToken);
            uploadTime = progress.Elapsed;
            console.Note($"Committing {Text.Count(rows)} records: profiling them and calibrating thresholds…");
            baseline = await CommitAsync(upload.UploadId, cancellationToken);
        }
        catch (Exception)
        {
            // Whatever went wrong (a bad value, a refusal, a broken file, Ctrl-C), the upload must not stay open.
            progress.Finish();
            await AbortAsync(upload.UploadId);
            throw;
        }

        if (Json)
        {
            console.Line(Text.Json(baseline));
            return ExitCodes.Ok;
        }

        WriteSummary(baseline, table, plan, rows, uploadTime, progress.Elapsed - uploadTime);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Reads every row, converts each chunk to a batch and hands it to <paramref name="send"/>, which runs while the next
    /// chunk is read (one send in flight). A file with no rows is an error.
    /// </summary>
    private async Task<long> ReadAllAsync(TableReader table, ImportPlan plan, ProgressBar progress, Func<RecordBatch, TableChunk, Task> send,
        CancellationToken cancellationToken)
    {
        long rows = 0;
        Task inFlight = Task.CompletedTask;
        try
        {
            while (await table.ReadAsync(plan.Selection, BatchRecords, cancellationToken) is { } chunk)
            {
                RecordBatch batch = plan.Build(chunk);
                await inFlight;
                inFlight = send(batch, chunk);
                rows += chunk.Rows;
                progress.Report(table.Fraction, rows);
            }

            await inFlight;
        }
        catch
        {
            // A failure while a batch is in flight: let the send finish (and be observed) before the upload is aborted.
            try
            {
                await inFlight;
            }
            catch (Exception e) when (e is RpcException or CliException or OperationCanceledException)
            {
            }

            throw;
        }

        if (rows == 0)
        {
            throw new CliException($"{File.Name} has a header but no rows");
        }

        progress.Complete(rows);
        return rows;
    }

    private async Task AppendAsync(string uploadId, RecordBatch batch, TableChunk chunk, CancellationToken cancellationToken)
    {
        try
        {
            await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = uploadId, Batch = batch }, sidecar.Unary(cancellationToken));
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted)
        {
            // The sidecar numbers records within the batch; say where they are in the file.
            string detail = RecordInBatch().Replace(e.Status.Detail, m =>
                int.TryParse(m.Groups[1].ValueSpan, out int i) && i < chunk.Rows ? $"{m.Value}, {chunk.Where(i)}" : m.Value);
            string hint = e.StatusCode == StatusCode.ResourceExhausted ? " (a smaller --batch makes smaller messages)" : "";
            throw new CliException($"the sidecar refused rows {Text.Count(chunk.FirstRow)} to {Text.Count(chunk.FirstRow + chunk.Rows - 1)} " +
                $"({chunk.Where(0)} to {chunk.Where(chunk.Rows - 1)}) of {File.Name}: {detail}{hint}");
        }
    }

    private async Task<Baseline> CommitAsync(string uploadId, CancellationToken cancellationToken)
    {
        try
        {
            return await sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = uploadId },
                new CallOptions(sidecar.Unary(cancellationToken).Headers, DateTime.UtcNow + CommitTimeout, cancellationToken));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
        {
            throw new CliException($"the commit did not finish within {CommitTimeout.TotalMinutes:0.#} min (at least --timeout, and 10 min); " +
                "a larger --timeout gives it longer", ExitCodes.Unreachable);
        }
    }

    private Task AbortAsync(string uploadId) => UploadAbort.RunAsync(console, sidecar, uploadId);

    [System.Text.RegularExpressions.GeneratedRegex(@"record (\d+)")]
    private static partial System.Text.RegularExpressions.Regex RecordInBatch();

    private void WriteSummary(Baseline baseline, TableReader table, ImportPlan plan, long rows, TimeSpan upload, TimeSpan commit)
    {
        BaselineSummary s = baseline.Summary;
        console.Line($"Baseline {s.Id} of model '{s.Model}' is committed{(s.InForce ? " and in force" : "")}.");
        var facts = new TextTable("", "");
        facts.Add("file", $"{File.FullName} ({table.Format}, {Text.Bytes(File.Length)})");
        facts.Add("rows uploaded", $"{Text.Count(rows)} in {Text.Seconds(upload)} ({Text.Count((long)(rows / Math.Max(upload.TotalSeconds, 1e-3)))} rows/s); " +
            $"committed in {Text.Seconds(commit)}");
        facts.Add("records received", Text.Count(s.RecordsReceived));
        facts.Add("profiled", $"{Text.Count(s.RecordsProfiled)} (bins, categories, moments)");
        facts.Add("calibration", $"{Text.Count(s.RecordsCalibration)} (held out to calibrate thresholds)");
        facts.Add("window", $"{Text.Count(s.WindowRecords)} records");
        facts.Add("false-alarm rate", $"{Text.Percent(s.FalseAlarmRate)} of clean windows stated; {Text.Percent(s.CalibratedFalseAlarmRate)} " +
            $"measured over {Text.Count(s.BootstrapWindows)} bootstrap windows");
        facts.Add("columns used", $"{plan.Selection.Count}{(plan.HasRequestIds ? $" (with {ImportPlan.RequestIdName})" : "")}");
        if (plan.Ignored.Count > 0)
        {
            facts.Add("columns ignored", string.Join(", ", plan.Ignored));
        }

        facts.WriteTo(console.Out, "  ", header: false);
        console.Line();
        var features = new TextTable("channel", "kind", "mean", "std", "missing", "thresholds").Right("mean", "std", "missing");
        foreach (FeatureProfile f in baseline.Features)
        {
            bool numeric = f.Kind is FeatureKind.Numeric or FeatureKind.Text or FeatureKind.OutputNumeric;
            features.Add(f.Name, Text.Kind(f.Kind), numeric ? Text.Number(f.Mean) : "-", numeric ? Text.Number(f.Std) : "-", Text.Percent(f.MissingRate),
                string.Join(", ", f.Thresholds.Select(t => $"{t.Statistic} {Text.Number(t.Threshold)}")));
        }

        features.WriteTo(console.Out, "  ");
        console.Line();
        ReadinessView.Write(console, baseline);
    }
}
