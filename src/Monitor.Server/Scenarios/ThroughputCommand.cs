using System.Diagnostics;
using System.Globalization;
using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Server.Scenarios;

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

        ModelSchema numeric = new()
        {
            NumericFeatures = [.. Enumerable.Range(0, 64).Select(i => $"x{i}")],
            CategoricalFeatures = [],
            TextFields = [],
            OutputKind = OutputKind.Classification,
            ClassLabels = [.. Enumerable.Range(0, 10).Select(i => $"c{i}")],
        };
        var random = new Random(3);
        RecordBatch[] numericReference = [.. Enumerable.Range(0, 20).Select(_ => NumericBatch(numeric, 1000, random))];
        RecordBatch[] numericLive = [.. Enumerable.Range(0, records / 1000).Select(_ => NumericBatch(numeric, 1000, random))];
        Measure("numeric: 64 features, 10 classes", numeric, numericReference, numericLive, output);
        return 0;
    }

    private static void Measure(string name, ModelSchema schema, RecordBatch[] reference, RecordBatch[] live, TextWriter output)
    {
        var sample = new ReferenceSample(schema, 50_000, 1);
        foreach (RecordBatch batch in reference)
        {
            sample.Add(batch);
        }

        var compiled = new CompiledBaseline(BaselineBuilder.Build(
            new BaselineRequest("m", "reference", "", 1000, 0.01, DateTimeOffset.UnixEpoch), sample, new BaselineSettings()));
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

    private static RecordBatch NumericBatch(ModelSchema schema, int n, Random random)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                numeric[i * d + j] = (float)(random.NextDouble() * 2 - 1 + j * 0.01);
            }

            int best = (int)((numeric[i * d] + 1) / 2 * k) % k;
            float rest = 0.3f / (k - 1);
            for (int c = 0; c < k; c++)
            {
                scores[i * k + c] = c == best ? 0.7f : rest;
            }
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [] };
    }
}
