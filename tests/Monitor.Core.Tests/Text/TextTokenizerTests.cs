using System.Text;
using Monitor.Core.Text;

namespace Monitor.Core.Tests.Text;

public sealed class TextTokenizerTests
{
    [Theory]
    [InlineData("Ref:XZ-4471, thanks!", new[] { "ref:xz-4471", "thanks" })]
    [InlineData("  monthly   rent ", new[] { "monthly", "rent" })]
    [InlineData("order #123 (paid)", new[] { "order", "123", "paid" })]
    [InlineData("a-:b end-", new[] { "a", "b", "end" })]
    [InlineData("ＲＥＦ：ＸＺ", new[] { "ref:xz" })]
    [InlineData("Café Ünïcode ß", new[] { "café", "ünïcode", "ß" })]
    [InlineData("", new string[0])]
    public void Tokenizes_after_NFKC_and_lower_case(string text, string[] expected)
    {
        var tokens = new List<string>();
        TextTokenizer.Tokenize(Encoding.UTF8.GetBytes(text), tokens);
        Assert.Equal(expected, tokens);
        Assert.Equal(expected.Length, TextTokenizer.CountTokens(Encoding.UTF8.GetBytes(text)));
    }

    [Theory]
    [InlineData("\uFDFA", 4)]
    [InlineData("a\uFFFEb", 2)]
    [InlineData("\uFFFE", 0)]
    public void Expanding_and_refused_code_points_are_tokenized(string text, int expected)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        Assert.Equal(expected, TextTokenizer.CountTokens(utf8));
        Assert.InRange(TextTokenizer.CountTokens(utf8), 0, TextTokenizer.MaxTokens(utf8));
    }

    [Fact]
    public void The_bound_holds_on_random_text()
    {
        var random = new Random(6);
        string[] alphabet = ["a", "Z", "9", " ", ",", "-", "é", "漢", "\uFDFA", "\uFB03", "😀", "\u00A0", "①"];
        for (int i = 0; i < 5000; i++)
        {
            string text = string.Concat(Enumerable.Range(0, random.Next(40)).Select(_ => alphabet[random.Next(alphabet.Length)]));
            byte[] utf8 = Encoding.UTF8.GetBytes(text);
            Assert.True(TextTokenizer.CountTokens(utf8) <= TextTokenizer.MaxTokens(utf8), text);
        }
    }

    [Fact]
    public void Counting_agrees_with_tokenizing_on_random_text()
    {
        var random = new Random(5);
        const string alphabet = "abcXYZ019 :-_./@#!,;é漢字\t";
        var tokens = new List<string>();
        for (int i = 0; i < 2000; i++)
        {
            string text = new([.. Enumerable.Range(0, random.Next(30)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            tokens.Clear();
            TextTokenizer.Tokenize(Encoding.UTF8.GetBytes(text), tokens);
            Assert.Equal(tokens.Count, TextTokenizer.CountTokens(Encoding.UTF8.GetBytes(text)));
        }
    }
}
