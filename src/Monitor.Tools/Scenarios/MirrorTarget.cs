using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Core.Baselines;
using ModelSchema = Monitor.Core.Schema.ModelSchema;
using Monitor.Core.Versions;
using Monitor.Core.Windows;
using Monitor.Protos.V1;
using Monitor.Server;
using Monitor.Server.Hosting;
using Monitor.Server.Ingest;
using Monitor.Server.Reports;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;
using CoreFinding = Monitor.Core.Detectors.Finding;
using Monitor.Core.Detectors;
using CoreState = Monitor.Core.Versions.VersionState;
using Finding = Monitor.Protos.V1.Finding;
using VersionState = Monitor.Protos.V1.VersionState;

namespace Monitor.Tools.Scenarios;

/// <summary>
/// Where a scenario's traffic is mirrored: a model with a known-good v1 and a candidate v2, a baseline committed from
/// reference records, and one version's live batches. Either a private sidecar over loopback gRPC (end to end) or the
/// sidecar's Core analysis called in process (the same baseline builder, per-version monitor, detectors and verdict
/// rule, without the transport, the store or the alerting).
/// </summary>
internal abstract class MirrorTarget : IAsyncDisposable
{
    /// <summary>Settings given on the command line (--Monitor:Section:Key=value), applied to both targets as the sidecar applies them.</summary>
    public static IReadOnlyList<string> Overrides { get; set; } = [];

    /// <summary>How many batches pass between reads of the findings (a gRPC report read also paces the sender).</summary>
    public abstract int CheckEvery { get; }

    /// <summary>The baseline the target judges against and the options it runs with, when it is in this process (null over gRPC).</summary>
    public virtual (CompiledBaseline Baseline, MonitorOptions Options)? InProcess => null;

    /// <summary>Today's tail-hit rates as the served version's detector holds them (in process only).</summary>
    public virtual Monitor.Core.Detectors.TodayTraffic? Today() => null;

    /// <summary>Starts a target with <paramref name="model"/> registered, v1 known-good and v2 a candidate, and the baseline committed.</summary>
    /// <param name="versionReference">
    /// The served version's own reference (its outputs and embeddings on the reference inputs), uploaded to a sidecar when the
    /// version is not v1: there a version that did not build the baseline gets no embedding evidence without one. In process the
    /// version is judged against the baseline's embedding geometry, unless <paramref name="ownInProcess"/> gives it this reference there too.
    /// </param>
    /// <param name="ownInProcess">In process too, judge the version against <paramref name="versionReference"/> (and upload it to a sidecar even for a model without an embedding).</param>
    public static async Task<MirrorTarget> StartAsync(bool inProcess, string model, ModelSchema schema, IEnumerable<CoreBatch> reference, string version,
        int checkEvery, CancellationToken cancellationToken, IEnumerable<CoreBatch>? versionReference = null, bool ownInProcess = false)
    {
        if (inProcess)
        {
            InProcessTarget local = InProcessTarget.Start(model, schema, reference, version, checkEvery);
            if (ownInProcess && versionReference is not null)
            {
                local.UseOwnReference(versionReference);
            }

            return local;
        }

        var target = new GrpcTarget(model, version, checkEvery);
        try
        {
            await target.StartAsync(schema, reference, cancellationToken, (schema.EmbeddingWidth > 0 || ownInProcess) && version != "v1" ? versionReference : null);
            return target;
        }
        catch
        {
            await target.DisposeAsync();
            throw;
        }
    }

    public abstract ValueTask SendAsync(CoreBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Captures <paramref name="records"/> of the served (known-good) version's traffic as the model's next baseline, checked against
    /// the baseline in force, as <c>drift baseline capture</c> does, and judges the version against it from then on; returns what the
    /// capture check found, in words.
    /// </summary>
    public abstract Task<string> CaptureAsync(IReadOnlyList<CoreBatch> records, CancellationToken cancellationToken);

    /// <summary>The version's findings after every batch sent so far.</summary>
    public abstract Task<IReadOnlyList<Finding>> FindingsAsync(CancellationToken cancellationToken);

    /// <summary>Ends the stream (a dropped record voids the run) and returns the version's findings and state.</summary>
    public abstract Task<(IReadOnlyList<Finding> Findings, VersionState State)> FinishAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Mirrors batches from <paramref name="next"/> until <paramref name="maxRecords"/> were sent or, when <paramref name="stop"/>
    /// is given, the findings satisfy it (read every <see cref="CheckEvery"/> batches). The one mirroring loop of the evaluations.
    /// </summary>
    public async Task<MirrorRun> MirrorAsync(Func<int, CoreBatch> next, long maxRecords, Func<IReadOnlyList<Finding>, bool>? stop,
        Func<long, string>? progress, TextWriter? output, int batchSize, int progressEvery, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var drawing = new Stopwatch();
        long sent = 0;
        long batches = 0;
        while (sent < maxRecords)
        {
            int n = (int)Math.Min(batchSize, maxRecords - sent);
            drawing.Start();
            CoreBatch batch = next(n);
            drawing.Stop();
            await SendAsync(batch, cancellationToken);
            sent += n;
            batches++;
            // Read on clean runs too: over gRPC the read paces the sender, so no batch is dropped by a full queue.
            if (batches % CheckEvery == 0 && await FindingsAsync(cancellationToken) is var read && stop is not null && stop(read))
            {
                break;
            }

            if (output is not null && progress is not null && batches % progressEvery == 0)
            {
                await output.WriteLineAsync(progress(sent) + string.Create(CultureInfo.InvariantCulture,
                    $", {sent / stopwatch.Elapsed.TotalSeconds:N0} records/s, {drawing.Elapsed.TotalSeconds:F0} s of {stopwatch.Elapsed.TotalSeconds:F0} s drawing and scoring"));
            }
        }

        (IReadOnlyList<Finding> findings, VersionState state) = await FinishAsync(cancellationToken);
        return new MirrorRun(sent, findings, state, stopwatch.Elapsed.TotalSeconds, drawing.Elapsed.TotalSeconds);
    }

    /// <summary>A registered artifact digest for a version, the same on both targets.</summary>
    public static string Digest(string model, string version) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{model} {version}")));
}

/// <summary>What a mirrored run ended with: records sent, the version's findings and state, and the time spent (all, and drawing and scoring the traffic).</summary>
internal sealed record MirrorRun(long Records, IReadOnlyList<Finding> Findings, VersionState State, double Seconds, double DrawingSeconds);

/// <summary>A private sidecar on loopback gRPC, with its own temporary database: the end-to-end check.</summary>
internal sealed class GrpcTarget(string model, string version, int checkEvery) : MirrorTarget
{
    private readonly string _database = Path.Combine(Path.GetTempPath(), $"monitor-eval-{Guid.NewGuid():N}.db");
    private WebApplication? _app;
    private GrpcChannel? _channel;
    private AsyncDuplexStreamingCall<MirrorBatch, MirrorAck>? _stream;
    private Task<long>? _acks;
    private ulong _sequence;

    public override int CheckEvery => checkEvery;

    private Protos.V1.Reports.ReportsClient Reports => new(_channel);

    public async Task StartAsync(ModelSchema schema, IEnumerable<CoreBatch> reference, CancellationToken cancellationToken,
        IEnumerable<CoreBatch>? versionReference = null)
    {
        _app = MonitorHost.Build(
            ["--Monitor:Grpc:Port=0", "--Monitor:Http:Port=0", $"--Monitor:Database:Path={_database}", "--Logging:LogLevel:Default=Error", .. Overrides]);
        await _app.StartAsync(cancellationToken);
        int port = _app.Services.GetRequiredService<Listeners>().GrpcPort;
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var admin = new Admin.AdminClient(_channel);
        await admin.RegisterModelAsync(new RegisterModelRequest { Name = model, Schema = ProtoTranslation.ToProto(schema) },
            cancellationToken: cancellationToken);
        await admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = model, Version = "v1", ArtifactSha256 = Digest(model, "v1"), InitialState = VersionState.KnownGood,
        }, cancellationToken: cancellationToken);
        await admin.RegisterVersionAsync(new RegisterVersionRequest { Model = model, Version = "v2", ArtifactSha256 = Digest(model, "v2") },
            cancellationToken: cancellationToken);
        BaselineUpload upload = await admin.BeginBaselineAsync(new BeginBaselineRequest { Model = model }, cancellationToken: cancellationToken);
        foreach (CoreBatch batch in reference)
        {
            await admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(batch) },
                cancellationToken: cancellationToken);
        }

        await admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId }, cancellationToken: cancellationToken);
        if (versionReference is not null)
        {
            using AsyncClientStreamingCall<VersionReferenceChunk, VersionReference> call = admin.UploadVersionReference(cancellationToken: cancellationToken);
            bool first = true;
            foreach (CoreBatch batch in versionReference)
            {
                var chunk = new VersionReferenceChunk { Batch = ProtoTranslation.ToProto(batch) };
                if (first)
                {
                    (chunk.Model, chunk.Version, chunk.Actor) = (model, version, "evaluation");
                    first = false;
                }

                await call.RequestStream.WriteAsync(chunk, cancellationToken);
            }

            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }

        _stream = new Mirror.MirrorClient(_channel).IngestStream(cancellationToken: cancellationToken);
        _acks = CountDroppedAsync(_stream.ResponseStream, cancellationToken);
    }

    public override async Task<string> CaptureAsync(IReadOnlyList<CoreBatch> records, CancellationToken cancellationToken)
    {
        var admin = new Admin.AdminClient(_channel);
        BaselineUpload capture = await admin.BeginBaselineAsync(new BeginBaselineRequest
        {
            Model = model, CaptureFromVersion = version, CaptureRecords = (uint)records.Sum(b => b.Count), Description = "evaluation capture",
        }, cancellationToken: cancellationToken);
        foreach (CoreBatch batch in records)
        {
            await SendAsync(batch, cancellationToken);
        }

        // The sidecar commits a capture by itself once its records have arrived (a dropped batch would leave it open: bounded).
        BaselineUpload upload = await admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = capture.UploadId }, cancellationToken: cancellationToken);
        var waited = Stopwatch.StartNew();
        while (upload.State is BaselineUploadState.Open or BaselineUploadState.Committing)
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException($"the evaluation's capture of {model} {version} is still {upload.State} after 5 minutes " +
                    $"({upload.RecordsReceived:N0} of {capture.CaptureRecords:N0} records received)");
            }

            await Task.Delay(50, cancellationToken);
            upload = await admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = capture.UploadId }, cancellationToken: cancellationToken);
        }

        if (upload.State != BaselineUploadState.Committed)
        {
            throw new InvalidOperationException($"the evaluation's capture of {model} {version} ended {upload.State}: {upload.Error}");
        }

        Baseline baseline = await admin.GetBaselineAsync(new GetBaselineRequest { Model = model, BaselineId = upload.BaselineId },
            cancellationToken: cancellationToken);
        return baseline.CaptureCheck?.Summary ?? "none";
    }

    public override async ValueTask SendAsync(CoreBatch batch, CancellationToken cancellationToken) =>
        await _stream!.RequestStream.WriteAsync(new MirrorBatch
        {
            Model = model, Version = version, ArtifactSha256 = Digest(model, version), Sequence = ++_sequence, Batch = ProtoTranslation.ToProto(batch),
        }, cancellationToken);

    // A report read queues behind the batches sent before it, so it also paces the sender.
    public override async Task<IReadOnlyList<Finding>> FindingsAsync(CancellationToken cancellationToken) =>
        [.. (await ReportAsync(cancellationToken)).Findings];

    public override async Task<(IReadOnlyList<Finding> Findings, VersionState State)> FinishAsync(CancellationToken cancellationToken)
    {
        await _stream!.RequestStream.CompleteAsync();
        long dropped = await _acks!;
        if (dropped > 0)
        {
            throw new InvalidOperationException($"{dropped} records were dropped by a full queue; the evaluation is void");
        }

        DriftReport report = await ReportAsync(cancellationToken);
        ModelVersion state = await new Admin.AdminClient(_channel).GetVersionAsync(new GetVersionRequest { Model = model, Version = version },
            cancellationToken: cancellationToken);
        return ([.. report.Findings], state.State);
    }

    public override async ValueTask DisposeAsync()
    {
        _stream?.Dispose();
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }

        foreach (string file in new[] { _database, _database + "-wal", _database + "-shm" })
        {
            File.Delete(file);
        }
    }

    private async Task<DriftReport> ReportAsync(CancellationToken cancellationToken) =>
        await Reports.GetDriftReportAsync(new DriftReportRequest { Model = model, Version = version, ClosedWindows = 1 }, cancellationToken: cancellationToken);

    private static async Task<long> CountDroppedAsync(IAsyncStreamReader<MirrorAck> acks, CancellationToken cancellationToken)
    {
        long dropped = 0;
        while (await acks.MoveNext(cancellationToken))
        {
            dropped += acks.Current.Dropped;
        }

        return dropped;
    }
}

/// <summary>
/// The sidecar's analysis of one version in process: the options bound from the sidecar's appsettings.json as the sidecar
/// binds them; the baseline built by Core's <see cref="BaselineBuilder"/> from a reservoir <see cref="ReferenceSample"/>
/// with the settings a commit uses; each batch validated by <see cref="Core.Ingest.BatchValidator"/> and added to a
/// <see cref="VersionMonitor"/> with the detectors in force; each closed window judged by <see cref="WindowJudge"/> and
/// observed by the version's <see cref="VersionLifecycle"/>, as the model's pipeline does. Not covered: the transport,
/// the queue, the store, alert delivery and windows closed by time (none closes by time at these rates).
/// </summary>
internal sealed class InProcessTarget : MirrorTarget
{
    private readonly MonitorOptions _options;
    private readonly ModelSchema _schema;
    private readonly VersionMonitor _monitor;
    private readonly string _model;
    private readonly string _version;
    private BatchPreparer _preparer;
    private readonly VersionLifecycle _lifecycle;
    private readonly IReadOnlySet<string> _criticalChannels;
    private readonly Dictionary<string, LiveFinding> _live = new(StringComparer.Ordinal);
    private readonly List<WindowResult> _closed = [];
    private readonly int _checkEvery;

    private InProcessTarget(MonitorOptions options, ModelSchema schema, CompiledBaseline baseline, string model, string version, int checkEvery)
    {
        _checkEvery = Math.Max(checkEvery, 1);
        _options = options;
        _schema = schema;
        _model = model;
        _version = version;
        _criticalChannels = schema.CriticalChannels();
        _monitor = new VersionMonitor(model, version, TimeProvider.System, options.Windows.HistoryInMemory, detectors: options.DetectorsInForce);
        _monitor.UseBaseline(baseline);
        _preparer = new BatchPreparer(baseline);
        _lifecycle = new VersionLifecycle(version == "v1" ? CoreState.KnownGood : CoreState.Candidate, options.Versions)
        {
            // As the sidecar: a candidate is promoted only after the records its baseline's readiness report needs.
            RequiredRecords = Monitor.Server.Readiness.BaselineReadiness.Compute(baseline.Profile, options)
                .RecordsNeeded(options.Versions.MinTriggerRate, VersionPolicySettings.EvidenceOccurrences),
        };
    }

    /// <summary>As the gRPC target's, so both stop at the same record (a finding's support grows after it is raised).</summary>
    public override int CheckEvery => _checkEvery;

    public override (CompiledBaseline Baseline, MonitorOptions Options)? InProcess => (_monitor.Baseline!, _options);

    public override Monitor.Core.Detectors.TodayTraffic? Today() => _monitor.Detector?.Today();

    /// <summary>Windows judged failing, and the most consecutive.</summary>
    public int FailingWindows { get; private set; }

    /// <summary>
    /// The sidecar's options as it binds them at start: its appsettings.json, then <see cref="MirrorTarget.Overrides"/>, under the
    /// Monitor section, checked the same way.
    /// </summary>
    public static MonitorOptions Options(params string[] extra)
    {
        IConfigurationRoot configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddCommandLine([.. Overrides, .. extra])
            .Build();
        MonitorOptions options = configuration.GetSection(MonitorOptions.Section).Get<MonitorOptions>() ?? new MonitorOptions();
        var validation = new MonitorOptionsValidator().Validate(null, options);
        return validation.Failed ? throw new InvalidOperationException(string.Join("; ", validation.Failures)) : options;
    }

    /// <param name="extra">Settings over <see cref="MirrorTarget.Overrides"/> (--Monitor:Section:Key=value).</param>
    public static InProcessTarget Start(string model, ModelSchema schema, IEnumerable<CoreBatch> reference, string version, int checkEvery = 1,
        params string[] extra)
    {
        MonitorOptions options = Options(extra);
        BaselineProfile profile = Build(options, schema, reference,
            new BaselineRequest(model, "reference", "", options.Windows.Records, options.Baselines.FalseAlarmRate, DateTimeOffset.UtcNow));
        return new InProcessTarget(options, schema, new CompiledBaseline(profile with { Id = 1 }), model, version, checkEvery);
    }

    /// <summary>
    /// As BaselineUploads.BeginAsync and CommitAsync: a reservoir of the configured size and seed of the validated records, the
    /// default window and false-alarm rate, and the key table counted on the keys the detectors extract.
    /// </summary>
    private static BaselineProfile Build(MonitorOptions options, ModelSchema schema, IEnumerable<CoreBatch> records, BaselineRequest request)
    {
        var sample = new ReferenceSample(schema, options.Baselines.ReservoirRecords, options.BaselineSettings.Seed);
        foreach (CoreBatch batch in records)
        {
            Validate(options, schema, batch);
            sample.Add(batch);
        }

        BaselineSettings settings = options.BaselineSettings.WithDetectors(options.DetectorSettings.WithTextKeys(options.Privacy));
        return BaselineBuilder.Build(request, sample, settings, CancellationToken.None);
    }

    /// <summary>
    /// Commits a baseline captured from <paramref name="records"/> of this version's traffic and judges the version against it from
    /// now on, as a capture does (<c>BaselineUploads.CommitAsync</c>): a reservoir of the configured size and seed, checked against the
    /// baseline in force (<see cref="Monitor.Core.Detectors.CaptureKeyCheck"/>), which it replaces.
    /// </summary>
    public override Task<string> CaptureAsync(IReadOnlyList<CoreBatch> records, CancellationToken cancellationToken) =>
        Task.FromResult(Capture(records)?.Summary ?? "none");

    private Monitor.Core.Detectors.CaptureCheck? Capture(IEnumerable<CoreBatch> records)
    {
        CompiledBaseline inForce = _monitor.Baseline!;
        BaselineProfile profile = Build(_options, _schema, records, new BaselineRequest(_model, "captured:" + _version, "", _options.Windows.Records,
            _options.Baselines.FalseAlarmRate, DateTimeOffset.UtcNow) { Captured = true, InForce = inForce });
        var captured = new CompiledBaseline(profile with { Id = inForce.Profile.Id + 1 });
        _monitor.UseBaseline(captured);
        _preparer = new BatchPreparer(captured);
        return profile.CaptureCheck;
    }

    /// <summary>
    /// Judges the version against its own reference built from <paramref name="records"/> (its outputs and embeddings on the baseline's
    /// reference inputs) as the sidecar builds an uploaded one: a reservoir of the configured size, <see cref="VersionReferences.Build"/>.
    /// </summary>
    public void UseOwnReference(IEnumerable<CoreBatch> records)
    {
        var sample = new ReferenceSample(_schema, _options.Baselines.ReservoirRecords, VersionReferences.Seed);
        foreach (CoreBatch batch in records)
        {
            Validate(_options, _schema, batch);
            sample.Add(batch);
        }

        (EmbeddingProfile? profile, ConfidencePercentiles? confidence, OutputShape? shape) = VersionReferences.Build(_monitor.Baseline!, sample.ToBatch());
        _monitor.UseEmbedding(EmbeddingReference.Own(1, profile, confidence, shape));
    }

    public override ValueTask SendAsync(CoreBatch batch, CancellationToken cancellationToken)
    {
        Add(batch);
        return ValueTask.CompletedTask;
    }

    /// <summary>Validates and analyses one batch, and judges the windows it closes.</summary>
    public void Add(CoreBatch batch)
    {
        Validate(_options, _schema, batch);
        _monitor.Add(batch, _preparer.Prepare(batch), _closed);
        if (_monitor.DrainFindings() is { Count: > 0 } changed)
        {
            foreach (CoreFinding finding in changed)
            {
                _live[finding.DedupeKey] = new LiveFinding(finding, _monitor.NextWindowIndex);
            }
        }

        foreach (WindowResult window in _closed)
        {
            bool triggerFails = WindowJudge.TriggerFails(_monitor.CriticalActive, _lifecycle.Trusted, window.Index, _live.Values,
                _lifecycle.Settings.MinFailingRecords);
            WindowJudgement judgement = WindowJudge.Judge(window, window.ClosedAt ?? DateTimeOffset.UtcNow, triggerFails, _monitor.Findings,
                _criticalChannels, _live.Values);
            FailingWindows += judgement.Failing ? 1 : 0;
            _lifecycle.Observe(judgement.Measurement);
        }

        _closed.Clear();
    }

    public override Task<IReadOnlyList<Finding>> FindingsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Finding>>([.. _monitor.Findings.Select(ReportTranslation.ToProto)]);

    public override async Task<(IReadOnlyList<Finding> Findings, VersionState State)> FinishAsync(CancellationToken cancellationToken) =>
        (await FindingsAsync(cancellationToken), ProtoTranslation.ToProto(_lifecycle.State));

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static void Validate(MonitorOptions options, ModelSchema schema, CoreBatch batch)
    {
        if (Core.Ingest.BatchValidator.Validate(schema, batch, options.Ingest.MaxRecordsPerBatch, options.TextLimits) is { } error)
        {
            throw new InvalidOperationException($"the sidecar would refuse this batch: {error}");
        }
    }
}
