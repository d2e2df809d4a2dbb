using Monitor.Core.Text;

namespace Monitor.Core.Tests.Text;

public sealed class PrintableTests
{
    [Theory]
    [InlineData("plain text, ünïcode and 日本語", "plain text, ünïcode and 日本語")]
    [InlineData("a\nb\r\tc", "a\\nb\\r\\tc")]
    [InlineData("\u001b[31mred\u001b[0m", "\\u001b[31mred\\u001b[0m")]
    [InlineData("\u0000\u007f\u0085\u009b", "\\u0000\\u007f\\u0085\\u009b")]
    [InlineData("line\u2028para\u2029", "line\\u2028para\\u2029")]
    [InlineData("abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069")]
    public void Unprintable_characters_are_escaped_and_the_rest_kept(string text, string expected) =>
        Assert.Equal(expected, Printable.Escape(text));

    [Fact]
    public void Text_with_nothing_to_escape_is_the_same_string()
    {
        string safe = new('s', 3);
        Assert.Same(safe, Printable.Escape(safe));
    }
}
