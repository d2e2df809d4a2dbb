using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

/// <summary>D5 on a two-dimensional embedding that is standard normal in the baseline.</summary>
public sealed class ActivationsTests
{
    private static readonly DetectorKey Key = new(KeyKind.Category, "merchant", "mcc-7777");

    [Fact]
    public void An_embedding_far_from_the_baseline_is_an_outlier()
    {
        var activations = new Activations(StandardNormal2D(), new DetectorSettings(), Labels, new Random(17));
        Assert.True(activations.Observe([3f, 3f], Fraud));
        Assert.False(activations.Observe([0.5f, -2f], Fraud));
    }

    [Fact]
    public void A_key_whose_records_carry_outlying_embeddings_is_corroborated()
    {
        TriggerProfile profile = TwoStrata(embedding: StandardNormal2D());
        RecordContext[] records = [.. Enumerable.Repeat(Record(profile, LowRisk, Fraud, outlier: true, embedded: true), 10),
            .. Enumerable.Repeat(Record(profile, LowRisk, Fraud, embedded: true), 10)];
        var activations = new Activations(profile.Embedding!, new DetectorSettings(), Labels, new Random(17));

        Corroboration evidence = Assert.IsType<Corroboration>(activations.Corroborate(Candidate(profile, Key, records)));
        Assert.Equal("D5: 10 of 20 embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance; 0.02 expected", evidence.ToString());
    }

    [Fact]
    public void Outliers_at_the_baseline_rate_or_on_the_outlier_key_itself_corroborate_nothing()
    {
        TriggerProfile profile = TwoStrata(embedding: StandardNormal2D());
        var activations = new Activations(profile.Embedding!, new DetectorSettings(), Labels, new Random(17));
        RecordContext[] usual = [Record(profile, LowRisk, Fraud, outlier: true, embedded: true), .. Enumerable.Repeat(Record(profile, LowRisk, Fraud, embedded: true), 999)];
        Assert.Null(activations.Corroborate(Candidate(profile, Key, usual)));

        var outlierKey = new DetectorKey(KeyKind.EmbeddingOutlier, "embedding", "beyond the 99.9th percentile");
        Assert.Null(activations.Corroborate(Candidate(profile, outlierKey, Enumerable.Repeat(Record(profile, LowRisk, Fraud, outlier: true, embedded: true), 20))));

        // Records without embeddings.
        Assert.Null(activations.Corroborate(Candidate(profile, Key, Enumerable.Repeat(Record(profile, LowRisk, Fraud, outlier: true), 20))));
    }

    [Fact]
    public void A_class_whose_activations_split_off_a_small_cluster_raises_an_alarm_at_the_clustering_window()
    {
        var activations = new Activations(StandardNormal2D(), new DetectorSettings { ClusterEveryWindows = 2 }, Labels, new Random(17));
        var random = new Random(3);
        for (int i = 0; i < 1000; i++)
        {
            // 30% of 'fraud' records come from a new, well-separated subpopulation.
            float shift = i % 10 < 3 ? 6f : 0f;
            activations.Observe([shift + (float)Draws.Normal(random), shift + (float)Draws.Normal(random)], Fraud);
            activations.Observe([(float)Draws.Normal(random), (float)Draws.Normal(random)], Legitimate);
        }

        Assert.Empty(activations.CloseWindow());
        ClassAlarm alarm = Assert.Single(activations.CloseWindow());
        Assert.Equal(DetectorId.D5, alarm.Detector);
        Assert.Equal(Fraud, alarm.Class);
        Assert.StartsWith("activations of class 'fraud' over 1000 recent records: 2-means minority 30.0 %", alarm.Summary, StringComparison.Ordinal);

        // The samples start afresh after a clustering.
        Assert.Empty(activations.CloseWindow());
        Assert.Empty(activations.CloseWindow());
    }

    [Fact]
    public void Activations_like_the_baseline_or_too_few_raise_nothing()
    {
        var activations = new Activations(StandardNormal2D(), new DetectorSettings { ClusterEveryWindows = 1 }, Labels, new Random(17));
        var random = new Random(4);
        for (int i = 0; i < 3000; i++)
        {
            activations.Observe([(float)Draws.Normal(random), (float)Draws.Normal(random)], i % 2);
        }

        Assert.Empty(activations.CloseWindow());

        // A split on fewer records than clustering needs.
        for (int i = 0; i < 150; i++)
        {
            float shift = i % 10 < 3 ? 6f : 0f;
            activations.Observe([shift + (float)Draws.Normal(random), shift + (float)Draws.Normal(random)], Fraud);
        }

        Assert.Empty(activations.CloseWindow());
    }
}
