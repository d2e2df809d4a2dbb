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
            var schema = new Monitor.Core.Schema.ModelSchema
            {
                NumericFeatures = [.. Enumerable.Range(0, 64).Select(i => $"x{i}")], CategoricalFeatures = [], TextFields = [],
                OutputKind = Monitor.Core.Schema.OutputKind.Classification, ClassLabels = [.. Enumerable.Range(0, 10).Select(i => $"c{i}")],
            };
            var random = new Random(11);
            var sample = new Monitor.Core.Baselines.ReferenceSample(schema, 250_000, 1);
            for (int i = 0; i < 210; i++) sample.Add(HotPathData.Next(schema, 1000, random));
            var profile = Monitor.Core.Baselines.BaselineBuilder.Build(new Monitor.Core.Baselines.BaselineRequest("b", "r", "", window, 0.01, DateTimeOffset.UnixEpoch), sample, new Monitor.Core.Baselines.BaselineSettings { BootstrapWindows = 1000 });
            var baseline = new Monitor.Core.Baselines.CompiledBaseline(profile);
            var monitor = new Monitor.Core.Windows.VersionMonitor("m", "v", TimeProvider.System, 50);
            monitor.UseBaseline(baseline);
            var preparer = new Monitor.Core.Windows.BatchPreparer(baseline);
            var batches = Enumerable.Range(0, 16).Select(_ => HotPathData.Next(schema, 512, random)).ToArray();
            var closed = new List<Monitor.Core.Windows.WindowResult>();
            for (int i = 0; i < 2000; i++) { monitor.Add(batches[i % 16], preparer.Prepare(batches[i % 16]), closed); closed.Clear(); }
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 20000; i++) { monitor.Add(batches[i % 16], preparer.Prepare(batches[i % 16]), closed); closed.Clear(); }
            output.WriteLine($"window {window}: {sw.Elapsed.TotalNanoseconds / 20000 / 512:F1} ns/record");
        }
    }
}
