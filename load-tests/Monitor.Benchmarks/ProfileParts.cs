using System.Diagnostics;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Windows;

namespace Monitor.Benchmarks;

/// <summary>
/// Where the vector path's time goes, part by part, on the benchmark's data (run with
/// DOTNET_TieredCompilation=0 so every part is measured fully optimised): the output summary (argmax,
/// max, entropy) and the derived columns, the row-major features, and the whole accumulation; then the cost
/// of each further pass of seven edges over the features.
/// </summary>
public static class ProfileParts
{
    private const int Repetitions = 20_000;

    public static void Run(int d, TextWriter output)
    {
        (CompiledBaseline baseline, RecordBatch[] batches) = HotPathData.Create(d, HotPathBenchmarks.Classes, HotPathBenchmarks.Batch, 16);
        var preparer = new BatchPreparer(baseline);
        var accumulator = new WindowAccumulator(baseline);
        var kernel = new NumericKernel([.. baseline.Profile.Numeric.Select(p => p.Edges)], [.. baseline.Profile.Numeric.Select(p => p.Mean)]);
        NumericTotals totals = kernel.CreateTotals();
        PreparedBatch prepared = preparer.Prepare(batches[0]);
        int n = HotPathBenchmarks.Batch;
        output.WriteLine($"d = {d}, {HotPathBenchmarks.Classes} classes, batches of {n}, path {NumericKernel.BestPath}");
        Time("prepare (outputs: argmax, max, entropy)", output, i => preparer.Prepare(batches[i % batches.Length]));
        Time($"features ({d} row-major channels)", output, i => kernel.AddRows(batches[i % batches.Length].Numeric.Span, 0, d, n, d, totals));
        Time("derived columns (confidence, entropy)", output, _ =>
        {
            kernel.AddColumn(d, prepared.Numeric[d].Data.Span, 0, 1, n, totals);
            kernel.AddColumn(d + 1, prepared.Numeric[d + 1].Data.Span, 0, 1, n, totals);
        });
        Time("WindowAccumulator.Add (features, columns, class codes)", output, _ => accumulator.Add(prepared, 0, n));

        var random = new Random(1);
        float[] data = new float[n * d];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)((random.NextDouble() * 2) - 1);
        }

        foreach (int edges in new[] { 7, 14, 21, 28 })
        {
            float[][] table = [.. Enumerable.Range(0, d).Select(_ => Enumerable.Range(0, edges).Select(j => -1f + (2f * (j + 1) / (edges + 1))).ToArray())];
            var perEdges = new NumericKernel(table, [.. Enumerable.Repeat(0.0, d)]);
            NumericTotals sums = perEdges.CreateTotals();
            Time($"features with {edges} edges each", output, _ => perEdges.AddRows(data, 0, d, n, d, sums));
        }
    }

    private static void Time(string name, TextWriter output, Action<int> action)
    {
        for (int i = 0; i < 500; i++)
        {
            action(i);
        }

        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < Repetitions; i++)
        {
            action(i);
        }

        double ns = stopwatch.Elapsed.TotalNanoseconds / Repetitions / HotPathBenchmarks.Batch;
        output.WriteLine($"  {name,-58} {ns,7:F2} ns/record");
    }
}
