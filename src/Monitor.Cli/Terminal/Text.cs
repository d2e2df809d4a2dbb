using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Monitor.Cli.Terminal;

/// <summary>How values are written: invariant culture, UTC times, and protobuf messages as JSON.</summary>
internal static class Text
{
    private static readonly JsonFormatter Indented =
        new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithFormatEnumsAsIntegers(false).WithIndentation());

    private static readonly JsonFormatter Compact = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static CultureInfo Culture => CultureInfo.InvariantCulture;

    public static string Json(IMessage message) => Indented.Format(message);

    /// <summary>One message on one line, for streams of them (one JSON document per line).</summary>
    public static string JsonLine(IMessage message) => Compact.Format(message);

    public static string Count(long value) => value.ToString("N0", Culture);

    public static string Count(ulong value) => value.ToString("N0", Culture);

    public static string Number(double value, int digits = 4) =>
        double.IsNaN(value) ? "-" : value.ToString(Math.Abs(value) is >= 1e6 or (< 1e-3 and > 0) ? "G3" : $"0.{new string('#', digits)}", Culture);

    public static string Seconds(TimeSpan time) => time.TotalSeconds.ToString(time.TotalSeconds < 10 ? "0.00 's'" : "0.0 's'", Culture);

    public static string Percent(double value) => value.ToString("0.##%", Culture);

    public static string Time(Timestamp? at) =>
        at is null || (at.Seconds == 0 && at.Nanos == 0) ? "-" : at.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss'Z'", Culture);

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0 'GiB'", Culture),
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0 'MiB'", Culture),
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0 'KiB'", Culture),
        _ => bytes.ToString(Culture) + " B",
    };

    public static string Short(string text, int length) => text.Length <= length ? text : string.Concat(text.AsSpan(0, length - 1), "…");

    /// <summary>A channel's kind in a few words.</summary>
    public static string Kind(Protos.V1.FeatureKind kind) => kind switch
    {
        Protos.V1.FeatureKind.Numeric => "numeric",
        Protos.V1.FeatureKind.Categorical => "categorical",
        Protos.V1.FeatureKind.Text => "text (tokens)",
        Protos.V1.FeatureKind.OutputClass => "output class",
        Protos.V1.FeatureKind.OutputNumeric => "output",
        _ => "-",
    };
}
