using System.Diagnostics;
using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Tools.Throughput;

/// <summary>
/// In-process analysis throughput on one core: a model version's pipeline work per record (channel
/// preparation, window accumulation, and with detectors on, surrogate, keys, sketches), over batches
/// generated beforehand, for the fraud schema and for a numeric-only schema.
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
        return 0;
    }

    private static void Measure(string name, ModelSchema schema, RecordBatch[] reference, RecordBatch[] live, TextWriter output)
    {
        var compiled = new CompiledBaseline(ReferenceBaseline.Fit(schema, reference, windowRecords: 1000));
        foreach (bool detectors in new[] { false, true })
        {
            var monitor = new VersionMonitor("m", "v", TimeProvider.System, 50, detectors: detectors ? new DetectorSettings() : null);
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
                $"| {name} | {(detectors ? "on (D1-D6)" : "off (drift statistics only)")} | {count:N0} | {seconds:F2} | {count / seconds:N0} |"));
        }
    }
}
