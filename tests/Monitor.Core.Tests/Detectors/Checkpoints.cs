using System.Text.Json;
using System.Text.Json.Serialization;
using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Simulation;

namespace Monitor.Core.Tests.Detectors;

/// <summary>What the checkpoint tests share: the JSON a checkpoint is stored as, and the fraud baseline they run against.</summary>
internal static class Checkpoints
{
    /// <summary>Checkpoints as the store writes them: NaN and infinities as names, enums as strings.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>A baseline of 20,000 clean fraud records (seed 1000), windows of 500.</summary>
    public static readonly Lazy<CompiledBaseline> FraudBaseline = new(() =>
    {
        var reference = new FraudTraffic(seed: 1000);
        RecordBatch[] batches = [.. Enumerable.Range(0, 20).Select(_ => reference.Next(1000, FraudDrift.None))];
        return new CompiledBaseline(ReferenceBaseline.Fit(FraudTraffic.Schema, batches, windowRecords: 500,
            settings: new BaselineSettings { BootstrapWindows = 1000 }));
    });
}
