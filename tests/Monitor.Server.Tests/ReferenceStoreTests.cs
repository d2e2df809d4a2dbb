using Monitor.Server.Models;

namespace Monitor.Server.Tests;

/// <summary>Versions' stored references: an output part that does not read is taken as none, so the reference and every other still load.</summary>
public sealed class ReferenceStoreTests
{
    private const string Profile = """
        "Width":2,"Mean":[0,0],"Components":[1,0],"Variances":[1],"OutlierThreshold":9,"OutlierRate":0.001,"MinorityShare":[0.5,0.5],"Silhouette":[0,0]
        """;

    [Fact]
    public void A_stored_D3_part_missing_a_field_is_taken_as_none()
    {
        string whole = "{" + Profile + ""","Confidence":{"Thresholds":[0.99,0.95],"Rates":[0.001,0.001],"Records":[500,500]}}""";
        string cut = "{" + Profile + ""","Confidence":{"Rates":[0.001,0.001],"Records":[500,500]}}""";
        string before = "{" + Profile + "}";

        Assert.Equal([0.99, 0.95], SqliteReferenceStore.ConfidenceOf(whole)!.Thresholds);
        // Before, reading a document like this threw, and the registry, which loads every version's reference at start, with it.
        Assert.Null(SqliteReferenceStore.ConfidenceOf(cut));
        Assert.Null(SqliteReferenceStore.ConfidenceOf(before));
    }

    [Fact]
    public void A_stored_output_shape_that_does_not_read_is_taken_as_none_and_leaves_the_D3_part()
    {
        const string Confidence = ""","Confidence":{"Thresholds":[0.99,0.95],"Rates":[0.001,0.001],"Records":[500,500]}""";
        const string Tails = ""","Tails":{"Thresholds":[0.9,0.9],"Rates":[0.01,0.01]}""";
        string whole = "{" + Profile + Confidence + ""","Shape":{"StratumRecords":[500],"ResidualMean":[0,0],"ResidualStd":[0.05,0.05],"ResidualRecords":[200,300]""" + Tails + "}}";
        string cut = "{" + Profile + Confidence + ""","Shape":{"StratumRecords":[500],"ResidualMean":[0,0]""" + Tails + "}}";
        string wrong = "{" + Profile + Confidence + ""","Shape":"not an object"}""";

        SqliteReferenceStore.OutputParts parts = SqliteReferenceStore.PartsOf(whole);
        Assert.Equal([0.9, 0.9], parts.Shape!.Tails.Thresholds);
        Assert.Equal([200, 300], parts.Shape.ResidualRecords);
        foreach (string document in (string[])[cut, wrong])
        {
            parts = SqliteReferenceStore.PartsOf(document);
            Assert.Null(parts.Shape);
            Assert.Equal([0.99, 0.95], parts.Confidence!.Thresholds);
        }
    }

    [Fact]
    public void A_stored_reference_of_a_model_without_an_embedding_has_no_geometry_and_keeps_its_output_parts()
    {
        const string Parts = """{"Confidence":{"Thresholds":[0.99,0.95],"Rates":[0.001,0.001],"Records":[500,500]},"Captured":true}""";

        Assert.Null(SqliteReferenceStore.GeometryOf(Parts));
        Assert.Equal(2, SqliteReferenceStore.GeometryOf("{" + Profile + "}")!.Width);
        SqliteReferenceStore.OutputParts parts = SqliteReferenceStore.PartsOf(Parts);
        Assert.Equal([0.99, 0.95], parts.Confidence!.Thresholds);
        Assert.True(parts.Captured);
        Assert.False(SqliteReferenceStore.PartsOf("{" + Profile + "}").Captured);
    }

    [Fact]
    public void A_stored_reference_that_does_not_read_loads_as_none_and_never_throws()
    {
        string[] broken = ["{" + Profile[..40], "[]", "\"text\"", "{\"Width\":\"wide\"}", "{\"Width\":2,\"Mean\":null}"];
        foreach (string document in broken)
        {
            Assert.Null(SqliteReferenceStore.GeometryOf(document));
            SqliteReferenceStore.OutputParts parts = SqliteReferenceStore.PartsOf(document);
            Assert.Null(parts.Confidence);
            Assert.Null(parts.Shape);
        }
    }
}
