using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Detectors;

public sealed class TriggerProfileBuilderTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 2, categorical: 1, text: 1, classes: 2);

    [Fact]
    public void The_key_table_takes_as_many_keys_per_record_as_the_detectors()
    {
        // Keys come in the extractor's order: the category, x0's exact value and fine bin, x1's, then text.
        TriggerProfile all = Build(new DetectorSettings());
        TriggerProfile four = Build(new DetectorSettings { MaxKeysPerRecord = 4 });

        Assert.Contains(all.Keys, k => k.Kind == KeyKind.Token);
        Assert.Contains(all.Keys, k => k.Kind == KeyKind.FineBin && k.Field == 1);
        Assert.DoesNotContain(four.Keys, k => k.Kind == KeyKind.Token);
        Assert.DoesNotContain(four.Keys, k => k.Kind == KeyKind.FineBin && k.Field == 1);
        Assert.Contains(four.Keys, k => k.Kind == KeyKind.Value && k.Field == 1);
    }

    private static TriggerProfile Build(DetectorSettings detectors) =>
        SchemaTraffic.Baseline(Schema, 4000, 500, 0.05, seed: 8, new BaselineSettings { BootstrapWindows = 1000, Detectors = detectors }).Triggers!;
}
