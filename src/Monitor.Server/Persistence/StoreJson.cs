using System.Text.Json;
using System.Text.Json.Serialization;

namespace Monitor.Server.Persistence;

/// <summary>How core records are written to the database: enums by name, NaN allowed, derived properties left out.</summary>
internal static class StoreJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        IgnoreReadOnlyProperties = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Write<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Read<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidDataException($"stored {typeof(T).Name} is null");
}
