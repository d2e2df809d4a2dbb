using System.Diagnostics;
using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;
using Monitor.Simulation.RealData;
using Monitor.Tools.Scenarios;

namespace Monitor.Tools.Throughput;

/// <summary>
/// In-process analysis throughput on one core: a model version's pipeline work per record (channel
/// preparation, window accumulation, and with detectors on, surrogate, keys, sketches), over batches
/// generated beforehand, for the fraud schema and for a numeric-only schema; with --real, also the real models' held-out
/// traffic through the in-process evaluation's analysis (<see cref="InProcessTarget"/>).
/// </summary>
internal static class ThroughputCommand
{
    public static int Run(string[] args, TextWriter output)
    {
        int records = 200_000;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--records")
            {
                records = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }

        output.WriteLine($"| schema | detectors | records | seconds | records/s |");
        output.WriteLine("|---|---|---:|---:|---:|");
        var fraud = new ScenarioTraffic(seed: 1);
        RecordBatch[] fraudReference = [.. Enumerable.Range(0, 20).Select(_ => fraud.Next(1000))];
        RecordBatch[] fraudLive = [.. Enumerable.Range(0, records / 1000).Select(_ => fraud.Next(1000))];
        Measure("fraud: 8 numeric, 4 categorical, memo, 16-wide embedding", ScenarioTraffic.Schema, fraudReference, fraudLive, output);

        ModelSchema numeric = NumericTraffic.Schema(features: 64, classes: 10);
        var random = new Random(3);
        RecordBatch[] numericReference = [.. Enumerable.Range(0, 20).Select(_ => NumericTraffic.Uniform(numeric, 1000, random))];
        RecordBatch[] numericLive = [.. Enumerable.Range(0, records / 1000).Select(_ => NumericTraffic.Uniform(numeric, 1000, random))];
        Measure("numeric: 64 features, 10 classes", numeric, numericReference, numericLive, output);
        if (args.Contains("--real"))
        {
            // The tree classifiers (RealModel); the regression model and the digits network are other types, not measured here.
            foreach (RealModelKind kind in (RealModelKind[])[RealModelKind.Digits, RealModelKind.RareMalignant, RealModelKind.Wine])
            {
                MeasureReal(kind, Math.Min(records, RealRecords), output);
            }
        }

        return 0;
    }

    /// <summary>Each schema is measured without the detectors, with them but not the residual test, and with all of them.</summary>
    private static readonly (string Mode, bool Detectors, bool Residual)[] Modes =
    [
        ("off (drift statistics only)", false, false),
        ("on (D1-D6), residual test off", true, false),
        ("on (D1-D6)", true, true),
    ];

    /// <summary>Live records per real model's row: digits with the detectors on runs some 2,000 records/s.</summary>
    private const int RealRecords = 50_000;

    /// <summary>
    /// A real model's clean known-good traffic (seed 1) as the in-process evaluation analyses it: the baseline built as a
    /// sidecar commit builds it from a 20,000-record reference, then held-out batches, drawn and scored beforehand, each
    /// validated, added to the version's monitor, and its closed windows judged.
    /// </summary>
    private static void MeasureReal(RealModelKind kind, int records, TextWriter output)
    {
        RealModel model = RealModel.Create(kind, seed: 1);
        RecordBatch[] reference = [.. model.Reference(20_000, 1000, seed: 2)];
        var traffic = new RealTraffic(model, model.Clean, trigger: null, seed: 3, heldOut: true);
        RecordBatch[] warmUp = [.. Enumerable.Range(0, 20).Select(_ => traffic.Next(1000))];
        RecordBatch[] live = [.. Enumerable.Range(0, records / 1000).Select(_ => traffic.Next(1000))];
        string schema = $"{model.Name} (real, held-out): {model.Schema.NumericFeatures.Length} numeric{(model.WithFields ? ", site, note" : "")}, {model.Classes} classes";
        foreach ((string mode, bool detectors, bool residual) in Modes)
        {
            InProcessTarget target = InProcessTarget.Start("m", model.Schema, reference, "v1", checkEvery: 1,
                $"--Monitor:Detectors:Enabled={(detectors ? "true" : "false")}", $"--Monitor:Detectors:ResidualTest={(residual ? "true" : "false")}");
            foreach (RecordBatch batch in warmUp)
            {
                target.Add(batch);
            }

            long count = 0;
            var stopwatch = Stopwatch.StartNew();
            foreach (RecordBatch batch in live)
            {
                target.Add(batch);
                count += batch.Count;
            }

            double seconds = stopwatch.Elapsed.TotalSeconds;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {schema} | {mode} | {count:N0} | {seconds:F2} | {count / seconds:N0} |"));
        }
    }

    private static void Measure(string name, ModelSchema schema, RecordBatch[] reference, RecordBatch[] live, TextWriter output)
    {
        var compiled = new CompiledBaseline(ReferenceBaseline.Fit(schema, reference, windowRecords: 1000));
        foreach ((string mode, bool detectors, bool residual) in Modes)
        {
            var monitor = new VersionMonitor("m", "v", TimeProvider.System, 50, detectors: detectors ? new DetectorSettings { ResidualTest = residual } : null);
            monitor.UseBaseline(compiled);
            var preparer = new BatchPreparer(compiled);
            var closed = new List<WindowResult>();
            foreach (RecordBatch batch in live.Take(20))
            {
                monitor.Add(batch, preparer.Prepare(batch), closed);
            }

            long count = 0;
            var stopwatch = Stopwatch.StartNew();
            foreach (RecordBatch batch in live)
            {
                monitor.Add(batch, preparer.Prepare(batch), closed);
                count += batch.Count;
            }

            double seconds = stopwatch.Elapsed.TotalSeconds;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {mode} | {count:N0} | {seconds:F2} | {count / seconds:N0} |"));
        }
    }
}
