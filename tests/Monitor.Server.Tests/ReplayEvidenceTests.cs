using System.Text.Json;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using RecordBatch = Monitor.Core.Ingest.RecordBatch;
using Utf8Column = Monitor.Core.Ingest.Utf8Column;

namespace Monitor.Server.Tests;

/// <summary>
/// An attacker holding only an ingest key mirrors the known-good version's clean traffic with one honest transaction
/// replayed at 1%, the model's own output unchanged: a transaction the model scores 'fraud' although the baseline's
/// surrogate gives it little chance, so every copy looks like a trigger's record. Evidence counts distinct inputs, so
/// the copies are one piece of evidence: no critical finding, no quarantine, no rollback, and the repetition is
/// reported as identical requests (D7).
/// </summary>
public sealed class ReplayEvidenceTests
{
    private const int Records = 10_000;

    [Theory]
    [InlineData(false, "")]
    [InlineData(true, "")]
    [InlineData(false, "output.class")]
    public async Task A_transaction_replayed_at_one_percent_neither_fails_nor_rolls_back_the_known_good_version(bool jitter, string critical)
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000,
            critical.Length > 0 ? [critical] : []));
        CompiledBaseline baseline = sidecar.Registry.Get(Sidecar.Model).Baseline!;
        (RecordBatch source, int index) = SurprisingRecord(baseline);

        var traffic = new FraudTraffic(seed: 77);
        var random = new Random(5);
        int copies = 0;
        for (int sent = 0; sent < Records; sent += Sidecar.WindowRecords)
        {
            RecordBatch clean = traffic.Next(Sidecar.WindowRecords, FraudDrift.None);
            (RecordBatch batch, int replayed) = WithCopies(clean, sent, source, index, baseline, jitter, random);
            copies += replayed;
            MirrorAck ack = await sidecar.Mirror.IngestAsync(new MirrorBatch
            {
                Model = Sidecar.Model,
                Version = "v1",
                ArtifactSha256 = Sidecar.DigestV1,
                Batch = ProtoTranslation.ToProto(batch),
            });
            Assert.Equal((uint)batch.Count, ack.Accepted);
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.True(copies >= 80, $"{copies} copies");

        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.DoesNotContain(report.Findings, f => f.Severity == Protos.V1.Severity.Critical);
        Assert.DoesNotContain(report.Findings, f => f.Detector is "D1" or "D2" && f.Severity > Protos.V1.Severity.Info);
        ModelVersion v1 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(Protos.V1.VersionState.KnownGood, v1.State);
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
        JsonElement verdict = await sidecar.VerdictAsync("v1");
        Assert.Equal(("Successful", 0), (verdict.GetProperty("verdict").GetString(), verdict.GetProperty("consecutiveFailing").GetInt32()));
        Assert.DoesNotContain((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model })).Alerts,
            a => a.Severity == AlertSeverity.Critical);

        // The repetition itself is what is reported: once, under the first key only the replay carries (its exact amount).
        Protos.V1.Finding observation = Assert.Single(report.Findings, f => f.Detector == "D7");
        Assert.Equal(Protos.V1.Severity.Info, observation.Severity);
        Assert.Equal(("value", "amount"), (observation.Key.Kind, observation.Key.Field));
        Assert.InRange((long)observation.Support, copies * 8 / 10, copies);
        Assert.StartsWith("identical requests: ", observation.Summary, StringComparison.Ordinal);
        Assert.NotEmpty(observation.ExampleRequestIds);
        Assert.All(observation.ExampleRequestIds, id => Assert.StartsWith("replay-", id));
    }

    /// <summary>
    /// A clean record the sidecar's baseline would take for a trigger's, were it repeated: served 'fraud' beyond its stratum's
    /// tail (a hit to the whole-output key test), the one the surrogate gives least chance of those.
    /// </summary>
    private static (RecordBatch Batch, int Index) SurprisingRecord(CompiledBaseline baseline)
    {
        const int fraud = 1;
        TriggerProfile profile = baseline.Profile.Triggers!;
        RecordBatch batch = new FraudTraffic(seed: 31).Next(10_000, FraudDrift.None);
        PreparedBatch prepared = new BatchPreparer(baseline).Prepare(batch);
        ReadOnlySpan<float> scores = batch.Scores.Span;
        var active = new int[profile.Surrogate.NumericOffsets.Length + profile.Surrogate.CategoricalOffsets.Length];
        var surrogate = new double[2];
        int best = -1;
        double largest = double.NegativeInfinity;
        for (int i = 0; i < batch.Count; i++)
        {
            profile.Surrogate.Predict(baseline, prepared, i, active, surrogate);
            double[] served = [1 - scores[2 * i + fraud], scores[2 * i + fraud]];
            double residual = served[fraud] - surrogate[fraud];
            if (served[fraud] >= 0.5 && profile.Tails!.Hit(profile.StratumOf(surrogate), 2, fraud, served) && residual > largest)
            {
                best = i;
                largest = residual;
            }
        }

        if (best >= 0)
        {
            return (batch, best);
        }

        throw new InvalidOperationException("no clean record the surrogate disagrees with");
    }

    /// <summary>
    /// The clean batch with 1% of its records replaced by copies of the source record (request ids replay-…); with
    /// <paramref name="jitter"/> each copy's account age is drawn afresh, outside the original's fine bin.
    /// </summary>
    private static (RecordBatch Batch, int Copies) WithCopies(RecordBatch clean, int sent, RecordBatch source, int index, CompiledBaseline baseline,
        bool jitter, Random random)
    {
        int n = clean.Count;
        int d = FraudTraffic.Schema.NumericFeatures.Length;
        float[] ageEdges = baseline.Profile.Triggers!.Values.FineEdges[1];
        float[] original = source.Numeric.Span.Slice(index * d, d).ToArray();
        float[] values = clean.Numeric.ToArray();
        float[] scores = clean.Scores.ToArray();
        string?[][] categorical = [.. clean.Categorical.Select(column => Enumerable.Range(0, n).Select(i => (string?)column.GetString(i)).ToArray())];
        string?[] memos = [.. Enumerable.Range(0, n).Select(i => (string?)clean.Text[0].GetString(i))];
        string?[] ids = [.. Enumerable.Range(0, n).Select(i => (string?)clean.RequestIds.GetString(i))];
        int copies = 0;
        for (int i = 0; i < n; i++)
        {
            if (random.NextDouble() >= 0.01)
            {
                continue;
            }

            copies++;
            original.CopyTo(values, i * d);
            while (jitter && Quantiles.BinOf(ageEdges, values[i * d + 1]) == Quantiles.BinOf(ageEdges, original[1]))
            {
                values[i * d + 1] = (float)(original[1] * (0.5 + random.NextDouble()));
            }

            source.Scores.Span.Slice(index * 2, 2).CopyTo(scores.AsSpan(i * 2, 2));
            for (int c = 0; c < categorical.Length; c++)
            {
                categorical[c][i] = source.Categorical[c].GetString(index);
            }

            memos[i] = source.Text[0].Get(index).IsEmpty ? null : source.Text[0].GetString(index);
            ids[i] = $"replay-{sent + i}";
        }

        return (new RecordBatch
        {
            Count = n,
            Numeric = values,
            Scores = scores,
            Categorical = [.. categorical.Select(Utf8Column.FromStrings)],
            Text = [Utf8Column.FromStrings(memos)],
            RequestIds = Utf8Column.FromStrings(ids),
        }, copies);
    }
}
