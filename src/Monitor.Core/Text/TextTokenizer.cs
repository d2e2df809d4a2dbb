using System.Text;

namespace Monitor.Core.Text;

/// <summary>
/// Turns raw text into tokens. The text is normalised to Unicode NFKC and lower-cased (invariant
/// culture); a token is a maximal run of letters and digits, where the joiners <c>: - _ . / @ #</c>
/// stay inside a token when a letter or digit follows them. So <c>"Ref:XZ-4471, thanks!"</c> gives
/// <c>ref:xz-4471</c> and <c>thanks</c>.
/// </summary>
public static class TextTokenizer
{
    /// <summary>Appends the tokens of a UTF-8 text to a list.</summary>
    public static void Tokenize(ReadOnlySpan<byte> utf8, List<string> tokens)
    {
        string text = Normalize(utf8);
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool inToken = i < text.Length && IsTokenChar(text.AsSpan(), i, start >= 0);
            if (inToken && start < 0)
            {
                start = i;
            }
            else if (!inToken && start >= 0)
            {
                tokens.Add(text[start..i]);
                start = -1;
            }
        }
    }

    /// <summary>Number of tokens in a UTF-8 text; allocation-free for ASCII text.</summary>
    public static int CountTokens(ReadOnlySpan<byte> utf8)
    {
        if (Ascii.IsValid(utf8))
        {
            // NFKC and lower-casing leave ASCII letters letters and punctuation punctuation.
            int count = 0;
            bool inToken = false;
            for (int i = 0; i < utf8.Length; i++)
            {
                bool isToken = IsAsciiAlnum(utf8[i])
                    || (inToken && IsJoiner((char)utf8[i]) && i + 1 < utf8.Length && IsAsciiAlnum(utf8[i + 1]));
                if (isToken && !inToken)
                {
                    count++;
                }

                inToken = isToken;
            }

            return count;
        }

        var tokens = new List<string>();
        Tokenize(utf8, tokens);
        return tokens.Count;
    }

    private static string Normalize(ReadOnlySpan<byte> utf8) =>
        Encoding.UTF8.GetString(utf8).Normalize(NormalizationForm.FormKC).ToLowerInvariant();

    /// <summary>Whether text[i] belongs to a token, given whether a token is open: the one tokenization rule.</summary>
    public static bool IsTokenChar(ReadOnlySpan<char> text, int i, bool inToken)
    {
        if (IsLetterOrDigitAt(text, i))
        {
            return true;
        }

        return inToken && IsJoiner(text[i]) && i + 1 < text.Length && IsLetterOrDigitAt(text, i + 1);
    }

    private static bool IsLetterOrDigitAt(ReadOnlySpan<char> text, int i)
    {
        char c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            return Rune.IsLetterOrDigit(new Rune(c, text[i + 1]));
        }

        if (char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]))
        {
            return Rune.IsLetterOrDigit(new Rune(text[i - 1], c));
        }

        return char.IsLetterOrDigit(c);
    }

    private static bool IsJoiner(char c) => c is ':' or '-' or '_' or '.' or '/' or '@' or '#';

    private static bool IsAsciiAlnum(byte b) => (uint)(b - '0') <= 9 || (uint)((b | 0x20) - 'a') <= 25;
}
