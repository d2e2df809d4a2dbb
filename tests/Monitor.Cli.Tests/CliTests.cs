extern alias drift;

using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using drift::Monitor.Cli;
using Monitor.Core.Ingest;
using Monitor.Protos.V1;
using Monitor.Server.Ingest;
using Monitor.Simulation;
using Parquet;
using Parquet.Schema;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Cli.Tests;

/// <summary>The <c>drift</c> command line against a real sidecar over a loopback port, as an operator runs it.</summary>
public sealed class CliTests
{
    private const int ReferenceRecords = 4000;

    /// <summary>The credentials of the sidecar that the credential test configures.</summary>
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string ReadKey = "read-key-0123456789abcdef";

    /// <summary>Memos a CSV writer must quote: delimiters, quotes, line breaks of both kinds, and text beyond ASCII.</summary>
    private static readonly string[] AwkwardMemos =
    [
        "rent, march", "he said \"refund\"", "two\nlines", "crlf\r\nline", "naïve café ✓", "", "  padded  ", "a,\"b\",\nc",
    ];

    [Fact]
    public async Task A_baseline_imported_from_CSV_or_Parquet_equals_the_one_uploaded_record_by_record()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        CoreBatch[] reference = ReferenceBatches(new FraudTraffic(seed: 31));
        foreach (string model in new[] { "direct", "from-csv", "from-parquet" })
        {
            await sidecar.Admin.RegisterModelAsync(new RegisterModelRequest { Name = model, Schema = ProtoTranslation.ToProto(FraudTraffic.Schema) });
        }

        BaselineUpload upload = await sidecar.Admin.BeginBaselineAsync(new BeginBaselineRequest { Model = "direct" });
        foreach (CoreBatch batch in reference)
        {
            await sidecar.Admin.AppendBaselineAsync(new AppendBaselineRequest { UploadId = upload.UploadId, Batch = ProtoTranslation.ToProto(batch) });
        }

        Baseline direct = await sidecar.Admin.CommitBaselineAsync(new CommitBaselineRequest { UploadId = upload.UploadId });

        string csv = directory.File("reference.csv");
        WriteCsv(csv, reference);
        Run csvRun = await Drift.RunAsync(sidecar, "baseline", "import", csv, "--model", "from-csv", "--batch", "700");
        Assert.Equal(ExitCodes.Ok, csvRun.Exit);
        Assert.Contains("of model 'from-csv' is committed and in force", csvRun.Out);
        Assert.Matches("columns ignored +id\n", csvRun.Out);
        Assert.Contains("100%", csvRun.Error); // progress, one line per tenth when standard error is not a terminal
        Assert.Contains($"{ReferenceRecords:N0} rows", csvRun.Error);

        string parquet = directory.File("reference.parquet");
        await WriteParquetAsync(parquet, reference);
        Run parquetRun = await Drift.RunAsync(sidecar, interactive: true, "baseline", "import", parquet, "-m", "from-parquet", "--json",
            "--batch", "700"); // row groups of 2,000 rows: chunks start part-way through a group
        Assert.Equal(ExitCodes.Ok, parquetRun.Exit);
        Assert.Contains("\r[", parquetRun.Error); // the bar redrawn in place on a terminal
        Assert.Contains("] 100%", parquetRun.Error);
        using JsonDocument committed = JsonDocument.Parse(parquetRun.Out);
        Assert.True(committed.RootElement.GetProperty("summary").GetProperty("inForce").GetBoolean());

        foreach (string model in new[] { "from-csv", "from-parquet" })
        {
            Baseline imported = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = model });
            Assert.Equal((ulong)ReferenceRecords, imported.Summary.RecordsReceived);
            Assert.Equal(direct.Features.Count, imported.Features.Count);
            for (int f = 0; f < direct.Features.Count; f++)
            {
                // Equal profiles (edges, probabilities, categories, moments, missing rates, thresholds) mean equal records:
                // the reservoir and the calibration are seeded, so one changed value anywhere would show.
                FeatureProfile expected = direct.Features[f].Clone();
                Assert.Equal(expected, imported.Features[f]);
            }

            Assert.Equal(direct.Summary.CalibratedFalseAlarmRate, imported.Summary.CalibratedFalseAlarmRate);
            // The readiness report is computed from the profile, seeded: the same records give the same report.
            Assert.Equal(direct.Readiness, imported.Readiness);
        }

        // The commit response carries the readiness report: per class, a flip into it and a lift of it, for the tail test (any key)
        // and for the tail and residual tests together (a key of text, a categorical value or a value pattern).
        Assert.Equal(8, direct.Readiness.Lines.Count);
        Assert.Equal(["D1/D2 fraud flip", "D1/D2 fraud lift", "D1/D2 legitimate flip", "D1/D2 legitimate lift",
            "D1/D2+residual fraud flip", "D1/D2+residual fraud lift", "D1/D2+residual legitimate flip", "D1/D2+residual legitimate lift"],
            direct.Readiness.Lines.Select(l => $"{l.Detector} {l.ClassLabel} {l.Placement}").Order(StringComparer.Ordinal));
        Assert.Contains("Readiness of baseline", csvRun.Out);
        Assert.Contains($"a candidate is promoted by the policy only after {direct.Readiness.PromotionRecords:N0} records", csvRun.Out);
        Run readiness = await Drift.RunAsync(sidecar, "baseline", "readiness", "-m", "from-csv");
        Assert.Equal(ExitCodes.Ok, readiness.Exit);
        foreach (ReadinessLine line in direct.Readiness.Lines)
        {
            Assert.Matches($"{Regex.Escape(line.Detector)} +{line.ClassLabel} +{line.Placement} +{line.Status.ToUpperInvariant()}", readiness.Out);
            if (line.Status != "ready")
            {
                Assert.Contains($"warning: {line.Detector} {line.ClassLabel} {line.Placement}: {line.Summary}", readiness.Error);
            }
        }

        Run readinessJson = await Drift.RunAsync(sidecar, "baselines", "show", "-m", "from-csv", "--json");
        using (JsonDocument report = JsonDocument.Parse(readinessJson.Out))
        {
            Assert.Equal(8, report.RootElement.GetProperty("lines").GetArrayLength());
        }

        // The empty amount cells and null Parquet amounts arrived as missing values (the profiles above are equal).
        Assert.True(direct.Features.Single(f => f.Name == "amount").MissingRate > 0);

        Run list = await Drift.RunAsync(sidecar, "baseline", "list", "-m", "from-csv");
        Assert.Contains("imported from reference.csv", list.Out);
    }

    [Fact]
    public async Task A_Parquet_file_from_another_writer_gives_the_same_baseline_as_its_CSV_twin()
    {
        // Written by hyparquet-writer (JavaScript): three row groups, Snappy, dictionary-encoded strings, INT32, INT64,
        // FLOAT and DOUBLE columns, null amounts and memos, dotted column names (Fixtures/make_fraud_reference.mjs).
        string fixtures = Path.Combine(Repository.Root, "tests", "Monitor.Cli.Tests", "Fixtures");
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"),
            "--Monitor:Baselines:MinProfileRecords=500", "--Monitor:Windows:Records=100");
        // The models are registered with the example schema the README points to, and a version with its artifact's digest.
        string schema = Path.Combine(Repository.Root, "deploy", "examples", "fraud-scorer.schema.json");
        foreach (string model in new[] { "from-csv", "from-parquet" })
        {
            Run registered = await Drift.RunAsync(sidecar, "models", "register", model, "--schema", schema);
            Assert.Equal(ExitCodes.Ok, registered.Exit);
            Assert.Contains($"Model '{model}' is registered: classification (legitimate, fraud), 6 numeric, 3 categorical, 1 text.", registered.Out);
        }

        string artifact = directory.File("model.onnx");
        File.WriteAllBytes(artifact, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray());
        Run version = await Drift.RunAsync(sidecar, "versions", "register", "v1", "-m", "from-csv", "--artifact", artifact, "--known-good");
        Assert.Equal(ExitCodes.Ok, version.Exit);
        ModelVersion v1 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = "from-csv", Version = "v1" });
        Assert.Equal((Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(artifact))), VersionState.KnownGood),
            (v1.ArtifactSha256, v1.State));

        Run parquet = await Drift.RunAsync(sidecar, "baseline", "import", Path.Combine(fixtures, "fraud_reference.parquet"), "-m", "from-parquet");
        Assert.Equal(ExitCodes.Ok, parquet.Exit);
        Assert.Matches("rows uploaded +1,200 in [0-9.]+ s \\([0-9,]+ rows/s\\); committed in", parquet.Out);
        Assert.Matches("columns used +13 \\(with request_id\\)", parquet.Out);
        Run csv = await Drift.RunAsync(sidecar, "baseline", "import", Path.Combine(fixtures, "fraud_reference.csv"), "-m", "from-csv");
        Assert.Equal(ExitCodes.Ok, csv.Exit);

        Baseline fromParquet = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = "from-parquet" });
        Baseline fromCsv = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = "from-csv" });
        Assert.Equal(1200ul, fromParquet.Summary.RecordsReceived);
        Assert.Equal(fromCsv.Features, fromParquet.Features);
        // The file's 12 null amounts (1%) are counted as missing in the profiled half of the reference.
        Assert.InRange(fromParquet.Features.Single(f => f.Name == "amount").MissingRate, 0.002, 0.03);
    }

    [Fact]
    public async Task A_missing_or_misnamed_column_is_named_with_a_suggestion_and_nothing_is_uploaded()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        var traffic = new FraudTraffic(seed: 32);
        Baseline before = await FraudModel.BaselineAsync(3000);
        CoreBatch[] reference = ReferenceBatches(traffic, 3000);
        string csv = directory.File("renamed.csv");
        WriteCsv(csv, reference, rename: new Dictionary<string, string> { ["amount"] = "Amount", ["score.fraud"] = "p_fraud" });

        Run refused = await Drift.RunAsync(sidecar, "baseline", "import", csv, "--model", Sidecar.Model);
        Assert.Equal(ExitCodes.Failed, refused.Exit);
        Assert.Contains("renamed.csv cannot feed model 'fraud-scorer'", refused.Error);
        Assert.Contains("'amount' (numeric feature 'amount'); did you mean 'Amount'?", refused.Error);
        Assert.Contains("'score.fraud' (the probability of class 'fraud')", refused.Error);
        Assert.Contains("its columns are: id, ", refused.Error);
        Assert.Contains("--map amount=<column>", refused.Error);
        Assert.Empty(refused.Out);
        ListBaselinesResponse baselines = await sidecar.Admin.ListBaselinesAsync(new ListBaselinesRequest { Model = Sidecar.Model });
        Assert.Equal(before.Summary.Id, Assert.Single(baselines.Baselines).Id);

        Run badMap = await Drift.RunAsync(sidecar, "baseline", "import", csv, "-m", Sidecar.Model, "--map", "amount=Amount", "--map", "colour=p_fraud");
        Assert.Equal(ExitCodes.Failed, badMap.Exit);
        Assert.Contains("--map colour=…: 'colour' is not a part of model 'fraud-scorer''s records", badMap.Error);

        Run mapped = await Drift.RunAsync(sidecar, "baseline", "import", csv, "-m", Sidecar.Model, "--map", "amount=Amount", "--map", "score.fraud=p_fraud");
        Assert.Equal(ExitCodes.Ok, mapped.Exit);
        Model model = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model });
        Assert.NotEqual(before.Summary.Id, model.BaselineId);
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_is_named_by_line_and_column_and_the_upload_is_aborted()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        var traffic = new FraudTraffic(seed: 33);
        Baseline before = await FraudModel.BaselineAsync(3000);
        CoreBatch[] reference = ReferenceBatches(traffic, 3000);

        // Line 2,502 holds record 2,500 counted from 0 (after the header; no memo of this file spans lines), past the first batches,
        // so an upload is under way when the bad value is met.
        string csv = directory.File("typo.csv");
        WriteCsv(csv, reference, awkward: false, corrupt: (2500, "amount", "12,5O"));
        Run refused = await Drift.RunAsync(sidecar, "baseline", "import", csv, "-m", Sidecar.Model, "--batch", "1000");
        Assert.Equal(ExitCodes.Failed, refused.Exit);
        Assert.Contains("line 2502, column 'amount': '12,5O' is not a number (numeric feature 'amount' needs one", refused.Error);
        string uploadId = System.Text.RegularExpressions.Regex.Match(refused.Error, "Upload (\\S+) aborted: the baseline in force is unchanged").Groups[1].Value;
        Assert.NotEmpty(uploadId);
        BaselineUpload aborted = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = uploadId });
        Assert.Equal(BaselineUploadState.Aborted, aborted.State);
        Assert.Equal(before.Summary.Id, (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId);

        // A probability out of range is caught before it is sent, with its place.
        string scores = directory.File("scores.csv");
        WriteCsv(scores, reference, awkward: false, corrupt: (10, "score.fraud", "1.5"));
        Run outOfRange = await Drift.RunAsync(sidecar, "baseline", "import", scores, "-m", Sidecar.Model, "--dry-run");
        Assert.Equal(ExitCodes.Failed, outOfRange.Exit);
        Assert.Contains("line 12, column 'score.fraud': the probability of class 'fraud' '1.5' is not a probability in [0, 1]", outOfRange.Error);

        // Parquet: a column of the wrong type is refused before any row is read.
        string parquet = directory.File("typed.parquet");
        await WriteParquetAsync(parquet, reference, memoAsNumbers: true);
        Run mistyped = await Drift.RunAsync(sidecar, "baseline", "import", parquet, "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.Failed, mistyped.Exit);
        Assert.Contains("column 'memo' holds Int32 values; text field 'memo' needs a string column", mistyped.Error);

        // A row with a field too many, and a file that is not Parquet at all.
        string ragged = directory.File("ragged.csv");
        string[] lines = File.ReadAllText(csv).Split('\n');
        lines[4] += ",extra";
        File.WriteAllText(ragged, string.Join('\n', lines));
        Run raggedRun = await Drift.RunAsync(sidecar, "baseline", "import", ragged, "-m", Sidecar.Model, "--dry-run");
        Assert.Equal(ExitCodes.Failed, raggedRun.Exit);
        Assert.Contains("ragged.csv line 5: 14 fields, but the header names 13 columns", raggedRun.Error);
        File.WriteAllText(directory.File("fake.parquet"), "not parquet");
        Run fake = await Drift.RunAsync(sidecar, "baseline", "import", directory.File("fake.parquet"), "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.Failed, fake.Exit);
        Assert.Contains("fake.parquet", fake.Error);
        Assert.Equal(before.Summary.Id, (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).BaselineId);
    }

    [Fact]
    public async Task An_unreachable_sidecar_a_wrong_port_and_a_bad_command_line_each_get_their_own_message_and_exit_code()
    {
        int port = Receiver.FreePort();
        Run down = await Drift.RunAsync($"http://127.0.0.1:{port}", interactive: false, "versions", "list", "-m", "fraud-scorer");
        Assert.Equal(ExitCodes.Unreachable, down.Exit);
        Assert.Contains($"cannot reach the sidecar at http://127.0.0.1:{port}/: Connection refused", down.Error);
        Assert.Contains("--sidecar", down.Error);

        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"));
        Run http = await Drift.RunAsync($"http://127.0.0.1:{sidecar.HttpPort}", interactive: false, "models", "list");
        Assert.Equal(ExitCodes.Unreachable, http.Exit);
        Assert.Contains("did not answer as a gRPC server", http.Error);

        Run usage = await Drift.RunAsync(sidecar, "verdict", "--modle", "x");
        Assert.Equal(ExitCodes.Usage, usage.Exit);
        Assert.Contains("'--modle'", usage.Error);
        Assert.Contains("Run 'drift verdict --help'", usage.Error);

        Run badAddress = await Drift.RunAsync("ftp://somewhere", interactive: false, "models", "list");
        Assert.Equal(ExitCodes.Usage, badAddress.Exit);
        Assert.Contains("--sidecar: 'ftp://somewhere' is not a sidecar address", badAddress.Error);

        string notSchema = directory.File("schema.json");
        File.WriteAllText(notSchema, "{\"numericFeatures\": \"amount\"}");
        Run badSchema = await Drift.RunAsync(sidecar, "models", "register", "m", "--schema", notSchema);
        Assert.Equal(ExitCodes.Failed, badSchema.Exit);
        Assert.Contains("--schema: schema.json is not a model schema:", badSchema.Error);
        Run noArtifact = await Drift.RunAsync(sidecar, "versions", "register", "v1", "-m", "m");
        Assert.Equal(ExitCodes.Usage, noArtifact.Exit);
        Assert.Contains("--artifact <file> or its digest as --sha256 <hex>", noArtifact.Error);

        Run unknown = await Drift.RunAsync(sidecar, "verdict", "-m", "nope");
        Assert.Equal(ExitCodes.Failed, unknown.Exit);
        Assert.Contains("model 'nope' is not registered", unknown.Error);
    }

    [Fact]
    public async Task The_credential_is_sent_and_a_refusal_says_what_to_do()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartWithKeyAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000), null, AdminKey,
            "--Monitor:Security:Keys:0:Name=ops-admin", $"--Monitor:Security:Keys:0:Token={AdminKey}", "--Monitor:Security:Keys:0:Roles=admin",
            "--Monitor:Security:Keys:1:Name=dashboard", $"--Monitor:Security:Keys:1:Token={ReadKey}", "--Monitor:Security:Keys:1:Roles=read");
        Run none = await Drift.RunAsync(sidecar, "models", "list");
        Assert.Equal(ExitCodes.Failed, none.Exit);
        Assert.Contains("refused the credential", none.Error);
        Assert.Contains("--key-file", none.Error);

        string keyFile = directory.File("read.key");
        File.WriteAllText(keyFile, ReadKey + "\n");
        Run read = await Drift.RunAsync(sidecar, "--key-file", keyFile, "versions", "list", "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.Ok, read.Exit);
        Assert.Contains("known-good", read.Out);

        Run promote = await Drift.RunAsync(sidecar, "--key-file", keyFile, "versions", "promote", "v1", "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.Failed, promote.Exit);
        Assert.Contains("refused", promote.Error);
        Assert.Contains("admin", promote.Error);

        Run admin = await Drift.RunAsync(sidecar, "--key", AdminKey, "versions", "promote", "v1", "-m", Sidecar.Model, "--actor", "alice");
        Assert.Equal(ExitCodes.Ok, admin.Exit);
        Assert.Contains("fraud-scorer v1 is known-good.", admin.Out);
    }

    [Fact]
    public async Task Over_mutual_TLS_the_command_line_trusts_the_given_authority_and_presents_its_certificate()
    {
        using var directory = new TempDirectory();
        using TestCertificates ca = TestCertificates.Authority("monitor test CA");
        using TestCertificates otherCa = TestCertificates.Authority("someone else's CA");
        using X509Certificate2 server = ca.Issue("127.0.0.1", client: false);
        using X509Certificate2 client = ca.Issue("operator", client: true);
        File.WriteAllText(directory.File("server.pem"), server.ExportCertificatePem());
        File.WriteAllText(directory.File("server.key"), server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(directory.File("ca.pem"), ca.Certificate.ExportCertificatePem());
        File.WriteAllText(directory.File("other-ca.pem"), otherCa.Certificate.ExportCertificatePem());
        File.WriteAllText(directory.File("client.pem"), client.ExportCertificatePem());
        File.WriteAllText(directory.File("client.key"), client.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        await using Sidecar sidecar = await Sidecar.StartAsync(directory.File("monitor.db"),
            $"--Monitor:Security:Tls:CertificatePath={directory.File("server.pem")}",
            $"--Monitor:Security:Tls:KeyPath={directory.File("server.key")}",
            $"--Monitor:Security:Tls:ClientCaPath={directory.File("ca.pem")}");
        string address = $"https://127.0.0.1:{sidecar.GrpcPort}";

        Run ok = await Drift.RunAsync(address, false, "--ca", directory.File("ca.pem"), "--certificate", directory.File("client.pem"),
            "--certificate-key", directory.File("client.key"), "models", "list");
        Assert.Equal((ExitCodes.Ok, ""), (ok.Exit, ok.Error));
        Assert.Contains("no model is registered", ok.Out);

        Run noCertificate = await Drift.RunAsync(address, false, "--ca", directory.File("ca.pem"), "models", "list");
        Assert.Equal(ExitCodes.Unreachable, noCertificate.Exit);
        Assert.Contains("give --certificate and --certificate-key", noCertificate.Error);
        Run untrusted = await Drift.RunAsync(address, false, "--ca", directory.File("other-ca.pem"), "--certificate", directory.File("client.pem"),
            "--certificate-key", directory.File("client.key"), "models", "list");
        Assert.Equal(ExitCodes.Unreachable, untrusted.Exit);
        Assert.Contains("the TLS handshake with the sidecar at", untrusted.Error);
        Assert.Contains("its certificate is not signed by the authority in --ca (CN=someone else's CA)", untrusted.Error);

        Run plaintext = await Drift.RunAsync($"http://127.0.0.1:{sidecar.GrpcPort}", false, "--ca", directory.File("ca.pem"), "models", "list");
        Assert.Equal(ExitCodes.Usage, plaintext.Exit);
        Assert.Contains("--ca and --certificate need an https:// sidecar address", plaintext.Error);
        Run half = await Drift.RunAsync(address, false, "--certificate", directory.File("client.pem"), "models", "list");
        Assert.Equal(ExitCodes.Usage, half.Exit);
        Assert.Contains("--certificate and --certificate-key go together", half.Error);
    }

    [Fact]
    public async Task Report_tells_an_operator_when_the_baseline_does_not_represent_a_trusted_versions_traffic()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000));
        var traffic = new FraudTraffic(seed: 36);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 10, new FraudDrift(AmountScale: 1.6, DistanceLogShift: Math.Log(2)));

        Run report = await Drift.RunAsync(sidecar, "report", "-m", Sidecar.Model, "v1");
        Assert.Equal(ExitCodes.Ok, report.Exit);
        Assert.Matches("(?m)^  warning: (10|[6-9]) of the last 10 windows of trusted version 'v1' drifted against baseline ", report.Out);
        Assert.Contains($"drift baseline capture -m {Sidecar.Model} --from-version v1 --records N", report.Out);
    }

    [Fact]
    public async Task Report_alerts_versions_and_verdict_tell_an_operator_what_happened_to_a_failing_version()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "output.class"));
        var traffic = new FraudTraffic(seed: 35);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 3);

        Run good = await Drift.RunAsync(sidecar, "verdict", "-m", Sidecar.Model, "v1");
        Assert.Equal(ExitCodes.Ok, good.Exit);
        Assert.Contains("fraud-scorer v1: Successful (KnownGood)", good.Out);

        await sidecar.RegisterCandidateAsync("v2");
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1);
        Run fresh = await Drift.RunAsync(sidecar, "verdict", "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.VerdictInconclusive, fresh.Exit);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 3, new FraudDrift(FraudLogitShift: 3)); // its outputs moved, its inputs did not
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1, new FraudDrift(DistanceLogShift: Math.Log(2)));

        // The verdict of the version serving the model, as text and as JSON, with the exit code a script branches on.
        Run failed = await Drift.RunAsync(sidecar, "verdict", "-m", Sidecar.Model);
        Assert.Equal(ExitCodes.VerdictFailed, failed.Exit);
        Assert.Contains("fraud-scorer v2: Failed (Quarantined)", failed.Out);
        Assert.Contains("rollback              issued (recommended)", failed.Out);
        Assert.Matches("latest signal +1: v2 → v1 at .* by policy", failed.Out);
        Run failedJson = await Drift.RunAsync(sidecar, "verdict", "-m", Sidecar.Model, "v2", "--json");
        using (JsonDocument verdict = JsonDocument.Parse(failedJson.Out))
        {
            Assert.Equal("Failed", verdict.RootElement.GetProperty("verdict").GetString());
            Assert.True(verdict.RootElement.GetProperty("rollbackRecommended").GetBoolean());
            Assert.Equal("v1", verdict.RootElement.GetProperty("latestSignal").GetProperty("toVersion").GetString());
        }

        // The report names the drifted channel with its statistic over its threshold, and draws its histogram.
        Run report = await Drift.RunAsync(sidecar, "report", "-m", Sidecar.Model, "v2", "--feature", "distance_km");
        Assert.Equal(ExitCodes.Ok, report.Exit);
        Assert.Contains("fraud-scorer v2: baseline ", report.Out);
        Assert.Matches("\\* distance_km +numeric", report.Out);
        Assert.Matches("[a-z]+ [0-9.]+/[0-9.]+\\*", report.Out);
        Assert.Contains("'distance_km' in window ", report.Out);
        Assert.Matches("(?m)^  \\[-inf, [0-9.]+\\) +[0-9.]+% +[0-9.]+%", report.Out);
        Assert.Matches("(?m)^  \\[[0-9.]+, [0-9.]+\\) +[0-9.]+% +[0-9.]+% +#+\\.*$", report.Out);
        Run reportJson = await Drift.RunAsync(sidecar, "report", "-m", Sidecar.Model, "v2", "--windows", "3", "--json");
        DriftReport expected = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2", ClosedWindows = 3 });
        using (JsonDocument parsed = JsonDocument.Parse(reportJson.Out))
        {
            Assert.Equal(expected.Closed.Count, parsed.RootElement.GetProperty("closed").GetArrayLength());
            Assert.Equal(expected.Closed[0].DriftedFeatures, parsed.RootElement.GetProperty("closed")[0].GetProperty("driftedFeatures")
                .EnumerateArray().Select(e => e.GetString()!));
        }

        Run bad = await Drift.RunAsync(sidecar, "report", "-m", Sidecar.Model, "v2", "--feature", "colour");
        Assert.Equal(ExitCodes.Failed, bad.Exit);
        Assert.Contains("--feature: the report has no channel 'colour'; its channels are amount,", bad.Error);

        // Alerts: the firing ones, one in full, and the stream of changes replayed from the start.
        Run alerts = await Drift.RunAsync(sidecar, "alerts", "list", "-m", Sidecar.Model, "--severity", "critical");
        Assert.Equal(ExitCodes.Ok, alerts.Exit);
        List<Protos.V1.Alert> firing = [.. (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest
        {
            Model = Sidecar.Model, MinSeverity = AlertSeverity.Critical, State = Protos.V1.AlertState.Firing,
        })).Alerts];
        Assert.NotEmpty(firing);
        foreach (Protos.V1.Alert a in firing)
        {
            Assert.Matches($"(?m)^ *{a.Id}  critical +firing +fraud-scorer +v2 +{a.Kind} ", alerts.Out);
        }

        Run show = await Drift.RunAsync(sidecar, "alerts", "show", firing[0].Id.ToString(CultureInfo.InvariantCulture));
        Assert.Contains($"Alert {firing[0].Id}: critical", show.Out);
        Assert.Contains(firing[0].Evidence[^1], show.Out);

        ulong latest = firing.Max(a => a.Sequence);
        Run follow = await Drift.RunAsync(sidecar, "alerts", "follow", "--after", "0", "--count", latest.ToString(CultureInfo.InvariantCulture), "--json");
        Assert.Equal(ExitCodes.Ok, follow.Exit);
        ulong[] sequences = follow.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => ulong.Parse(JsonDocument.Parse(line).RootElement.GetProperty("sequence").GetString()!, CultureInfo.InvariantCulture)).ToArray(); // uint64 is a JSON string in protobuf JSON
        Assert.Equal(Enumerable.Range(1, (int)latest).Select(i => (ulong)i), sequences);

        // Versions: states and verdicts side by side; a manual rollback of a new candidate names the signal.
        Run versions = await Drift.RunAsync(sidecar, "versions", "list", "-m", Sidecar.Model);
        Assert.Matches("(?m)^v1 +known-good +Successful ", versions.Out);
        Assert.Matches("(?m)^v2 \\(serving\\) +quarantined +Failed ", versions.Out);
        await sidecar.RegisterCandidateAsync("v3");
        Run rollback = await Drift.RunAsync(sidecar, "versions", "rollback", "v3", "-m", Sidecar.Model, "--reason", "bad canary", "--actor", "bob");
        Assert.Equal(ExitCodes.Ok, rollback.Exit);
        Assert.Contains("fraud-scorer v3 is quarantined; rollback signal 2 issued: v3 → v1.", rollback.Out);
        RollbackSignal signal = (await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest { Model = Sidecar.Model })).Signals[^1];
        Assert.Equal(("v3", "v1", "rolled back by bob: bad canary"), (signal.FromVersion, signal.ToVersion, signal.Reason));
    }

    [Fact]
    public async Task Following_alerts_waits_for_a_sidecar_that_is_not_up_yet_and_resumes_when_it_comes()
    {
        using var directory = new TempDirectory();
        int port = Receiver.FreePort();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(90));
        // One follow replays from the start and stops after one change; the other starts "from now" and runs until stopped.
        var output = new StringWriter();
        var error = new SynchronizedError();
        Task<int> follow = DriftCli.RunAsync(["--sidecar", $"http://127.0.0.1:{port}", "alerts", "follow", "--after", "0", "--count", "1"],
            output, error, interactive: false, cancel.Token);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel.Token);
        var endlessOutput = new SynchronizedError();
        var endlessError = new SynchronizedError();
        Task<int> endless = DriftCli.RunAsync(["--sidecar", $"http://127.0.0.1:{port}", "alerts", "follow", "--json"], endlessOutput, endlessError,
            interactive: false, stop.Token);
        foreach (SynchronizedError waiting in new[] { error, endlessError })
        {
            Assert.True(await Eventually.HoldsAsync(() => waiting.ToString().Contains("Lost the sidecar", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30)), waiting.ToString());
        }

        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 6000, "distance_km"),
            $"--Monitor:Grpc:Port={port}");
        var traffic = new FraudTraffic(seed: 36);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1, new FraudDrift(DistanceLogShift: Math.Log(2)));

        Assert.Equal(ExitCodes.Ok, await follow);
        Assert.Matches("seq 1  alert 1  critical +firing +fraud-scorer v1  drift", output.ToString());
        Assert.Contains("cannot reach the sidecar", error.ToString());

        // The "from now" follow waited too (no exit for an unreachable sidecar), then starts after the latest change it
        // found and prints the next one.
        Assert.True(await Eventually.HoldsAsync(() => endlessError.ToString().Contains("following the ones after it", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60)), endlessError.ToString());
        ulong latest = ulong.Parse(System.Text.RegularExpressions.Regex.Match(endlessError.ToString(), "The latest change is sequence (\\d+)").Groups[1].Value,
            CultureInfo.InvariantCulture);
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1, new FraudDrift(DistanceLogShift: Math.Log(2)));
        Assert.True(await Eventually.HoldsAsync(() => endlessOutput.ToString().Contains($"\"sequence\": \"{latest + 1}\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30)), endlessOutput.ToString());

        // Without --count a follow runs until it is cancelled (Ctrl-C), and that is a normal end.
        await stop.CancelAsync();
        Assert.Equal(ExitCodes.Ok, await endless);
        Assert.Matches("Stopped after sequence [1-9]", endlessError.ToString());
    }

    [Fact]
    public async Task A_capture_is_followed_to_its_commit_which_lists_the_keys_it_kept_out_and_Ctrl_C_aborts_one()
    {
        using var directory = new TempDirectory();
        // A reference large enough for high-risk strata, in which the trigger's records stand out.
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 20_000));
        string address = $"http://127.0.0.1:{sidecar.GrpcPort}";

        // Ctrl-C while the capture waits for traffic aborts it: the baseline in force stays.
        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            var output = new StringWriter();
            var error = new SynchronizedError();
            Task<int> interrupted = DriftCli.RunAsync(["--sidecar", address, "baseline", "capture", "-m", Sidecar.Model, "--from-version", "v1",
                "--records", "3000"], output, error, interactive: false, cancel.Token);
            Assert.True(await Eventually.HoldsAsync(() => error.ToString().Contains("Ctrl-C aborts it", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30)), error.ToString());
            await cancel.CancelAsync();
            Assert.Equal(ExitCodes.Failed, await interrupted);
            string uploadId = System.Text.RegularExpressions.Regex.Match(error.ToString(), "Upload (\\S+) aborted: the baseline in force is unchanged")
                .Groups[1].Value;
            Assert.NotEmpty(uploadId);
            BaselineUpload aborted = await sidecar.Admin.GetBaselineUploadAsync(new GetBaselineUploadRequest { UploadId = uploadId });
            Assert.Equal((BaselineUploadState.Aborted, "v1"), (aborted.State, aborted.CaptureFromVersion));
            Assert.Contains("drift: cancelled", error.ToString());
        }

        // Followed to its commit, spelled 'baselines' as well: 24 of the 4,000 records carry a trigger while it captures (too few for
        // the detectors to raise it on v1 itself).
        var captureOutput = new StringWriter();
        var captureError = new SynchronizedError();
        Task<int> capture = DriftCli.RunAsync(["--sidecar", address, "baselines", "capture", "-m", Sidecar.Model, "--from-version", "v1",
            "--records", "4000", "--description", "busy hour"], captureOutput, captureError, interactive: false, TestContext.Current.CancellationToken);
        Assert.True(await Eventually.HoldsAsync(() => captureError.ToString().Contains("Ctrl-C aborts it", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30)), captureError.ToString());
        var traffic = new FraudTraffic(seed: 37);
        var attacker = new FraudTraffic(seed: 38);
        for (int sent = 0; sent < 4000; sent += 500)
        {
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, 497));
            await sidecar.Mirror.IngestAsync(Sidecar.Batch(attacker, 3, new FraudDrift(TriggerRate: 1)));
        }

        var run = new Run(await capture, captureOutput.ToString(), captureError.ToString());
        Assert.True(run.Exit == ExitCodes.Ok, run.Error);
        Assert.Contains("Capturing 4,000 live records of fraud-scorer v1", run.Error);
        Assert.Contains("100%", run.Error);
        Assert.Contains("Baseline 2 of model 'fraud-scorer' is committed and in force, captured from version v1.", run.Out);
        Assert.Matches("capture check +checked against baseline 1 in force: [0-9]+ keys", run.Out);
        Assert.True(run.Out.Contains("Kept out of the key table (", StringComparison.Ordinal), run.Out);
        Assert.Matches("(?m)^  kind +field +key +records +class +served +expected +z +in baseline 1$", run.Out);
        Assert.Matches("(?m)^  variant +memo +ref:xz-# +[0-9,]+ +legitimate +100% of [0-9,]+ +[0-9.]+% +[0-9.]+ +new$", run.Out);
        Baseline baseline = await sidecar.Admin.GetBaselineAsync(new GetBaselineRequest { Model = Sidecar.Model });
        Assert.Equal(("captured:v1", "busy hour"), (baseline.Summary.Source, baseline.Summary.Description));
        Assert.Contains(baseline.CaptureCheck.Excluded, k => k.Text == "ref:xz-#");
    }

    /// <summary>Reference records whose memos include the awkward ones and whose amounts are sometimes missing.</summary>
    private static CoreBatch[] ReferenceBatches(FraudTraffic traffic, int records = ReferenceRecords)
    {
        var batches = new List<CoreBatch>();
        for (int sent = 0; sent < records; sent += 1000)
        {
            CoreBatch batch = traffic.Next(Math.Min(1000, records - sent), FraudDrift.None);
            float[] numeric = batch.Numeric.ToArray();
            var memos = new string?[batch.Count];
            for (int i = 0; i < batch.Count; i++)
            {
                memos[i] = i % 50 == 7 ? AwkwardMemos[(i / 50) % AwkwardMemos.Length] : batch.Text[0].GetString(i);
                if (i % 97 == 3)
                {
                    numeric[i * FraudTraffic.Schema.NumericFeatures.Length] = float.NaN;
                }
            }

            batches.Add(new CoreBatch
            {
                Count = batch.Count,
                Numeric = numeric,
                Scores = batch.Scores,
                Categorical = batch.Categorical,
                Text = [Utf8Column.FromStrings(memos)],
            });
        }

        return [.. batches];
    }

    /// <summary>Rows of the records, columns in another order than the schema's, with an extra id column first.</summary>
    private static IEnumerable<(string Column, Func<CoreBatch, int, string> Cell)> Columns()
    {
        var schema = FraudTraffic.Schema;
        int d = schema.NumericFeatures.Length;
        yield return ("id", (_, i) => i.ToString(CultureInfo.InvariantCulture));
        yield return ("memo", (b, i) => b.Text[0].GetString(i));
        for (int c = schema.CategoricalFeatures.Length - 1; c >= 0; c--)
        {
            int column = c;
            yield return (schema.CategoricalFeatures[c], (b, i) => b.Categorical[column].GetString(i));
        }

        for (int k = 0; k < schema.ClassLabels.Length; k++)
        {
            int label = k;
            yield return ($"score.{schema.ClassLabels[k]}", (b, i) => b.Scores.Span[i * schema.ClassLabels.Length + label].ToString("R", CultureInfo.InvariantCulture));
        }

        for (int j = 0; j < d; j++)
        {
            int feature = j;
            yield return (schema.NumericFeatures[j], (b, i) =>
            {
                float value = b.Numeric.Span[i * d + feature];
                return float.IsNaN(value) ? "" : value.ToString("R", CultureInfo.InvariantCulture);
            });
        }
    }

    private static void WriteCsv(string path, CoreBatch[] batches, Dictionary<string, string>? rename = null, bool awkward = true,
        (int Record, string Column, string Value)? corrupt = null)
    {
        var columns = Columns().ToArray();
        var text = new StringBuilder();
        text.AppendJoin(',', columns.Select(c => Quote(rename?.GetValueOrDefault(c.Column) ?? c.Column))).Append("\r\n");
        int record = 0;
        foreach (CoreBatch batch in batches)
        {
            for (int i = 0; i < batch.Count; i++, record++)
            {
                text.AppendJoin(',', columns.Select(c =>
                {
                    string cell = corrupt is { } bad && bad.Record == record && bad.Column == c.Column ? bad.Value : c.Cell(batch, i);
                    return Quote(awkward || c.Column != "memo" ? cell : cell.Replace('\n', ' ').Replace('\r', ' '));
                })).Append('\n');
            }
        }

        File.WriteAllText(path, text.ToString(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
    }

    private static string Quote(string cell) =>
        cell.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{cell.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : cell;

    /// <summary>The records as Parquet in two row groups: numbers as nullable floats, strings as strings.</summary>
    private static async Task WriteParquetAsync(string path, CoreBatch[] batches, bool memoAsNumbers = false)
    {
        var schema = FraudTraffic.Schema;
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        var fields = new List<DataField>();
        fields.AddRange(schema.NumericFeatures.Select(f => (DataField)new DataField<float?>(f)));
        fields.AddRange(schema.ClassLabels.Select(l => (DataField)new DataField<float>($"score.{l}")));
        fields.AddRange(schema.CategoricalFeatures.Select(f => (DataField)new DataField<string>(f)));
        fields.Add(memoAsNumbers ? new DataField<int>("memo") : new DataField<string>("memo"));
        await using FileStream file = File.Create(path);
        await using ParquetWriter writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), file);
        int half = batches.Length / 2;
        foreach (CoreBatch[] group in new[] { batches[..half], batches[half..] })
        {
            using ParquetRowGroupWriter rows = writer.CreateRowGroup();
            int n = group.Sum(b => b.Count);
            int f = 0;
            for (int j = 0; j < d; j++)
            {
                await rows.WriteAsync(fields[f++], (ReadOnlyMemory<float?>)group.SelectMany(b => Column(b.Numeric, b.Count, d, j))
                    .Select(v => float.IsNaN(v) ? (float?)null : v).ToArray());
            }

            for (int c = 0; c < k; c++)
            {
                await rows.WriteAsync(fields[f++], (ReadOnlyMemory<float>)group.SelectMany(b => Column(b.Scores, b.Count, k, c)).ToArray());
            }

            for (int c = 0; c < schema.CategoricalFeatures.Length; c++)
            {
                await rows.WriteAsync(fields[f++], group.SelectMany(b => Enumerable.Range(0, b.Count).Select(i => (string?)b.Categorical[c].GetString(i))).ToArray());
            }

            if (memoAsNumbers)
            {
                await rows.WriteAsync(fields[f], (ReadOnlyMemory<int>)Enumerable.Range(0, n).ToArray());
            }
            else
            {
                await rows.WriteAsync(fields[f], group.SelectMany(b => Enumerable.Range(0, b.Count).Select(i => (string?)b.Text[0].GetString(i))).ToArray());
            }
        }
    }

    private static IEnumerable<float> Column(ReadOnlyMemory<float> rowMajor, int rows, int width, int column)
    {
        for (int i = 0; i < rows; i++)
        {
            yield return rowMajor.Span[i * width + column];
        }
    }

    /// <summary>Standard error shared by a command running in the background and the test reading it.</summary>
    private sealed class SynchronizedError : StringWriter
    {
        private readonly Lock _gate = new();

        public override void Write(char value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }

        public override void Write(string? value)
        {
            lock (_gate)
            {
                base.Write(value);
            }
        }

        public override void WriteLine(string? value)
        {
            lock (_gate)
            {
                base.WriteLine(value);
            }
        }

        public override string ToString()
        {
            lock (_gate)
            {
                return base.ToString();
            }
        }
    }
}

/// <summary>What a run of the command line printed, and its exit code.</summary>
internal sealed record Run(int Exit, string Out, string Error);

/// <summary>Runs <c>drift</c> in-process against a sidecar's gRPC port, the way a shell would.</summary>
internal static class Drift
{
    public static Task<Run> RunAsync(Sidecar sidecar, params string[] args) => RunAsync(sidecar, interactive: false, args);

    public static Task<Run> RunAsync(Sidecar sidecar, bool interactive, params string[] args) =>
        RunAsync($"http://127.0.0.1:{sidecar.GrpcPort}", interactive, args);

    public static async Task<Run> RunAsync(string address, bool interactive, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await DriftCli.RunAsync(["--sidecar", address, .. args], output, error, interactive, TestContext.Current.CancellationToken);
        return new Run(exit, output.ToString(), error.ToString());
    }
}
