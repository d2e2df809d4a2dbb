using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Simulation;

namespace Monitor.Benchmarks;

/// <summary>
/// The per-window accumulation of one columnar batch of 512 records (d numeric features on 20 bins, 10
/// output classes): the scalar reference, the vector path, and a plain sum over the same buffers (the
/// memory-streaming limit). One operation is one record, so the Op/s column reads records per second on
/// one core.
/// </summary>
[Config(typeof(HotPathConfig))]
public class HotPathBenchmarks
{
    public const int Batch = 512;
    public const int Classes = 10;
    private const int Batches = 16;

    private RecordBatch[] _batches = [];
    private BatchPreparer _scalarPreparer = null!;
    private BatchPreparer _vectorPreparer = null!;
    private WindowAccumulator _scalar = null!;
    private WindowAccumulator _vector = null!;
    private int _next;

    [Params(8, 64, 256)]
    public int Features { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (CompiledBaseline baseline, _batches) = HotPathData.Create(Features, Classes, Batch, Batches);
        _scalarPreparer = new BatchPreparer(baseline) { Path = KernelPath.Scalar };
        _vectorPreparer = new BatchPreparer(baseline);
        _scalar = new WindowAccumulator(baseline) { Path = KernelPath.Scalar };
        _vector = new WindowAccumulator(baseline);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "scalar reference")]
    public long Scalar()
    {
        RecordBatch batch = NextBatch();
        _scalar.Add(_scalarPreparer.Prepare(batch), 0, batch.Count);
        return _scalar.Records;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "vector path")]
    public long Vector()
    {
        RecordBatch batch = NextBatch();
        _vector.Add(_vectorPreparer.Prepare(batch), 0, batch.Count);
        return _vector.Records;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "TensorPrimitives.Sum (memory limit)")]
    public float Sum()
    {
        RecordBatch batch = NextBatch();
        return TensorPrimitives.Sum(batch.Numeric.Span) + TensorPrimitives.Sum(batch.Scores.Span);
    }

    private RecordBatch NextBatch()
    {
        _next = (_next + 1) % _batches.Length;
        return _batches[_next];
    }
}

/// <summary>The benchmark's data: a baseline profiled from numeric traffic, and live batches drawn the same way with 1% missing values.</summary>
public static class HotPathData
{
    /// <summary>One value in this many is missing (NaN) in every batch drawn for the benchmarks.</summary>
    public const int MissingOneIn = 100;

    public static (CompiledBaseline Baseline, RecordBatch[] Live) Create(int features, int classes, int batch, int batches)
    {
        ModelSchema schema = NumericTraffic.Schema(features, classes);
        var random = new Random(11);
        RecordBatch[] reference = [.. Enumerable.Range(0, 4).Select(_ => NumericTraffic.Next(schema, 1000, random, MissingOneIn))];
        BaselineProfile profile = ReferenceBaseline.Fit(schema, reference, windowRecords: 1000, settings: new BaselineSettings { BootstrapWindows = 1000 });
        return (new CompiledBaseline(profile), [.. Enumerable.Range(0, batches).Select(_ => NumericTraffic.Next(schema, batch, random, MissingOneIn))]);
    }
}
