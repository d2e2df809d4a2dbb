using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Text;

namespace Monitor.Core.Windows;

/// <summary>Values of one numeric channel inside a batch: record i is <c>Data[Offset + i * Stride]</c>.</summary>
public readonly record struct NumericView(ReadOnlyMemory<float> Data, int Offset, int Stride);

/// <summary>
/// A batch turned into channels: a view per numeric channel (into the batch, or into scratch for
/// derived values) and a code per record for each categorical channel (−1 = missing; the table size
/// = not in the table). Owned by one <see cref="BatchPreparer"/> and valid until its next call.
/// </summary>
public sealed class PreparedBatch
{
    internal PreparedBatch(int numericChannels, int categoricalChannels)
    {
        Numeric = new NumericView[numericChannels];
        Codes = new int[categoricalChannels][];
        for (int c = 0; c < categoricalChannels; c++)
        {
            Codes[c] = [];
        }
    }

    public int Count { get; internal set; }
    public NumericView[] Numeric { get; }
    public int[][] Codes { get; }

    /// <summary>Copies the given records of another prepared batch into this one's own buffers.</summary>
    public void GatherFrom(PreparedBatch source, ReadOnlySpan<int> indices, ref float[][] numericScratch)
    {
        int n = indices.Length;
        if (numericScratch.Length != Numeric.Length)
        {
            numericScratch = new float[Numeric.Length][];
        }

        for (int c = 0; c < Numeric.Length; c++)
        {
            float[] target = numericScratch[c] is { } existing && existing.Length >= n ? existing : (numericScratch[c] = new float[n]);
            NumericView view = source.Numeric[c];
            ReadOnlySpan<float> data = view.Data.Span;
            for (int i = 0; i < n; i++)
            {
                target[i] = data[view.Offset + indices[i] * view.Stride];
            }

            Numeric[c] = new NumericView(target, 0, 1);
        }

        for (int c = 0; c < Codes.Length; c++)
        {
            if (Codes[c].Length < n)
            {
                Codes[c] = new int[n];
            }

            int[] codes = source.Codes[c];
            for (int i = 0; i < n; i++)
            {
                Codes[c][i] = codes[indices[i]];
            }
        }

        Count = n;
    }
}

/// <summary>
/// Turns record batches into channel values: views into the numeric columns, derived output values
/// (confidence, entropy, score), token counts of text fields, and category codes.
/// </summary>
public sealed class BatchPreparer
{
    private readonly ModelSchema _schema;
    private readonly ChannelLayout _layout;
    private readonly Utf8Vocabulary?[]? _vocabularies;
    private readonly PreparedBatch _prepared;
    private readonly float[][] _derived;
    private int[] _argMax = [];
    private float[] _maxProbability = [];
    private float[] _entropy = [];
    private readonly ClassSummary _classes = new();

    /// <param name="vocabularies">Category lookups per categorical channel; without them input categories are not coded.</param>
    public BatchPreparer(ModelSchema schema, Utf8Vocabulary?[]? vocabularies)
    {
        _schema = schema;
        _layout = ChannelLayout.For(schema);
        _vocabularies = vocabularies;
        _prepared = new PreparedBatch(_layout.Numeric.Length, _layout.Categorical.Length);
        _derived = new float[_layout.Numeric.Length][];
        for (int c = 0; c < _derived.Length; c++)
        {
            _derived[c] = [];
        }
    }

    public BatchPreparer(CompiledBaseline baseline)
        : this(baseline.Profile.Schema, baseline.Vocabularies)
    {
    }

    public ChannelLayout Layout => _layout;

    /// <summary>The kernel path for the output's entropy; null takes the widest the CPU accelerates.</summary>
    public KernelPath? Path { get; init; }

    public PreparedBatch Prepare(RecordBatch batch)
    {
        int n = batch.Count;
        int k = _schema.OutputWidth;
        ReadOnlySpan<float> scores = batch.Scores.Span;
        if (k > 1)
        {
            SummariseClasses(scores, n, k);
        }

        for (int c = 0; c < _layout.Numeric.Length; c++)
        {
            NumericChannel channel = _layout.Numeric[c];
            if (channel.Source == NumericSource.Input)
            {
                _prepared.Numeric[c] = new NumericView(batch.Numeric, channel.SourceIndex, _schema.NumericFeatures.Length);
                continue;
            }

            float[] values = Scratch(c, n);
            switch (channel.Source)
            {
                case NumericSource.TextTokens:
                    Utf8Column text = batch.Text[channel.SourceIndex];
                    for (int i = 0; i < n; i++)
                    {
                        ReadOnlySpan<byte> value = text.Get(i);
                        values[i] = value.IsEmpty ? float.NaN : TextTokenizer.CountTokens(value);
                    }

                    break;
                case NumericSource.Confidence when k > 1:
                    _maxProbability.AsSpan(0, n).CopyTo(values);
                    break;
                case NumericSource.Confidence:
                    for (int i = 0; i < n; i++)
                    {
                        values[i] = Math.Max(scores[i], 1f - scores[i]);
                    }

                    break;
                case NumericSource.Entropy when k > 1:
                    _entropy.AsSpan(0, n).CopyTo(values);
                    break;
                case NumericSource.Entropy:
                    for (int i = 0; i < n; i++)
                    {
                        values[i] = BinaryEntropy(scores[i]);
                    }

                    break;
                case NumericSource.Score:
                case NumericSource.Value:
                    scores[..n].CopyTo(values);
                    break;
            }

            _prepared.Numeric[c] = new NumericView(values, 0, 1);
        }

        for (int c = 0; c < _layout.Categorical.Length; c++)
        {
            int[] codes = _prepared.Codes[c].Length >= n ? _prepared.Codes[c] : (_prepared.Codes[c] = new int[Math.Max(n, 16)]);
            CategoricalChannel channel = _layout.Categorical[c];
            if (channel.Kind == ChannelKind.OutputClass)
            {
                if (k > 1)
                {
                    _argMax.AsSpan(0, n).CopyTo(codes);
                }
                else
                {
                    for (int i = 0; i < n; i++)
                    {
                        codes[i] = scores[i] >= 0.5f ? 1 : 0;
                    }
                }
            }
            else if (_vocabularies?[c] is { } vocabulary)
            {
                Utf8Column column = batch.Categorical[channel.SourceIndex];
                for (int i = 0; i < n; i++)
                {
                    ReadOnlySpan<byte> value = column.Get(i);
                    int index = value.IsEmpty ? -1 : vocabulary.IndexOf(value);
                    codes[i] = value.IsEmpty ? -1 : index >= 0 ? index : vocabulary.Count;
                }
            }
        }

        _prepared.Count = n;
        return _prepared;
    }

    private float[] Scratch(int channel, int n)
    {
        if (_derived[channel].Length < n)
        {
            _derived[channel] = new float[Math.Max(n, 16)];
        }

        return _derived[channel];
    }

    /// <summary>Per record of a k-class output: the predicted class, its probability and the entropy in bits (see <see cref="ClassSummary"/>).</summary>
    private void SummariseClasses(ReadOnlySpan<float> scores, int n, int k)
    {
        if (_argMax.Length < n)
        {
            int size = Math.Max(n, 16);
            _argMax = new int[size];
            _maxProbability = new float[size];
            _entropy = new float[size];
        }

        _classes.Summarise(scores[..(n * k)], k, _argMax, _maxProbability, _entropy, Path ?? NumericKernel.BestPath);
    }

    private static float BinaryEntropy(float p)
    {
        double h = 0;
        if (p > 0)
        {
            h -= p * Math.Log2(p);
        }

        if (p < 1)
        {
            h -= (1 - p) * Math.Log2(1 - p);
        }

        return (float)h;
    }
}
