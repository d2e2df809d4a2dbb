using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Windows;

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

/// <summary>The benchmark's data: a baseline profiled from normal features, and live batches drawn the same way with 1% missing values.</summary>
public static class HotPathData
{
    public static (CompiledBaseline Baseline, RecordBatch[] Live) Create(int features, int classes, int batch, int batches)
    {
        var schema = new ModelSchema
        {
            NumericFeatures = [.. Enumerable.Range(0, features).Select(i => $"x{i}")],
            CategoricalFeatures = [],
            TextFields = [],
            OutputKind = OutputKind.Classification,
            ClassLabels = [.. Enumerable.Range(0, classes).Select(i => $"c{i}")],
        };
        var random = new Random(11);
        var sample = new ReferenceSample(schema, 4_000, 1);
        for (int i = 0; i < 4; i++)
        {
            sample.Add(Next(schema, 1000, random));
        }

        var settings = new BaselineSettings { BootstrapWindows = 1000 };
        BaselineProfile profile = BaselineBuilder.Build(new BaselineRequest("bench", "reference", "", 1000, 0.01, DateTimeOffset.UnixEpoch), sample, settings);
        return (new CompiledBaseline(profile), [.. Enumerable.Range(0, batches).Select(_ => Next(schema, batch, random))]);
    }

    public static RecordBatch Next(ModelSchema schema, int n, Random random)
    {
        int d = schema.NumericFeatures.Length;
        int k = schema.ClassLabels.Length;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < d; j++)
            {
                numeric[(i * d) + j] = random.Next(100) == 0 ? float.NaN : (float)(Normal(random) + (j * 0.01));
            }

            float total = 0;
            for (int c = 0; c < k; c++)
            {
                float weight = (float)Math.Exp(2 * Normal(random));
                scores[(i * k) + c] = weight;
                total += weight;
            }

            for (int c = 0; c < k; c++)
            {
                scores[(i * k) + c] /= total;
            }
        }

        return new RecordBatch { Count = n, Numeric = numeric, Scores = scores, Categorical = [], Text = [] };
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
