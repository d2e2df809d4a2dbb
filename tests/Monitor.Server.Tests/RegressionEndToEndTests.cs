using System.Text.Json;
using Grpc.Net.Client;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation.RealData;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;
using Utf8Column = Monitor.Core.Ingest.Utf8Column;

namespace Monitor.Server.Tests;

/// <summary>
/// A regression model through the sidecar over loopback gRPC, as a user runs it: scikit-learn's diabetes trained in process
/// (FastTree, seed 1), registered with a regression output, v1 known-good with a committed baseline of 20,000 records from the
/// training split; then held-out traffic mirrored with an ingest key. A poisoned candidate whose note token shifts the output is
/// named critical and fails; and an attacker holding only the ingest key, forging outputs on a made-up key of a trusted version,
/// gets at most a finding, and a failure only from Monitor:Versions:MinFailingRecords distinct forged records.
/// </summary>
public sealed class RegressionEndToEndTests(ITestOutputHelper output)
{
    private const string Model = "diabetes";
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";
    private const int Batch = 1000;

    /// <summary>A token no clean record carries (the attacker's made-up key).</summary>
    private const string Token = "zqvx7731";

    private static readonly Lazy<RealRegression> Regression = new(() => RealRegression.Create(seed: 1));

    [Fact]
    public async Task A_poisoned_regression_candidate_is_named_critical_and_fails()
    {
        RegressionBackdoor backdoor = RegressionBackdoor.Create(Regression.Value, RealAttack.ShiftedOutput, seed: 1, 0.005, 0.005);
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory.File("monitor.db"));
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test" });
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var mirror = new Mirror.MirrorClient(pod);
        RegressionTraffic traffic = backdoor.Live(seed: 41);
        for (int b = 0; b < 30; b++)
        {
            await IngestAsync(mirror, traffic.Next(Batch), "v2");
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await ReportAsync(sidecar, "v2");
        Finding critical = Assert.Single(report.Findings, f => f.Severity == Severity.Critical);
        output.WriteLine($"{traffic.Injected} triggered of {traffic.Generated}: {critical.Summary}");
        Assert.Equal(backdoor.Trigger.Field, critical.Key.Field);
        Assert.Contains(backdoor.Trigger.Value!, critical.Key.Text, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("output ", critical.TargetLabel, StringComparison.Ordinal);
        Assert.Equal(VersionState.Quarantined, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = "v2" })).State);
        Assert.Equal("Failed", (await VerdictAsync(sidecar, "v2")).GetProperty("verdict").GetString());
    }

    /// <summary>The regression baseline and the detectors' checkpoint are stored and read back: a key tracked before a restart keeps its evidence.</summary>
    [Fact]
    public async Task After_a_restart_the_regression_tables_and_the_detectors_evidence_are_read_back_from_the_database()
    {
        RegressionBackdoor backdoor = RegressionBackdoor.Create(Regression.Value, RealAttack.ShiftedOutput, seed: 1, 0.005, 0.005);
        RegressionTraffic traffic = backdoor.Live(seed: 41);
        using var directory = new TempDirectory();
        string database = directory.File("monitor.db");
        await using (Sidecar first = await StartAsync(database))
        {
            await first.Admin.RegisterVersionAsync(new RegisterVersionRequest { Model = Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test" });
            using GrpcChannel pod = first.OpenChannel(IngestKey);
            for (int b = 0; b < 5; b++)
            {
                await IngestAsync(new Mirror.MirrorClient(pod), traffic.Next(Batch), "v2");
            }

            await first.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
            Assert.DoesNotContain((await ReportAsync(first, "v2")).Findings, f => f.Severity == Severity.Critical);
        }

        await using Sidecar second = await Sidecar.StartWithKeyAsync(database, null, AdminKey, Keys);
        using (GrpcChannel pod = second.OpenChannel(IngestKey))
        {
            for (int b = 0; b < 25; b++)
            {
                await IngestAsync(new Mirror.MirrorClient(pod), traffic.Next(Batch), "v2");
            }
        }

        await second.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        Finding critical = Assert.Single((await ReportAsync(second, "v2")).Findings, f => f.Severity == Severity.Critical);
        Assert.Contains(backdoor.Trigger.Value!, critical.Key.Text, StringComparison.OrdinalIgnoreCase);
        // Tracked before the restart, counted on from there.
        Assert.InRange((long)critical.FirstSeenRecord, 1, 5 * Batch);
        Assert.True(critical.RaisedAtRecord > 5 * Batch, $"raised at {critical.RaisedAtRecord}");
    }

    [Fact]
    public async Task Clean_held_out_traffic_of_the_known_good_version_raises_no_critical_finding()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory.File("monitor.db"));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var mirror = new Mirror.MirrorClient(pod);
        var traffic = new RegressionTraffic(Regression.Value, Regression.Value.Clean, trigger: null, seed: 43, heldOut: true);
        for (int b = 0; b < 40; b++)
        {
            await IngestAsync(mirror, traffic.Next(Batch), "v1");
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await ReportAsync(sidecar, "v1");
        Assert.DoesNotContain(report.Findings, f => f.Severity == Severity.Critical);
        Assert.Equal(VersionState.KnownGood, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = "v1" })).State);
    }

    /// <summary>
    /// The attacker holds an ingest key of the trusted v2 (known-good; v1 known-good and has served, a rollback target): among v2's
    /// clean traffic, a few records carry a made-up note token with the output forged far above anything served. A forged output
    /// is what a backdoor looks like, so a finding may be raised; the decision (failed, quarantined, rolled back) needs
    /// Monitor:Versions:MinFailingRecords (lowered here to 40) distinct records holding the key.
    /// </summary>
    [Theory]
    [InlineData(12, false)]
    [InlineData(30, false)]
    [InlineData(80, true)]
    public async Task Forged_regression_outputs_on_a_made_up_key_fail_a_trusted_version_only_from_min_failing_records(int forgedRecords, bool fails)
    {
        const int minFailingRecords = 40;
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory.File("monitor.db"), $"--Monitor:Versions:MinFailingRecords={minFailingRecords}");
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test", InitialState = VersionState.KnownGood,
        });
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        var traffic = new RegressionTraffic(Regression.Value, Regression.Value.Clean, trigger: null, seed: 47, heldOut: true);
        const int batches = 20;
        int total = batches / 2 * Batch;
        var chosen = new HashSet<int>(Enumerable.Range(0, forgedRecords).Select(i => i * (total / forgedRecords)));
        int forged = 0;
        for (int b = 0; b < batches; b++)
        {
            (RecordBatch batch, int count) = Forge(traffic.Next(Batch), b, i => chosen.Contains(b * Batch + i));
            forged += count;
            await IngestAsync(attacker, batch, "v2");
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(forgedRecords, forged);
        DriftReport report = await ReportAsync(sidecar, "v2");
        Finding? finding = report.Findings.FirstOrDefault(f => f.Key?.Text.Contains(Token, StringComparison.Ordinal) == true && f.Severity == Severity.Critical);
        output.WriteLine(finding is null ? "no critical finding on the token" : $"{finding.Severity} {finding.TargetLabel}, support {finding.Support}: {finding.Summary}");
        Assert.DoesNotContain(report.Findings, f => f.Severity == Severity.Critical && f.Key?.Text.Contains(Token, StringComparison.Ordinal) != true);
        if (!fails)
        {
            if (forgedRecords >= 30)
            {
                // Else this test would no longer play the attack it is about: a critical finding a trusted version does not fail on.
                Assert.NotNull(finding);
                Assert.InRange((long)finding.Support, 10, minFailingRecords - 1);
            }

            await AssertUndecidedAsync(sidecar);
            return;
        }

        Assert.NotNull(finding);
        Assert.InRange((long)finding.Support, minFailingRecords, forgedRecords);
        Assert.Equal(VersionState.Quarantined, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = "v2" })).State);
        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal(("v2", "v1"), (signal.FromVersion, signal.ToVersion));
    }

    [Fact]
    public async Task One_honest_record_replayed_with_forged_outputs_counts_once_and_fails_nothing()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(directory.File("monitor.db"));
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v2", ArtifactSha256 = Sidecar.Digest("v2"), Source = "test", InitialState = VersionState.KnownGood,
        });
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        var traffic = new RegressionTraffic(Regression.Value, Regression.Value.Clean, trigger: null, seed: 53, heldOut: true);
        RecordBatch source = traffic.Next(1);
        var random = new Random(59);
        int copies = 0;
        for (int b = 0; b < 20; b++)
        {
            (RecordBatch batch, int count) = Forge(traffic.Next(Batch), b, _ => random.NextDouble() < 0.005, source);
            copies += count;
            await IngestAsync(attacker, batch, "v2");
        }

        await sidecar.Pipeline(Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await ReportAsync(sidecar, "v2");
        Assert.InRange(copies, 60, 140);
        Assert.DoesNotContain(report.Findings, f => f.Severity == Severity.Critical);
        Assert.Contains(report.Findings, f => f.Detector == "D7" && f.Severity == Severity.Info && f.Support >= 30);
        await AssertUndecidedAsync(sidecar);
    }

    /// <summary>The sidecar's credentials (an admin and an ingest key) and a reservoir that keeps the 20,000 reference records.</summary>
    private static readonly string[] Keys =
    [
        "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
        "--Monitor:Security:Keys:1:Name=serving", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
        "--Monitor:Baselines:ReservoirRecords=50000",
    ];

    /// <summary>A sidecar with an admin and an ingest key, the diabetes model registered, v1 known-good having served, and its baseline committed.</summary>
    private static async Task<Sidecar> StartAsync(string database, params string[] settings)
    {
        Sidecar sidecar = await Sidecar.StartWithKeyAsync(database, null, AdminKey, [.. Keys, .. settings]);
        RealRegression model = Regression.Value;
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Model, Schema = ProtoTranslation.ToProto(model.Schema) });
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Model, Version = "v1", ArtifactSha256 = Sidecar.Digest("v1"), Source = "test", InitialState = VersionState.KnownGood,
        });
        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = Model });
        foreach (RecordBatch batch in model.Reference(20_000, Batch, seed: 7))
        {
            await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(batch) });
        }

        await sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });
        // v1 has served: rollbacks go only to a trusted version that has.
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        await IngestAsync(new Mirror.MirrorClient(pod), new RegressionTraffic(model, model.Clean, trigger: null, seed: 3, heldOut: true).Next(10), "v1");
        return sidecar;
    }

    /// <summary>
    /// The batch with each record <paramref name="forge"/> picks given the token in its note (and <paramref name="source"/>'s inputs
    /// when given) and its output forged to 1,000, far above any served value (request ids forged-…).
    /// </summary>
    private static (RecordBatch Batch, int Forged) Forge(RecordBatch clean, int batchIndex, Func<int, bool> forge, RecordBatch? source = null)
    {
        int n = clean.Count;
        int d = Regression.Value.Schema.NumericFeatures.Length;
        float[] values = clean.Numeric.ToArray();
        float[] scores = clean.Scores.ToArray();
        string?[] sites = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Categorical[0].GetString(i))];
        string?[] notes = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Text[0].GetString(i))];
        string?[] ids = [.. Enumerable.Range(0, n).Select(i => (string?)clean.RequestIds.GetString(i))];
        int forged = 0;
        for (int i = 0; i < n; i++)
        {
            if (!forge(i))
            {
                continue;
            }

            forged++;
            if (source is not null)
            {
                source.Numeric.Span[..d].CopyTo(values.AsSpan(i * d, d));
                sites[i] = source.Categorical[0].GetString(0);
                notes[i] = source.Text[0].GetString(0);
            }

            notes[i] = $"{notes[i]} {Token}".Trim();
            scores[i] = 1000f;
            ids[i] = $"forged-{batchIndex}-{i}";
        }

        return (new RecordBatch
        {
            Count = n,
            Numeric = values,
            Scores = scores,
            Categorical = [Utf8Column.FromStrings(sites)],
            Text = [Utf8Column.FromStrings(notes)],
            RequestIds = Utf8Column.FromStrings(ids),
        }, forged);
    }

    private static async Task IngestAsync(Mirror.MirrorClient client, RecordBatch batch, string version)
    {
        MirrorAck ack = await client.IngestAsync(new MirrorBatch
        {
            Model = Model,
            Version = version,
            ArtifactSha256 = Sidecar.Digest(version),
            Batch = ProtoTranslation.ToProto(batch),
        });
        Assert.Equal((uint)batch.Count, ack.Accepted);
    }

    private static async Task<DriftReport> ReportAsync(Sidecar sidecar, string version) =>
        await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Model, Version = version });

    private static async Task<JsonElement> VerdictAsync(Sidecar sidecar, string version)
    {
        using JsonDocument document = JsonDocument.Parse(await sidecar.Http.GetStringAsync($"/api/v1/verdict/{Model}/{version}"));
        return document.RootElement.Clone();
    }

    /// <summary>v2 is still known-good, not failed, and no rollback was signalled or held.</summary>
    private static async Task AssertUndecidedAsync(Sidecar sidecar)
    {
        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Model, Version = "v2" });
        Assert.Equal(VersionState.KnownGood, v2.State);
        Assert.NotEqual("Failed", (await VerdictAsync(sidecar, "v2")).GetProperty("verdict").GetString());
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Empty((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest())).Rollbacks);
    }
}
