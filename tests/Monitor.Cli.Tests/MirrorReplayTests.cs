using System.Globalization;
using System.Text;
using Monitor.Protos.V1;
using Monitor.Simulation;
using CoreBatch = Monitor.Core.Ingest.RecordBatch;

namespace Monitor.Cli.Tests;

/// <summary>
/// <c>drift mirror</c>: a CSV of recorded inferences of a candidate, each with the trusted version's output on the same request
/// (<c>paired.&lt;label&gt;</c>), replayed into a sidecar; the trigger is named as paired evidence. Missing paired columns are
/// named before anything is sent.
/// </summary>
public sealed class MirrorReplayTests
{
    [Fact]
    public async Task A_file_of_paired_outputs_replayed_as_a_candidate_names_its_trigger_as_paired_evidence()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        await sidecar.RegisterCandidateAsync("v2");
        CoreBatch recorded = FraudTraffic.WithTrusted(new FraudTraffic(seed: 97).Next(12_000, new FraudDrift(TriggerRate: 0.004)), "v1", new Random(98));
        string csv = directory.File("shadow.csv");
        WriteCsv(csv, recorded, paired: true);

        Run run = await Drift.RunAsync(sidecar, "mirror", csv, "-m", Sidecar.Model, "--version", "v2", "--paired-version", "v1", "--batch", "1500");
        Assert.True(run.Exit == 0, run.Error);
        Assert.Contains("Mirrored 12,000 records of shadow.csv as version 'v2' of model 'fraud-scorer', paired with 'v1'.", run.Out, StringComparison.Ordinal);
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(12_000, sidecar.Registry.GetVersion(Sidecar.Model, "v2").RecordsAccepted);
        DriftReport report = await sidecar.Reports.GetDriftReportAsync(new DriftReportRequest { Model = Sidecar.Model, Version = "v2" });
        Finding paired = Assert.Single(report.Findings, f => f.Detector == "D8" && f.Severity == Severity.Critical && f.Key is not null);
        Assert.Equal("ref:xz-#", paired.Key.Text);
    }

    [Fact]
    public async Task A_file_without_the_paired_columns_is_refused_naming_them_and_nothing_is_mirrored()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db"), 3000));
        await sidecar.RegisterCandidateAsync("v2");
        string csv = directory.File("unpaired.csv");
        WriteCsv(csv, new FraudTraffic(seed: 99).Next(50, FraudDrift.None), paired: false);

        Run refused = await Drift.RunAsync(sidecar, "mirror", csv, "-m", Sidecar.Model, "--version", "v2", "--paired-version", "v1");
        Assert.Equal(1, refused.Exit);
        Assert.Contains("'paired.legitimate' (the trusted version's probability of class 'legitimate')", refused.Error, StringComparison.Ordinal);
        Assert.Contains("'paired.fraud' (the trusted version's probability of class 'fraud')", refused.Error, StringComparison.Ordinal);

        Run same = await Drift.RunAsync(sidecar, "mirror", csv, "-m", Sidecar.Model, "--version", "v2", "--paired-version", "v2");
        Assert.Equal(1, same.Exit);
        Assert.Contains("--paired-version must name the trusted version, another than --version 'v2'", same.Error, StringComparison.Ordinal);
        Assert.Equal(0, sidecar.Registry.GetVersion(Sidecar.Model, "v2").RecordsAccepted);

        // Unpaired, the same file is mirrored.
        Run unpaired = await Drift.RunAsync(sidecar, "mirror", csv, "-m", Sidecar.Model, "--version", "v2");
        Assert.True(unpaired.Exit == 0, unpaired.Error);
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(50, sidecar.Registry.GetVersion(Sidecar.Model, "v2").RecordsAccepted);
    }

    private static void WriteCsv(string path, CoreBatch batch, bool paired)
    {
        var schema = FraudTraffic.Schema;
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        var header = new List<string>([.. schema.NumericFeatures, .. schema.CategoricalFeatures, .. schema.TextFields, .. schema.ClassLabels.Select(l => $"score.{l}"), "request_id"]);
        if (paired)
        {
            header.AddRange(schema.ClassLabels.Select(l => $"paired.{l}"));
        }

        var text = new StringBuilder();
        text.AppendJoin(',', header).Append('\n');
        string F(float v) => float.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);
        string Q(string s) => s.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{s.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : s;
        for (int i = 0; i < batch.Count; i++)
        {
            var cells = new List<string>();
            cells.AddRange(Enumerable.Range(0, d).Select(j => F(batch.Numeric.Span[i * d + j])));
            cells.AddRange(batch.Categorical.Select(c => Q(c.GetString(i))));
            cells.AddRange(batch.Text.Select(t => Q(t.GetString(i))));
            cells.AddRange(Enumerable.Range(0, k).Select(c => F(batch.Scores.Span[i * k + c])));
            cells.Add(batch.RequestIds.GetString(i));
            if (paired)
            {
                cells.AddRange(Enumerable.Range(0, k).Select(c => F(batch.PairedScores.Span[i * k + c])));
            }

            text.AppendJoin(',', cells).Append('\n');
        }

        File.WriteAllText(path, text.ToString());
    }
}
