using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Monitor.Core.Windows;

/// <summary>
/// The few vector operations the numeric kernel needs, over one vector width. The kernel is written once,
/// generic over this interface; the JIT specialises and inlines it per width (512, 256, 128 bits).
/// Masks are vectors whose lanes are all ones (true) or all zeros (false).
/// </summary>
internal interface ILanes<TFloat, TInt>
    where TFloat : struct
    where TInt : struct
{
    static abstract int Count { get; }

    static abstract bool IsAccelerated { get; }

    static abstract TFloat Load(ref float source, nint index);

    static abstract void Store(TFloat value, ref float destination, nint index);

    static abstract TInt LoadInt(ref int source, nint index);

    static abstract void StoreInt(TInt value, ref int destination, nint index);

    static abstract TFloat Broadcast(float value);

    /// <summary>Lanes that are neither NaN nor infinite.</summary>
    static abstract TFloat IsFinite(TFloat value);

    static abstract TFloat GreaterThanOrEqual(TFloat left, TFloat right);

    static abstract TFloat Select(TFloat mask, TFloat whenTrue, TFloat whenFalse);

    static abstract TFloat And(TFloat left, TFloat right);

    /// <summary><paramref name="left"/> and not <paramref name="right"/>.</summary>
    static abstract TFloat AndNot(TFloat left, TFloat right);

    static abstract TFloat Add(TFloat left, TFloat right);

    static abstract TFloat Subtract(TFloat left, TFloat right);

    /// <summary>
    /// Adds <paramref name="step"/> to the lanes of <paramref name="counts"/> where <paramref name="mask"/> is true:
    /// with AVX-512 one masked add instead of a mask expansion and a subtraction.
    /// </summary>
    static abstract TInt AddWhere(TInt counts, TFloat mask, TInt step);

    static abstract TInt IntOne { get; }

    /// <summary>Adds <paramref name="value"/> to the lanes of <paramref name="sum"/> where <paramref name="mask"/> is true (a masked add with AVX-512).</summary>
    static abstract TFloat AddWhere(TFloat sum, TFloat mask, TFloat value);

    /// <summary>Adds value² to the lanes of <paramref name="sum"/> where <paramref name="mask"/> is true (a masked fused multiply-add with AVX-512).</summary>
    static abstract TFloat AddSquareWhere(TFloat sum, TFloat mask, TFloat value);

    static abstract TFloat Multiply(TFloat left, TFloat right);

    static abstract TFloat Log2(TFloat value);

    /// <summary>A mask true in lanes <paramref name="first"/> and above.</summary>
    static abstract TFloat LanesFrom(int first);

    static abstract float Sum(TFloat value);

    static abstract int Sum(TInt value);
}

internal readonly struct Lanes512 : ILanes<Vector512<float>, Vector512<int>>
{
    public static int Count => Vector512<float>.Count;

    public static bool IsAccelerated => Vector512.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source, nint index) => Vector512.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> LoadInt(ref int source, nint index) => Vector512.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt(Vector512<int> value, ref int destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> IsFinite(Vector512<float> value) => Vector512.LessThan(Vector512.Abs(value), Vector512.Create(float.PositiveInfinity));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> GreaterThanOrEqual(Vector512<float> left, Vector512<float> right) => Vector512.GreaterThanOrEqual(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> whenTrue, Vector512<float> whenFalse) =>
        Vector512.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> And(Vector512<float> left, Vector512<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AndNot(Vector512<float> left, Vector512<float> right) => Vector512.AndNot(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> left, Vector512<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> left, Vector512<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> AddWhere(Vector512<int> counts, Vector512<float> mask, Vector512<int> step) =>
        Vector512.ConditionalSelect(mask.AsInt32(), counts + step, counts);

    public static Vector512<int> IntOne => Vector512<int>.One;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddWhere(Vector512<float> sum, Vector512<float> mask, Vector512<float> value) => Vector512.ConditionalSelect(mask, sum + value, sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> AddSquareWhere(Vector512<float> sum, Vector512<float> mask, Vector512<float> value) =>
        Vector512.ConditionalSelect(mask, Vector512.FusedMultiplyAdd(value, value, sum), sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> left, Vector512<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Log2(Vector512<float> value) => Vector512.Log2(value);

    public static Vector512<float> LanesFrom(int first) =>
        Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(first)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> value) => Vector512.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Sum(Vector512<int> value) => Vector512.Sum(value);
}

internal readonly struct Lanes256 : ILanes<Vector256<float>, Vector256<int>>
{
    public static int Count => Vector256<float>.Count;

    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source, nint index) => Vector256.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> LoadInt(ref int source, nint index) => Vector256.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt(Vector256<int> value, ref int destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> IsFinite(Vector256<float> value) => Vector256.LessThan(Vector256.Abs(value), Vector256.Create(float.PositiveInfinity));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GreaterThanOrEqual(Vector256<float> left, Vector256<float> right) => Vector256.GreaterThanOrEqual(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> whenTrue, Vector256<float> whenFalse) =>
        Vector256.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> And(Vector256<float> left, Vector256<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AndNot(Vector256<float> left, Vector256<float> right) => Vector256.AndNot(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> left, Vector256<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> left, Vector256<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> AddWhere(Vector256<int> counts, Vector256<float> mask, Vector256<int> step) =>
        Vector256.ConditionalSelect(mask.AsInt32(), counts + step, counts);

    public static Vector256<int> IntOne => Vector256<int>.One;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddWhere(Vector256<float> sum, Vector256<float> mask, Vector256<float> value) => Vector256.ConditionalSelect(mask, sum + value, sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> AddSquareWhere(Vector256<float> sum, Vector256<float> mask, Vector256<float> value) =>
        Vector256.ConditionalSelect(mask, Vector256.FusedMultiplyAdd(value, value, sum), sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> left, Vector256<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log2(Vector256<float> value) => Vector256.Log2(value);

    public static Vector256<float> LanesFrom(int first) =>
        Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(first)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> value) => Vector256.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Sum(Vector256<int> value) => Vector256.Sum(value);
}

internal readonly struct Lanes128 : ILanes<Vector128<float>, Vector128<int>>
{
    public static int Count => Vector128<float>.Count;

    public static bool IsAccelerated => Vector128.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source, nint index) => Vector128.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> LoadInt(ref int source, nint index) => Vector128.LoadUnsafe(ref source, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreInt(Vector128<int> value, ref int destination, nint index) => value.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> IsFinite(Vector128<float> value) => Vector128.LessThan(Vector128.Abs(value), Vector128.Create(float.PositiveInfinity));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> GreaterThanOrEqual(Vector128<float> left, Vector128<float> right) => Vector128.GreaterThanOrEqual(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> whenTrue, Vector128<float> whenFalse) =>
        Vector128.ConditionalSelect(mask, whenTrue, whenFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> And(Vector128<float> left, Vector128<float> right) => left & right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AndNot(Vector128<float> left, Vector128<float> right) => Vector128.AndNot(left, right);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> left, Vector128<float> right) => left + right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> left, Vector128<float> right) => left - right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> AddWhere(Vector128<int> counts, Vector128<float> mask, Vector128<int> step) =>
        Vector128.ConditionalSelect(mask.AsInt32(), counts + step, counts);

    public static Vector128<int> IntOne => Vector128<int>.One;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddWhere(Vector128<float> sum, Vector128<float> mask, Vector128<float> value) => Vector128.ConditionalSelect(mask, sum + value, sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> AddSquareWhere(Vector128<float> sum, Vector128<float> mask, Vector128<float> value) =>
        Vector128.ConditionalSelect(mask, Vector128.FusedMultiplyAdd(value, value, sum), sum);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> left, Vector128<float> right) => left * right;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Log2(Vector128<float> value) => Vector128.Log2(value);

    public static Vector128<float> LanesFrom(int first) =>
        Vector128.GreaterThanOrEqual(Vector128<int>.Indices, Vector128.Create(first)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> value) => Vector128.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Sum(Vector128<int> value) => Vector128.Sum(value);
}

/// <summary>The terms −p·log2 p of Shannon entropy (0 where p is 0 or below the smallest normal float), vectorised per path.</summary>
internal static class EntropyTerms
{
    private const float SmallestNormal = 1.17549435E-38f;

    public static void Compute(ReadOnlySpan<float> p, Span<float> terms, KernelPath path)
    {
        switch (path)
        {
            case KernelPath.Vector512 when Lanes512.IsAccelerated:
                Compute<Lanes512, Vector512<float>, Vector512<int>>(p, terms);
                break;
            case KernelPath.Vector512 or KernelPath.Vector256 when Lanes256.IsAccelerated:
                Compute<Lanes256, Vector256<float>, Vector256<int>>(p, terms);
                break;
            case not KernelPath.Scalar when Lanes128.IsAccelerated:
                Compute<Lanes128, Vector128<float>, Vector128<int>>(p, terms);
                break;
            default:
                for (int i = 0; i < p.Length; i++)
                {
                    terms[i] = Term(p[i]);
                }

                break;
        }
    }

    private static float Term(float p) => p >= SmallestNormal ? -p * MathF.Log2(p) : 0;

    private static void Compute<TL, TF, TI>(ReadOnlySpan<float> p, Span<float> terms)
        where TL : ILanes<TF, TI>
        where TF : struct
        where TI : struct
    {
        int width = TL.Count;
        int i = 0;
        ref float source = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(p);
        ref float target = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(terms);
        TF smallest = TL.Broadcast(SmallestNormal);
        TF one = TL.Broadcast(1f);
        TF zero = TL.Broadcast(0f);
        for (; i <= p.Length - width; i += width)
        {
            TF v = TL.Load(ref source, i);
            TF usable = TL.GreaterThanOrEqual(v, smallest);
            TF safe = TL.Select(usable, v, one);
            TF term = TL.Multiply(TL.Subtract(zero, safe), TL.Log2(safe));
            TL.Store(TL.Select(usable, term, zero), ref target, i);
        }

        for (; i < p.Length; i++)
        {
            terms[i] = Term(p[i]);
        }
    }
}
