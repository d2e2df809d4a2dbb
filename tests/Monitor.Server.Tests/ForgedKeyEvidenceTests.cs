using System.Text.Json;
using Grpc.Net.Client;
using Monitor.Core.Statistics;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;
using Utf8Column = Monitor.Core.Ingest.Utf8Column;

namespace Monitor.Server.Tests;

/// <summary>
/// The whole-output key test from outside, as an attacker holding only an ingest key: the traffic of the trusted version
/// v2 (known-good; v1, older, is known-good and has served, so a failure of v2 would have a rollback target) with a made-up
/// token in the memo and the model's output forged to 'fraud' with certainty on the records that carry it. Forged outputs
/// are what a backdoor looks like, so a finding may be raised; what the attacker must not get for a few records is a
/// decision: the trusted version failed, quarantined, or rolled back.
/// </summary>
public sealed class ForgedKeyEvidenceTests(ITestOutputHelper output)
{
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";

    /// <summary>A token no clean record carries (the attacker's made-up key).</summary>
    private const string Token = "zqvx7731";

    private const int Windows = 20;

    private static async Task<Sidecar> StartAsync(string database, params string[] settings)
    {
        Sidecar sidecar = await Sidecar.StartWithKeyAsync(database, null, AdminKey,
        [
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            "--Monitor:Security:Keys:1:Name=checkout", $"--Monitor:Security:Keys:1:Token={IngestKey}", "--Monitor:Security:Keys:1:Roles=ingest",
            .. settings,
        ]);
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model,
            Version = "v2",
            ArtifactSha256 = Sidecar.Digest("v2"),
            Source = "test",
            InitialState = VersionState.KnownGood,
        });
        return sidecar;
    }

    /// <param name="jitter">Each copy's amount drawn afresh outside the original's fine bin (one field changed).</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task One_honest_record_with_a_rare_key_replayed_with_forged_certain_outputs_raises_no_critical_finding_and_fails_nothing(bool jitter)
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        var attacker = new Mirror.MirrorClient(pod);
        float[] amountEdges = sidecar.Registry.Get(Sidecar.Model).Baseline!.Profile.Triggers!.Values.FineEdges[0];

        // One honest transaction carrying the rare token, its output forged to certain fraud, at 1% of the traffic.
        RecordBatch source = new FraudTraffic(seed: 171).Next(1, FraudDrift.None);
        float amount = source.Numeric.Span[0];
        var traffic = new FraudTraffic(seed: 172);
        var random = new Random(173);
        Action<Span<float>>? perturb = jitter ? row =>
        {
            while (Quantiles.BinOf(amountEdges, row[0]) == Quantiles.BinOf(amountEdges, amount))
            {
                row[0] = (float)(amount * (0.5 + random.NextDouble()));
            }
        } : null;
        int copies = 0;
        for (int w = 0; w < Windows; w++)
        {
            RecordBatch clean = traffic.Next(Sidecar.WindowRecords, FraudDrift.None);
            (RecordBatch batch, int forged) = Forge(clean, w, _ => random.NextDouble() < 0.01 ? (source, 0) : null, perturb);
            copies += forged;
            await IngestAsync(attacker, batch);
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await ReportAsync(sidecar);
        Assert.InRange(copies, 60, 140);
        Assert.DoesNotContain(report.Findings, f => f.Severity == Severity.Critical);
        // The repetition is what is reported: identical requests (D7), an observation.
        Assert.Contains(report.Findings, f => f.Detector == "D7" && f.Severity == Severity.Info && f.Support >= 30);
        await AssertUndecidedAsync(sidecar);
    }

    [Theory]
    [InlineData(12)]
    [InlineData(40)]
    public async Task A_handful_of_forged_records_with_a_made_up_key_may_raise_a_finding_but_never_fail_the_trusted_version(int forgedRecords)
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        int forged = await ForgeAsync(new Mirror.MirrorClient(pod), sidecar, forgedRecords, seed: 181);

        DriftReport report = await ReportAsync(sidecar);
        Assert.Equal(forgedRecords, forged);
        await AssertUndecidedAsync(sidecar);
        // What the forgery does get: a finding on the made-up token, critical from some 16 distinct records, and its alert.
        Finding? finding = report.Findings.FirstOrDefault(f => f.Key?.Text.Contains(Token, StringComparison.Ordinal) == true);
        output.WriteLine(finding is null ? "no finding on the token" : $"{finding.Severity} {finding.Detector}, support {finding.Support}: {finding.Summary}");
        if (forgedRecords >= 40)
        {
            // Else this test would no longer play the attack it is about: a critical finding a trusted version does not fail on.
            Assert.Equal(Severity.Critical, finding?.Severity);
            Assert.Contains((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model, Version = "v2" })).Alerts,
                a => a.Severity == AlertSeverity.Critical && a.State == AlertState.Firing && a.Kind.StartsWith("trigger", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// What it takes: a trusted version fails on key evidence only once a live critical key holds
    /// Monitor:Versions:MinFailingRecords distinct records (here lowered to 40, so the test is short; the default is 1,000).
    /// Only records carrying the made-up token count, so 30 forged records give a critical finding whatever else is sent
    /// and fail nothing; 80 fail v2 and roll it back to v1. (The first few forged records only make the token a candidate
    /// and are not in its support: 30 forged records give a support of 28, 80 of 77.)
    /// </summary>
    [Theory]
    [InlineData(30, false)]
    [InlineData(80, true)]
    public async Task A_trusted_version_fails_on_key_evidence_only_from_min_failing_records_distinct_records_carrying_the_key(int forgedRecords,
        bool fails)
    {
        const int minFailingRecords = 40;
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            $"--Monitor:Versions:MinFailingRecords={minFailingRecords}");
        using GrpcChannel pod = sidecar.OpenChannel(IngestKey);
        await ForgeAsync(new Mirror.MirrorClient(pod), sidecar, forgedRecords, seed: 191);

        DriftReport report = await ReportAsync(sidecar);
        Finding critical = Assert.Single(report.Findings, f => f.Severity == Severity.Critical);
        Assert.Contains(Token, critical.Key.Text, StringComparison.Ordinal);
        output.WriteLine($"{forgedRecords} forged records: support {critical.Support}; {critical.Summary}");
        if (!fails)
        {
            Assert.InRange((long)critical.Support, 10, minFailingRecords - 1);
            await AssertUndecidedAsync(sidecar);
            return;
        }

        Assert.InRange((long)critical.Support, minFailingRecords, forgedRecords);
        Assert.Equal(VersionState.Quarantined, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);
        RollbackSignal signal = Assert.Single((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Equal(("v2", "v1"), (signal.FromVersion, signal.ToVersion));
    }

    /// <summary>
    /// Mirrors <see cref="Windows"/> windows of v2's clean traffic as the attacker, <paramref name="forgedRecords"/> of them
    /// (spread over the first half) carrying the token with a forged certain 'fraud'.
    /// </summary>
    private static async Task<int> ForgeAsync(Mirror.MirrorClient attacker, Sidecar sidecar, int forgedRecords, int seed)
    {
        var traffic = new FraudTraffic(seed);
        int total = Windows / 2 * Sidecar.WindowRecords;
        var chosen = new HashSet<int>(Enumerable.Range(0, forgedRecords).Select(i => i * (total / forgedRecords)));
        int forged = 0;
        for (int w = 0; w < Windows; w++)
        {
            RecordBatch clean = traffic.Next(Sidecar.WindowRecords, FraudDrift.None);
            int offset = w * Sidecar.WindowRecords;
            (RecordBatch batch, int count) = Forge(clean, w, i => chosen.Contains(offset + i) ? (clean, i) : null);
            forged += count;
            await IngestAsync(attacker, batch);
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        return forged;
    }

    private static async Task IngestAsync(Mirror.MirrorClient attacker, RecordBatch batch)
    {
        MirrorAck ack = await attacker.IngestAsync(new MirrorBatch
        {
            Model = Sidecar.Model,
            Version = "v2",
            ArtifactSha256 = Sidecar.Digest("v2"),
            Batch = ProtoTranslation.ToProto(batch),
        });
        Assert.Equal((uint)batch.Count, ack.Accepted);
    }

    private static async Task<DriftReport> ReportAsync(Sidecar sidecar) =>
        await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });

    /// <summary>v2 is still known-good, not failed, and no rollback was signalled or held.</summary>
    private static async Task AssertUndecidedAsync(Sidecar sidecar)
    {
        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(VersionState.KnownGood, v2.State);
        JsonElement verdict = await sidecar.VerdictAsync("v2");
        Assert.NotEqual("Failed", verdict.GetProperty("verdict").GetString());
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        Assert.Empty((await sidecar.Rollbacks.ListHeldRollbacksAsync(new ListHeldRollbacksRequest())).Rollbacks);
    }

    /// <summary>
    /// The clean batch with each record <paramref name="forge"/> picks replaced by the given source record's inputs (changed by
    /// <paramref name="perturb"/>), the token appended to its memo and its output forged to certain 'fraud' (request ids forged-…).
    /// </summary>
    private static (RecordBatch Batch, int Forged) Forge(RecordBatch clean, int window, Func<int, (RecordBatch Source, int Index)?> forge,
        Action<Span<float>>? perturb = null)
    {
        int n = clean.Count;
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        float[] values = clean.Numeric.ToArray();
        float[] scores = clean.Scores.ToArray();
        string?[][] categorical = [.. clean.Categorical.Select(column => Enumerable.Range(0, n).Select(i => (string?)column.GetString(i)).ToArray())];
        string?[] memos = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Text[0].GetString(i))];
        string?[] ids = [.. Enumerable.Range(0, n).Select(i => (string?)clean.RequestIds.GetString(i))];
        int forged = 0;
        for (int i = 0; i < n; i++)
        {
            if (forge(i) is not (RecordBatch source, int index))
            {
                continue;
            }

            forged++;
            source.Numeric.Span.Slice(index * d, d).CopyTo(values.AsSpan(i * d, d));
            perturb?.Invoke(values.AsSpan(i * d, d));
            for (int c = 0; c < categorical.Length; c++)
            {
                categorical[c][i] = source.Categorical[c].GetString(index);
            }

            string memo = source.Text[0].Get(index).IsEmpty ? "" : source.Text[0].GetString(index);
            memos[i] = $"{memo} {Token}".Trim();
            scores[2 * i] = 0f;
            scores[2 * i + 1] = 1f;
            ids[i] = $"forged-{window}-{i}";
        }

        return (new RecordBatch
        {
            Count = n,
            Numeric = values,
            Scores = scores,
            Categorical = [.. categorical.Select(Utf8Column.FromStrings)],
            Text = [Utf8Column.FromStrings(memos)],
            RequestIds = Utf8Column.FromStrings(ids),
        }, forged);
    }
}
