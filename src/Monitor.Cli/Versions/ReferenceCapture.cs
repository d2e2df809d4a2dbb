using Monitor.Cli.Sidecar;
using Monitor.Cli.Terminal;
using Monitor.Protos.V1;

namespace Monitor.Cli.Versions;

/// <summary>
/// A version's own reference captured from its next live records (docs/detectors.md, "Per-version references"): starts the capture
/// (or, with <see cref="Start"/> false, follows the latest one) and follows it until the sidecar stored the reference or dropped the
/// capture. Ctrl-C stops following; the capture goes on in the sidecar.
/// </summary>
internal sealed class ReferenceCapture(Terminal.Console console, SidecarConnection sidecar)
{
    public required string Model { get; init; }

    public required string Version { get; init; }

    /// <summary>Start a capture of this many records (0: the sidecar's default); false <see cref="Start"/> follows the latest instead.</summary>
    public uint Records { get; init; }

    public bool Start { get; init; } = true;

    public bool Replace { get; init; }

    public string Actor { get; init; } = "";

    public string Reason { get; init; } = "";

    public bool Progress { get; init; } = true;

    public bool Json { get; init; }

    /// <summary>How often the capture's state is read.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var which = new GetVersionReferenceRequest { Model = Model, Version = Version };
        VersionReferenceCapture capture = Start
            ? await sidecar.Admin.CaptureVersionReferenceAsync(new CaptureVersionReferenceRequest
            {
                Model = Model, Version = Version, Records = Records, Replace = Replace, Actor = Actor, Reason = Reason,
            }, sidecar.Unary(cancellationToken))
            : await sidecar.Admin.GetVersionReferenceCaptureAsync(which, sidecar.Unary(cancellationToken));
        if (capture.State == VersionReferenceCapture.Types.State.Capturing)
        {
            console.Note($"Capturing the reference of {Model} {Version} from its next {Text.Count(capture.RecordsWanted)} records " +
                $"(under baseline {capture.BaselineId}); it is stored once they arrived, unless trigger evidence opens meanwhile. Ctrl-C stops " +
                $"following; the capture goes on (follow it again with `drift versions reference -m {Model} {Version} --follow`).");
        }

        var progress = new ProgressBar(console, "records", Progress);
        while (capture.State == VersionReferenceCapture.Types.State.Capturing)
        {
            progress.Report(capture.RecordsTaken / (double)Math.Max(capture.RecordsWanted, 1), (long)capture.RecordsTaken);
            await Task.Delay(PollInterval, cancellationToken);
            capture = await sidecar.Admin.GetVersionReferenceCaptureAsync(which, sidecar.Unary(cancellationToken));
        }

        progress.Finish();
        if (Json)
        {
            console.Line(Text.Json(capture));
            return capture.State == VersionReferenceCapture.Types.State.Stored ? ExitCodes.Ok : ExitCodes.Failed;
        }

        if (capture.State != VersionReferenceCapture.Types.State.Stored)
        {
            throw new CliException($"the capture of {Model} {Version}'s reference was dropped after {Text.Count(capture.RecordsTaken)} records; " +
                $"nothing was stored: {capture.Message}");
        }

        VersionReference reference = capture.Reference;
        console.Line($"Reference {reference.Id} of {Model} {Version} is stored{(reference.Replaced ? ", replacing the earlier one" : "")}, captured from " +
            $"its own live records{(reference.InUse ? "; the version's embeddings and outputs are judged against it from now on" : "")}.");
        var facts = new TextTable("", "");
        facts.Add("baseline", $"{reference.BaselineId} (in force when the capture started)");
        facts.Add("records", $"{Text.Count(reference.RecordsReceived)} taken; {Text.Count(reference.RecordsKept)} kept for the reference" +
            (capture.BatchesWithoutEmbeddings > 0 ? $"; {Text.Count(capture.BatchesWithoutEmbeddings)} batches without embeddings passed over" : ""));
        facts.Add("embedding", reference.EmbeddingWidth == 0 ? "none (the model declares no embedding)"
            : $"{reference.EmbeddingWidth} wide, {reference.EmbeddingComponents} principal components; " +
              $"{Text.Percent(reference.OutlierRate)} of its own records beyond its 99.9th percentiles");
        facts.Add("output shape", "none: live records, which any ingest key can send, never set it; D3, the whole-output test and D4 judge the " +
            "version against the baseline's until the reference set replayed through it is uploaded");
        facts.Add("started by", capture.StartedBy);
        facts.WriteTo(console.Out, "  ", header: false);
        return ExitCodes.Ok;
    }
}
