using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Monitor.Benchmarks;

// dotnet run -c Release --project load-tests/Monitor.Benchmarks                 the benchmark table
// DOTNET_TieredCompilation=0 dotnet run -c Release --project load-tests/Monitor.Benchmarks -- --parts 64
//                                                                              where the vector path's time goes
// DOTNET_TieredCompilation=0 dotnet run -c Release --project load-tests/Monitor.Benchmarks -- --windows
//                                                                              what closing (evaluating) windows adds
if (args is ["--parts", var features])
{
    ProfileParts.Run(int.Parse(features, System.Globalization.CultureInfo.InvariantCulture), Console.Out);
    return;
}

if (args is ["--windows"])
{
    WindowCost.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(HotPathBenchmarks).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args);

namespace Monitor.Benchmarks
{
    /// <summary>In-process runs (no generated project to build), records per second and the ratio to the scalar reference.</summary>
    public sealed class HotPathConfig : ManualConfig
    {
        public HotPathConfig()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10));
            AddColumn(StatisticColumn.OperationsPerSecond);
            SummaryStyle = SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend);
        }
    }
}
