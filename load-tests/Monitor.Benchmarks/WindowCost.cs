using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Benchmarks;

/// <summary>
/// A version's whole analysis per record (outputs, accumulation, and every window's evaluation) with windows of
/// 1,000 records and of 100,000: the difference is what closing windows costs. 64 features, 10 classes.
/// </summary>
public static class WindowCost
{
    public static void Run(TextWriter output)
    {
        foreach (int window in new[] { 1000, 100_000 })
        {
            ModelSchema schema = NumericTraffic.Schema(features: 64, classes: 10);
            var random = new Random(11);
            RecordBatch[] reference = [.. Enumerable.Range(0, 210).Select(_ => NumericTraffic.Next(schema, 1000, random, HotPathData.MissingOneIn))];
            var baseline = new CompiledBaseline(ReferenceBaseline.Fit(schema, reference, window, settings: new BaselineSettings { BootstrapWindows = 1000 }));
            var monitor = new VersionMonitor("m", "v", TimeProvider.System, 50);
            monitor.UseBaseline(baseline);
            var preparer = new BatchPreparer(baseline);
            RecordBatch[] batches = [.. Enumerable.Range(0, 16).Select(_ => NumericTraffic.Next(schema, 512, random, HotPathData.MissingOneIn))];
            var closed = new List<WindowResult>();
            for (int i = 0; i < 2000; i++) { monitor.Add(batches[i % 16], preparer.Prepare(batches[i % 16]), closed); closed.Clear(); }
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 20000; i++) { monitor.Add(batches[i % 16], preparer.Prepare(batches[i % 16]), closed); closed.Clear(); }
            output.WriteLine($"window {window}: {sw.Elapsed.TotalNanoseconds / 20000 / 512:F1} ns/record");
        }
    }
}
