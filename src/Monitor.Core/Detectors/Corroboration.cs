using System.Text.Json;
using System.Text.Json.Serialization;

namespace Monitor.Core.Detectors;

/// <summary>
/// Independent evidence, from another detector, among a key's own records. It leaves the process as
/// text, "D4: …" (see <see cref="ToString"/>), and is stored that way.
/// </summary>
[JsonConverter(typeof(CorroborationJsonConverter))]
public sealed record Corroboration(DetectorId Detector, string Evidence)
{
    public override string ToString() => $"{Detector}: {Evidence}";

    /// <summary>Reads the text <see cref="ToString"/> writes.</summary>
    public static Corroboration Parse(string text)
    {
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        if (colon == 2 && text[0] == 'D' && Enum.TryParse(text.AsSpan(0, 2), out DetectorId detector) && Enum.IsDefined(detector))
        {
            return new Corroboration(detector, text[(colon + 2)..]);
        }

        throw new FormatException($"'{text}' is not a detector's evidence (\"D1: …\" to \"D7: …\")");
    }
}

/// <summary>Stores a corroboration as its text, so findings stored as text load.</summary>
internal sealed class CorroborationJsonConverter : JsonConverter<Corroboration>
{
    public override Corroboration Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string text = reader.GetString() ?? throw new JsonException("a corroboration is null");
        try
        {
            return Corroboration.Parse(text);
        }
        catch (FormatException ex)
        {
            throw new JsonException(ex.Message, ex);
        }
    }

    public override void Write(Utf8JsonWriter writer, Corroboration value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
