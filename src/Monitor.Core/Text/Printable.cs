using System.Text;

namespace Monitor.Core.Text;

/// <summary>
/// Text that came from traffic, made safe to print: control characters (C0, DEL, C1), line and paragraph separators and
/// bidirectional overrides are written as escapes (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\u001b</c>), so a value cannot
/// start a forged log line, recolour a terminal or reorder what an operator reads. Everything else is kept.
/// </summary>
public static class Printable
{
    /// <summary><paramref name="text"/> with every unprintable character escaped; the same string when there is none.</summary>
    public static string Escape(string text)
    {
        int first = text.AsSpan().IndexOfAny(Unprintable);
        if (first < 0)
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16);
        escaped.Append(text.AsSpan(0, first));
        foreach (char c in text.AsSpan(first))
        {
            if (!Unprintable.Contains(c))
            {
                escaped.Append(c);
                continue;
            }

            escaped.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => $"\\u{(int)c:x4}",
            });
        }

        return escaped.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> Unprintable = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(c => (char)c), (char)0x7F, .. Enumerable.Range(0x80, 0x20).Select(c => (char)c),
            '\u2028', '\u2029', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']);
}
