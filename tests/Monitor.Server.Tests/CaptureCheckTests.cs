using Grpc.Core;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// A baseline captured from live traffic is checked against the baseline in force before it replaces it: a trigger
/// in use while the capture ran cannot become a known key of the new baseline and so hide from the detectors.
/// </summary>
public sealed class CaptureCheckTests
{
    private const string Trigger = "ref:xz-#";

    /// <summary>Records of the capture; the reservoir keeps them all, as a capture of a quieter service would.</summary>
    private const int CaptureRecords = 50_000;

    [Fact]
    public async Task A_trigger_in_use_during_a_capture_is_kept_out_of_the_new_baseline_and_found_in_later_traffic()
    {
        using var directory = new TempDirectory();
        string database = await FraudModel.DatabaseAsync(directory.File("monitor.db"), referenceRecords: 20_000);
        Baseline captured;
        await using (Sidecar sidecar = await Sidecar.StartAsync(database, "--Monitor:Baselines:ReservoirRecords=50000",
            "--Monitor:Detectors:KeyTestAlpha=1e-30"))
        {
            captured = await CaptureDuringAnAttackAsync(sidecar);
        }

        // The check is stored with the baseline: a restarted sidecar shows the same.
        await using Sidecar restarted = await Sidecar.StartAsync(database);
        Baseline stored = await restarted.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });
        Assert.Equal(captured.Summary.Id, stored.Summary.Id);
        Assert.Equal(captured.CaptureCheck, stored.CaptureCheck);
        Baseline reference = await restarted.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model, BaselineId = 1 });
        Assert.Null(reference.CaptureCheck); // an uploaded reference set is not checked
    }

    private static async Task<Baseline> CaptureDuringAnAttackAsync(Sidecar sidecar)
    {
        var traffic = new FraudTraffic(seed: 41);
        var attacker = new FraudTraffic(seed: 42);

        // Twenty of the 50,000 captured records (4 in 10,000) are an attacker's, carrying the trigger and served "legitimate".
        // (The sidecar runs with a far stricter key test, so that v1 is not quarantined while it is captured: with the default
        // the trigger is found on v1 and the capture dropped. The capture check is what is tested here.)
        BaselineUpload capture = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest
        {
            Model = Sidecar.Model, CaptureFromVersion = "v1", CaptureRecords = CaptureRecords, Description = "capture during an attack",
        });
        for (int batch = 0; batch < CaptureRecords / 500; batch++)
        {
            bool planted = batch % 5 == 2;
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, planted ? 499 : 500));
            if (planted)
            {
                await sidecar.Mirror.IngestAsync(Sidecar.Batch(attacker, 1, new FraudDrift(TriggerRate: 1)));
            }
        }

        Baseline captured = await CommittedAsync(sidecar, capture.UploadId);
        Assert.Equal("captured:v1", captured.Summary.Source);

        // Later, a candidate serves the same trigger at 2 in 1,000 records: the detectors still find it by its key.
        await sidecar.RegisterCandidateAsync("v2");
        for (int sent = 0; sent < 40_000; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500, new FraudDrift(TriggerRate: 0.002), "v2", Sidecar.Digest("v2")));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal(captured.Summary.Id, report.BaselineId);
        Assert.True(report.Findings.Any(f => f.Key?.Text == Trigger),
            "no finding names the trigger:\n" + string.Join("\n", report.Findings.Select(f => f.Summary)));

        // It is found because the commit kept it out of the new baseline's key table, and the commit said so, and why.
        CaptureCheck check = captured.CaptureCheck;
        Assert.Equal(1, check.AgainstBaselineId);
        ExcludedKey trigger = Assert.Single(check.Excluded, k => k.Text == Trigger);
        Assert.Equal(("variant", "memo", "legitimate", true), (trigger.Kind, trigger.Field, trigger.TargetLabel, trigger.NewKey));
        Assert.True(trigger.Rate - trigger.ExpectedRate >= 0.3, trigger.Summary);
        Assert.StartsWith("checked against baseline 1 in force: ", check.Summary);
        Assert.Contains("kept out of the key table so that they stay new", check.Summary);
        return captured;
    }

    [Fact]
    public async Task A_clean_capture_keeps_its_key_table_but_for_a_few_keys_the_baseline_in_force_had_no_rate_for()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), referenceRecords: 20_000),
            "--Monitor:Baselines:ReservoirRecords=50000");
        var traffic = new FraudTraffic(seed: 100);
        BaselineUpload capture = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest
        {
            Model = Sidecar.Model, CaptureFromVersion = "v1", CaptureRecords = CaptureRecords,
        });
        for (int sent = 0; sent < CaptureRecords; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500));
        }

        CaptureCheck check = (await CommittedAsync(sidecar, capture.UploadId)).CaptureCheck;
        Assert.Equal(1, check.AgainstBaselineId);
        Assert.True(check.KeysChecked > 500, check.Summary);
        // The few kept out lose nothing the baseline in force knew: it had no rate of their own for them either, and judged
        // them against its prediction as the new baseline will (here rare exact values of tx_per_hour, on which the fraud
        // score really does climb). Percentile bins and regions, each baseline's own, are never kept out.
        Assert.InRange(check.Excluded.Count, 0, 6);
        Assert.All(check.Excluded, k => Assert.False(k.HasKeyRate, k.Summary));
        Assert.DoesNotContain(check.Excluded, k => k.Kind is "finebin" or "region");
        // The new keys kept enter unvouched (baseline 1 was uploaded, so it vouched for every key it knew), and the check says how many.
        Assert.Equal(check.NewKeys - (uint)check.Excluded.Count(k => k.NewKey), check.UnvouchedKeys);
        Assert.Contains(check.UnvouchedKeys == 1 ? "; 1 kept key that baseline 1 did not know enters unvouched"
            : $"; {check.UnvouchedKeys} kept keys that baseline 1 did not know enter unvouched", check.Summary, StringComparison.Ordinal);

        // The known-good version's clean traffic after the capture, judged against it with its unvouched keys: nothing critical.
        for (int sent = 0; sent < 40_000; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 500));
        }

        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal((await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId, report.BaselineId);
        Assert.DoesNotContain(report.Findings, f => f.Severity == Severity.Critical);
        ModelVersion v1 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v1" });
        Assert.Equal(VersionState.KnownGood, v1.State);
    }

    [Fact]
    public async Task A_model_s_first_baseline_can_be_captured_and_says_there_was_nothing_to_check_it_against()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = Sidecar.Model, Schema = Ingest.ProtoTranslation.ToProto(FraudTraffic.Schema) });
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model, Version = "v1", ArtifactSha256 = Sidecar.DigestV1, InitialState = VersionState.KnownGood,
        });
        BaselineUpload capture = await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v1", CaptureRecords = 3000 });
        await sidecar.MirrorWindowsAsync(new FraudTraffic(seed: 43), "v1", 6);

        Baseline first = await CommittedAsync(sidecar, capture.UploadId);
        Assert.True(first.Summary.InForce);
        Assert.Equal(0, first.CaptureCheck.AgainstBaselineId);
        Assert.Empty(first.CaptureCheck.Excluded);
        Assert.StartsWith("the model has no baseline in force: this capture is its first baseline and there is nothing to check it against",
            first.CaptureCheck.Summary);
    }

    [Fact]
    public async Task A_version_that_is_not_known_good_cannot_be_captured()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "alice", Reason = "test" });

        RpcException refused = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v2", CaptureRecords = 3000 }));
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("version 'v2' of model 'fraud-scorer' is Quarantined; only a known-good version's traffic can become a baseline",
            refused.Status.Detail);
    }

    [Fact]
    public async Task A_version_that_stops_being_known_good_while_it_is_captured_does_not_become_the_baseline()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        var traffic = new FraudTraffic(seed: 44);
        BaselineUpload capture = await sidecar.Admin.BeginBaselineAsync(
            new BeginBaselineRequest { Model = Sidecar.Model, CaptureFromVersion = "v1", CaptureRecords = 3000 });
        await sidecar.MirrorWindowsAsync(traffic, "v1", 2);
        await sidecar.Admin.QuarantineVersionAsync(new QuarantineVersionRequest { Model = Sidecar.Model, Version = "v1", Actor = "alice", Reason = "bad" });
        await sidecar.MirrorWindowsAsync(traffic, "v1", 4);

        BaselineUpload failed = await FinishedAsync(sidecar, capture.UploadId);
        Assert.Equal(BaselineUploadState.Failed, failed.State);
        Assert.Equal("version 'v1' of model 'fraud-scorer' became Quarantined while it was captured; only a known-good version's traffic can " +
            "become a baseline, so the capture is dropped and the baseline in force is unchanged", failed.Error);
        Assert.Equal(1, (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId);
    }

    /// <summary>Waits for a capture to commit itself, and returns the baseline it made.</summary>
    private static async Task<Baseline> CommittedAsync(Sidecar sidecar, string uploadId)
    {
        BaselineUpload upload = await FinishedAsync(sidecar, uploadId);
        Assert.True(upload.State == BaselineUploadState.Committed, $"the capture is {upload.State}: {upload.Error}");
        return await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model, BaselineId = upload.BaselineId });
    }

    /// <summary>Waits until a capture is neither open nor committing.</summary>
    private static async Task<BaselineUpload> FinishedAsync(Sidecar sidecar, string uploadId)
    {
        BaselineUpload upload = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = uploadId });
        for (int attempt = 0; attempt < 2400 && upload.State is BaselineUploadState.Open or BaselineUploadState.Committing; attempt++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
            upload = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = uploadId });
        }

        return upload;
    }
}
