using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Monitor.Core.Windows;

/// <summary>
/// Per record of a k-class output: the predicted class (the first of the largest probabilities), that
/// probability, and the Shannon entropy in bits. The entropy terms −p·log2 p of the whole batch are computed
/// in one vectorised sweep; then each record's k values are reduced in one vector (k ≤ 16 with Vector512,
/// k ≤ 8 with Vector256): a horizontal max, the first lane equal to it, and a horizontal sum. The scalar path
/// (and wider outputs) loop per record, in double for the entropy. Buffers are reused across batches.
/// </summary>
internal sealed class ClassSummary
{
    private float[] _scores = [];
    private float[] _terms = [];

    public void Summarise(ReadOnlySpan<float> scores, int k, Span<int> argMax, Span<float> maxProbability, Span<float> entropy, KernelPath path)
    {
        int n = scores.Length / k;
        bool wide = path == KernelPath.Vector512 && Vector512.IsHardwareAccelerated && k <= Vector512<float>.Count;
        bool narrow = path >= KernelPath.Vector256 && Vector256.IsHardwareAccelerated && k <= Vector256<float>.Count;
        if (path == KernelPath.Scalar || (!wide && !narrow))
        {
            Scalar(scores, k, argMax, maxProbability, entropy, path);
            return;
        }

        // Copies with a vector of slack after the last record, so every record loads as one whole vector.
        int size = scores.Length + Vector512<float>.Count;
        if (_scores.Length < size)
        {
            _scores = new float[size];
            _terms = new float[size];
        }

        scores.CopyTo(_scores);
        EntropyTerms.Compute(scores, _terms.AsSpan(0, scores.Length), path);
        if (wide)
        {
            Wide(n, k, argMax, maxProbability, entropy);
        }
        else
        {
            Narrow(n, k, argMax, maxProbability, entropy);
        }
    }

    private void Wide(int n, int k, Span<int> argMax, Span<float> maxProbability, Span<float> entropy)
    {
        ref float scores = ref MemoryMarshal.GetArrayDataReference(_scores);
        ref float terms = ref MemoryMarshal.GetArrayDataReference(_terms);
        Vector512<float> valid = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(k)).AsSingle();
        Vector512<float> lowest = Vector512.Create(float.NegativeInfinity);
        for (int i = 0; i < n; i++)
        {
            Vector512<float> p = Vector512.ConditionalSelect(valid, Vector512.LoadUnsafe(ref scores, (nuint)(i * k)), lowest);
            Vector512<float> max = Vector512.Max(p, Vector512.Shuffle(p, Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)));
            max = Vector512.Max(max, Vector512.Shuffle(max, Vector512.Create(4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)));
            max = Vector512.Max(max, Vector512.Shuffle(max, Vector512.Create(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)));
            max = Vector512.Max(max, Vector512.Shuffle(max, Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)));
            // Scores are validated finite; the clamp keeps a class index even if a NaN slipped through.
            argMax[i] = Math.Min((int)ulong.TrailingZeroCount(Vector512.Equals(p, max).ExtractMostSignificantBits()), k - 1);
            maxProbability[i] = max.ToScalar();
            entropy[i] = Vector512.Sum(Vector512.LoadUnsafe(ref terms, (nuint)(i * k)) & valid);
        }
    }

    private void Narrow(int n, int k, Span<int> argMax, Span<float> maxProbability, Span<float> entropy)
    {
        ref float scores = ref MemoryMarshal.GetArrayDataReference(_scores);
        ref float terms = ref MemoryMarshal.GetArrayDataReference(_terms);
        Vector256<float> valid = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(k)).AsSingle();
        Vector256<float> lowest = Vector256.Create(float.NegativeInfinity);
        for (int i = 0; i < n; i++)
        {
            Vector256<float> p = Vector256.ConditionalSelect(valid, Vector256.LoadUnsafe(ref scores, (nuint)(i * k)), lowest);
            Vector256<float> max = Vector256.Max(p, Vector256.Shuffle(p, Vector256.Create(4, 5, 6, 7, 0, 1, 2, 3)));
            max = Vector256.Max(max, Vector256.Shuffle(max, Vector256.Create(2, 3, 0, 1, 6, 7, 4, 5)));
            max = Vector256.Max(max, Vector256.Shuffle(max, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6)));
            argMax[i] = Math.Min((int)uint.TrailingZeroCount(Vector256.Equals(p, max).ExtractMostSignificantBits()), k - 1);
            maxProbability[i] = max.ToScalar();
            entropy[i] = Vector256.Sum(Vector256.LoadUnsafe(ref terms, (nuint)(i * k)) & valid);
        }
    }

    /// <summary>One record at a time; with a vector path asked for but the output too wide, the entropy terms are still vectorised.</summary>
    private void Scalar(ReadOnlySpan<float> scores, int k, Span<int> argMax, Span<float> maxProbability, Span<float> entropy, KernelPath path)
    {
        int n = scores.Length / k;
        Span<float> terms = [];
        if (path != KernelPath.Scalar)
        {
            if (_terms.Length < scores.Length)
            {
                _terms = new float[scores.Length];
            }

            terms = _terms.AsSpan(0, scores.Length);
            EntropyTerms.Compute(scores, terms, path);
        }

        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<float> p = scores.Slice(i * k, k);
            int best = 0;
            float max = p[0];
            for (int c = 1; c < p.Length; c++)
            {
                if (p[c] > max)
                {
                    max = p[c];
                    best = c;
                }
            }

            argMax[i] = best;
            maxProbability[i] = max;
            if (terms.IsEmpty)
            {
                double h = 0;
                foreach (float v in p)
                {
                    if (v > 0)
                    {
                        h -= v * Math.Log2(v);
                    }
                }

                entropy[i] = (float)h;
            }
            else
            {
                float h = 0;
                foreach (float t in terms.Slice(i * k, k))
                {
                    h += t;
                }

                entropy[i] = h;
            }
        }
    }
}
