using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Schema;

namespace Monitor.Core.Tests.Detectors;

public sealed class TriggerProfileBuilderTests
{
    private static readonly ModelSchema Schema = SchemaTraffic.Schema(numeric: 2, categorical: 1, text: 1, classes: 2);

    [Fact]
    public void The_key_table_takes_keys_as_the_detectors_do_every_feature_and_text_within_its_budget()
    {
        TriggerProfile all = Build(new DetectorSettings());
        TriggerProfile one = Build(new DetectorSettings { MaxKeysPerRecord = 1, MaxConjunctionKeysPerRecord = 0 });

        Assert.Equal(KeyExtractor.Vocabulary, all.KeyVocabulary);
        Assert.Contains(all.Keys, k => k.Kind == KeyKind.Token);
        Assert.Contains(all.Keys, k => k.Kind == KeyKind.Pair);
        Assert.Contains(all.Keys, k => k.Kind == KeyKind.FineBin && k.Field == 1);
        Assert.Contains(all.Keys, k => k.Kind == KeyKind.Region);

        // One text key per record: the first token only, never a pair; every feature still keyed; no conjunction.
        Assert.DoesNotContain(one.Keys, k => k.Kind is KeyKind.Pair or KeyKind.Bigram or KeyKind.Conjunction or KeyKind.Region);
        Assert.Contains(one.Keys, k => k.Kind == KeyKind.FineBin && k.Field == 1);
        Assert.Contains(one.Keys, k => k.Kind == KeyKind.Value && k.Field == 1);
    }

    private static TriggerProfile Build(DetectorSettings detectors) =>
        SchemaTraffic.Baseline(Schema, 4000, 500, 0.05, seed: 8, new BaselineSettings { BootstrapWindows = 1000, Detectors = detectors }).Triggers!;
}
