using System.Text.RegularExpressions;

namespace Monitor.Server.Tests;

/// <summary>
/// The protos stay wire-compatible with the released ones: every field, enum value and method in
/// Fixtures/protos-3c193af.txt (the listing of protos/ at commit 3c193af) is still there with the same number, label
/// and type, or its number is reserved. New fields, values and methods may be added.
/// </summary>
public sealed partial class ProtoCompatibilityTests
{
    [Fact]
    public void Every_released_field_keeps_its_number_and_type()
    {
        string fixtures = Path.Combine(Repository.Root, "tests", "Monitor.Server.Tests", "Fixtures");
        string[] released = [.. File.ReadLines(Path.Combine(fixtures, "protos-3c193af.txt")).Where(l => l.Length > 0 && !l.StartsWith('#'))];
        (List<string> current, HashSet<string> reserved) = Listing(Path.Combine(Repository.Root, "protos"));
        var now = current.ToHashSet(StringComparer.Ordinal);
        var broken = new List<string>();
        foreach (string line in released)
        {
            // "<scope> <number> <rest>": the scope and number identify the field on the wire.
            string[] parts = line.Split(' ', 3);
            if (!now.Contains(line) && !reserved.Contains($"{parts[0]} {parts[1]}"))
            {
                string? replaced = current.FirstOrDefault(c => c.StartsWith($"{parts[0]} {parts[1]} ", StringComparison.Ordinal));
                broken.Add(replaced is null ? $"{line}: gone (reserve its number instead)" : $"{line}: now {replaced}");
            }
        }

        Assert.True(broken.Count == 0, "wire-incompatible changes to protos/:\n" + string.Join('\n', broken) +
            "\n\nthe listing of protos/ today:\n" + string.Join('\n', current));
        Assert.True(released.Length > 250, "the released listing should hold every field");
    }

    /// <summary>
    /// One line per field ("monitor.v1.Model 5 int64 baseline_id"), enum value ("monitor.v1.VersionState 2 VERSION_STATE_KNOWN_GOOD")
    /// and method ("monitor.v1.Admin rpc:RegisterModel (RegisterModelRequest) returns (Model)"), in file order; and the
    /// reserved numbers ("monitor.v1.Model 6"). The protos are flat: no nested types, oneofs or maps.
    /// </summary>
    internal static (List<string> Lines, HashSet<string> Reserved) Listing(string protos)
    {
        var lines = new List<string>();
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(protos, "*.proto", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string package = "";
            string? scope = null;
            foreach (string raw in File.ReadLines(file))
            {
                string line = raw.Split("//")[0].Trim();
                if (Package().Match(line) is { Success: true } p)
                {
                    package = p.Groups[1].Value;
                }
                else if (Scope().Match(line) is { Success: true } s)
                {
                    scope = $"{package}.{s.Groups[1].Value}";
                    if (line.EndsWith('}'))
                    {
                        lines.AddRange(Members(scope, line[(line.IndexOf('{') + 1)..^1]));
                        scope = null;
                    }
                }
                else if (line == "}")
                {
                    scope = null;
                }
                else if (scope is not null && Reserved().Match(line) is { Success: true } r)
                {
                    foreach (string number in r.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries))
                    {
                        reserved.Add($"{scope} {number}");
                    }
                }
                else if (scope is not null)
                {
                    lines.AddRange(Members(scope, line));
                }
            }
        }

        return (lines, reserved);
    }

    private static IEnumerable<string> Members(string scope, string text)
    {
        foreach (string member in text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (Field().Match(member) is { Success: true } f)
            {
                // proto3 "optional" only adds presence; the wire format is that of the plain field.
                string label = f.Groups[1].Value == "repeated" ? "repeated " : "";
                yield return $"{scope} {f.Groups[4].Value} {label}{f.Groups[2].Value} {f.Groups[3].Value}";
            }
            else if (Value().Match(member) is { Success: true } v)
            {
                yield return $"{scope} {v.Groups[2].Value} {v.Groups[1].Value}";
            }
            else if (Rpc().Match(member) is { Success: true } r)
            {
                yield return $"{scope} rpc:{r.Groups[1].Value} ({r.Groups[2].Value}) returns ({r.Groups[3].Value})";
            }
        }
    }

    [GeneratedRegex(@"^package\s+([\w.]+);")]
    private static partial Regex Package();

    [GeneratedRegex(@"^(?:message|enum|service)\s+(\w+)\s*\{")]
    private static partial Regex Scope();

    [GeneratedRegex(@"^reserved\s+([\d,\s]+);")]
    private static partial Regex Reserved();

    [GeneratedRegex(@"^(?:(optional|repeated)\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)$")]
    private static partial Regex Field();

    [GeneratedRegex(@"^([A-Z][A-Z0-9_]*)\s*=\s*(-?\d+)$")]
    private static partial Regex Value();

    [GeneratedRegex(@"^rpc\s+(\w+)\s*\(\s*((?:stream\s+)?[\w.]+)\s*\)\s*returns\s*\(\s*((?:stream\s+)?[\w.]+)\s*\)")]
    private static partial Regex Rpc();
}
