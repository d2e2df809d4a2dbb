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
