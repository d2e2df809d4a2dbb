using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Monitor.Core.Detectors;
using Monitor.Server.Persistence;
using static Monitor.Server.Persistence.Sql;

namespace Monitor.Server.Models;

/// <summary>Versions' own references in SQLite (table version_references, schema 4): one row per version and baseline.</summary>
internal sealed class SqliteReferenceStore(SqliteDatabase database)
{
    /// <summary>
    /// Stores a reference; with <paramref name="replace"/> it replaces the version's reference for the same baseline (and gets a new id,
    /// so evidence counted against the old one is not restored under the new). Returns the stored reference, and whether one was replaced;
    /// null when the version has one for that baseline and <paramref name="replace"/> is false. The audit entry is written in the same transaction.
    /// </summary>
    public (StoredReference Stored, bool Replaced)? Save(StoredReference reference, bool replace, string reason)
    {
        using SqliteConnection connection = database.Open();
        using SqliteTransaction transaction = connection.BeginTransaction();
        bool exists;
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "SELECT COUNT(*) FROM version_references WHERE model = $m AND version = $v AND baseline_id = $b;";
            Bind(command, reference);
            exists = (long)command.ExecuteScalar()! > 0;
        }

        if (exists && !replace)
        {
            return null;
        }

        long id;
        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = """
                DELETE FROM version_references WHERE model = $m AND version = $v AND baseline_id = $b;
                INSERT INTO version_references (model, version, baseline_id, uploaded_at, uploaded_by, records_received, records_kept, profile_json)
                VALUES ($m, $v, $b, $t, $by, $r, $k, $p);
                SELECT last_insert_rowid();
                """;
            Bind(command, reference);
            command.Parameters.AddWithValue("$t", Format(reference.UploadedAt));
            command.Parameters.AddWithValue("$by", reference.UploadedBy);
            command.Parameters.AddWithValue("$r", reference.RecordsReceived);
            command.Parameters.AddWithValue("$k", reference.RecordsKept);
            command.Parameters.AddWithValue("$p", Document(reference));
            id = (long)command.ExecuteScalar()!;
        }

        using (SqliteCommand command = connection.CreateCommand())
        {
            command.CommandText = "INSERT INTO audit_log (at, actor, action, model, version, reason) VALUES ($t, $by, $a, $m, $v, $why);";
            Bind(command, reference);
            command.Parameters.AddWithValue("$t", Format(reference.UploadedAt));
            command.Parameters.AddWithValue("$by", reference.UploadedBy);
            command.Parameters.AddWithValue("$a", (exists ? "replace-reference" : "upload-reference") + (reference.Captured ? "-captured" : ""));
            command.Parameters.AddWithValue("$why", string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"reference {id} for baseline {reference.BaselineId}: {reference.RecordsReceived} records{(reason.Length > 0 ? "; " + reason : "")}"));
            command.ExecuteNonQuery();
        }

        transaction.Commit();
        // A new object, not `with`: the copy would keep the reference's EmbeddingReference of id 0.
        return (new StoredReference(id, reference.Model, reference.Version, reference.BaselineId, reference.UploadedAt, reference.UploadedBy,
            reference.RecordsReceived, reference.RecordsKept, reference.Profile, reference.Confidence, reference.Shape, reference.Captured), exists);
    }

    /// <summary>Every version's latest reference (the one for its newest baseline).</summary>
    public List<StoredReference> LoadLatest()
    {
        using SqliteConnection connection = database.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            SELECT id, model, version, baseline_id, uploaded_at, uploaded_by, records_received, records_kept, profile_json
            FROM version_references r
            WHERE id = (SELECT MAX(id) FROM version_references o WHERE o.model = r.model AND o.version = r.version)
            ORDER BY id;
            """;
        using SqliteDataReader reader = command.ExecuteReader();
        var references = new List<StoredReference>();
        while (reader.Read())
        {
            string document = reader.GetString(8);
            OutputParts parts = PartsOf(document);
            references.Add(new StoredReference(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), Parse(reader.GetString(4)),
                reader.GetString(5), reader.GetInt64(6), reader.GetInt32(7), GeometryOf(document),
                parts.Confidence, parts.Shape, parts.Captured));
        }

        return references;
    }

    /// <summary>
    /// The stored document (column profile_json): the embedding profile's fields, D3's percentiles as one more, optional field,
    /// <c>Confidence</c>, the whole-output test's tails and D4's residuals as another, <c>Shape</c>, and <c>Captured</c> (true) for a
    /// reference captured from the version's live records. A reference stored by an earlier build reads without them; an earlier
    /// build reads this one and ignores them.
    /// </summary>
    private static string Document(StoredReference reference)
    {
        // A model without an embedding has no geometry: the document holds the output parts alone.
        JsonObject document = reference.Profile is { } profile ? JsonSerializer.SerializeToNode(profile, StoreJson.Options)!.AsObject() : [];
        if (reference.Confidence is { } confidence)
        {
            document[nameof(OutputParts.Confidence)] = JsonSerializer.SerializeToNode(confidence, StoreJson.Options);
        }

        if (reference.Shape is { } shape)
        {
            document[nameof(OutputParts.Shape)] = JsonSerializer.SerializeToNode(shape, StoreJson.Options);
        }

        if (reference.Captured)
        {
            document[nameof(OutputParts.Captured)] = true;
        }

        return document.ToJsonString(StoreJson.Options);
    }

    /// <summary>
    /// The document's output parts, each null where there is none or it does not read (a field missing, as a document edited by
    /// hand or cut short can have): D3, the whole-output test and D4 then judge against the baseline's, as for a reference stored
    /// before the parts existed, and the reference's embedding profile, and every other reference, still load.
    /// </summary>
    internal static OutputParts PartsOf(string document)
    {
        if (Root(document) is not { } node)
        {
            return new OutputParts();
        }

        return new OutputParts
        {
            Confidence = Part<ConfidencePercentiles>(node?[nameof(OutputParts.Confidence)]),
            Shape = Part<OutputShape>(node?[nameof(OutputParts.Shape)]),
            Captured = node?[nameof(OutputParts.Captured)] is JsonValue captured && captured.TryGetValue(out bool yes) && yes,
        };
    }

    /// <summary>
    /// The embedding geometry of a stored document; null in one of a model without an embedding (no <c>Width</c>), and in one that
    /// does not read (cut short, not an object, a field of the wrong type): the version then has no geometry of its own
    /// (<see cref="EmbeddingReferences.For"/>), and the sidecar still starts.
    /// </summary>
    internal static EmbeddingProfile? GeometryOf(string document)
    {
        if (Root(document)?[nameof(EmbeddingProfile.Width)] is null)
        {
            return null;
        }

        try
        {
            return StoreJson.Read<EmbeddingProfile>(document);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The document's root object; null when it does not parse or is not an object.</summary>
    private static JsonObject? Root(string document)
    {
        try
        {
            return JsonNode.Parse(document) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>D3's part of a stored document (<see cref="PartsOf"/>).</summary>
    internal static ConfidencePercentiles? ConfidenceOf(string document) => PartsOf(document).Confidence;

    private static T? Part<T>(JsonNode? node)
        where T : class
    {
        try
        {
            return node?.Deserialize<T>(StoreJson.Options);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The stored document's fields beyond the embedding profile.</summary>
    internal sealed record OutputParts
    {
        public ConfidencePercentiles? Confidence { get; init; }

        public OutputShape? Shape { get; init; }

        public bool Captured { get; init; }
    }

    private static void Bind(SqliteCommand command, StoredReference reference)
    {
        command.Parameters.AddWithValue("$m", reference.Model);
        command.Parameters.AddWithValue("$v", reference.Version);
        command.Parameters.AddWithValue("$b", reference.BaselineId);
    }
}
