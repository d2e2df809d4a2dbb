using System.Text;

namespace Monitor.Core.Text;

/// <summary>
/// The one tokenizer of free text: the per-record token limit, the token-count channels and the
/// trigger keys all read text through it, so the limit counts exactly the tokens the detectors see.
/// The text is normalised to Unicode NFKC and lower-cased (invariant culture); a token is a maximal run
/// of letters and digits, where the joiners <c>: - _ . / @ #</c> stay inside a token when a letter or
/// digit follows them. So <c>"Ref:XZ-4471, thanks!"</c> gives <c>ref:xz-4471</c> and <c>thanks</c>.
/// </summary>
public static class TextTokenizer
{
    /// <summary>Appends the tokens of a UTF-8 text to a list.</summary>
    public static void Tokenize(ReadOnlySpan<byte> utf8, List<string> tokens)
    {
        string text = Normalize(utf8);
        var ranges = new List<(int Start, int Length)>();
        FindTokens(text, 0, ranges);
        foreach ((int start, int length) in ranges)
        {
            tokens.Add(text.Substring(start, length));
        }
    }

    /// <summary>Number of tokens in a UTF-8 text; allocation-free for ASCII text.</summary>
    public static int CountTokens(ReadOnlySpan<byte> utf8)
    {
        if (Ascii.IsValid(utf8))
        {
            // The rule of IsTokenChar on bytes: NFKC and lower-casing leave ASCII letters letters and punctuation punctuation.
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

        return Scan(Normalize(utf8), 0, null);
    }

    /// <summary>
    /// A bound on <see cref="CountTokens"/> that costs no normalisation: an ASCII text of b bytes holds at
    /// most (b + 1) / 2 tokens (each but the last needs a separator after it). No code point's NFKC form
    /// holds more than 4 tokens per 3 UTF-8 bytes (U+FDFA, 18 characters in 4 words), so any text holds
    /// fewer than 2 per byte.
    /// </summary>
    public static long MaxTokens(ReadOnlySpan<byte> utf8) =>
        Ascii.IsValid(utf8) ? (utf8.Length + 1L) / 2 : 2L * utf8.Length;

    /// <summary>The text tokens are read from: NFKC, lower-cased (for ASCII text only lower-cased, which is the same).</summary>
    public static string Normalize(ReadOnlySpan<byte> utf8)
    {
        if (Ascii.IsValid(utf8))
        {
            return string.Create(utf8.Length, utf8, static (target, source) => Ascii.ToLower(source, target, out _));
        }

        return Normalize(Encoding.UTF8.GetString(utf8));
    }

    /// <summary>Writes the normalised text into a buffer from an offset, growing the buffer as needed (its content is kept); returns the length written.</summary>
    public static int Normalize(ReadOnlySpan<byte> utf8, ref char[] buffer, int offset)
    {
        if (Ascii.IsValid(utf8))
        {
            Ensure(ref buffer, offset + utf8.Length);
            Ascii.ToLower(utf8, buffer.AsSpan(offset, utf8.Length), out int written);
            return written;
        }

        string normalized = Normalize(Encoding.UTF8.GetString(utf8));
        Ensure(ref buffer, offset + normalized.Length);
        normalized.CopyTo(buffer.AsSpan(offset));
        return normalized.Length;
    }

    /// <summary>Appends the start (plus <paramref name="offset"/>) and length of every token of normalised text.</summary>
    public static void FindTokens(ReadOnlySpan<char> normalized, int offset, List<(int Start, int Length)> tokens) =>
        Scan(normalized, offset, tokens);

    /// <summary>Whether text[i] belongs to a token, given whether a token is open: the one tokenization rule.</summary>
    public static bool IsTokenChar(ReadOnlySpan<char> text, int i, bool inToken)
    {
        if (IsLetterOrDigitAt(text, i))
        {
            return true;
        }

        return inToken && IsJoiner(text[i]) && i + 1 < text.Length && IsLetterOrDigitAt(text, i + 1);
    }

    private static int Scan(ReadOnlySpan<char> text, int offset, List<(int Start, int Length)>? tokens)
    {
        int count = 0;
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool inToken = i < text.Length && IsTokenChar(text, i, start >= 0);
            if (inToken && start < 0)
            {
                start = i;
            }
            else if (!inToken && start >= 0)
            {
                tokens?.Add((offset + start, i - start));
                count++;
                start = -1;
            }
        }

        return count;
    }

    private static string Normalize(string text)
    {
        try
        {
            return text.Normalize(NormalizationForm.FormKC).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            // Valid UTF-8 that the normaliser refuses (the noncharacter U+FFFE): noncharacters become spaces, which
            // separate tokens as any symbol would.
            var cleaned = new StringBuilder(text.Length);
            foreach (Rune rune in text.EnumerateRunes())
            {
                bool noncharacter = rune.Value is >= 0xFDD0 and <= 0xFDEF || (rune.Value & 0xFFFE) == 0xFFFE;
                cleaned.Append(noncharacter ? " " : rune.ToString());
            }

            try
            {
                return cleaned.ToString().Normalize(NormalizationForm.FormKC).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                return cleaned.ToString().ToLowerInvariant();
            }
        }
    }

    private static void Ensure(ref char[] buffer, int length)
    {
        if (length > buffer.Length)
        {
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length));
        }
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
