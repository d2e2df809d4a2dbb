using Monitor.Core.Ingest;

namespace Monitor.Simulation;

/// <summary>
/// A clean retraining's hidden layer, synthetic: the same records' embeddings in another basis, e' = s·Q·e + b with Q a random
/// rotation (Gram–Schmidt on a seeded Gaussian matrix), s a scale and b a shift. Its geometry is another network's: against the
/// original's embedding profile most of its clean records are outliers, against its own none beyond the usual 0.1%.
/// </summary>
public sealed class RetrainedEmbedding
{
    private readonly int _width;
    private readonly double[] _rotation;
    private readonly double[] _shift;
    private readonly double _scale;

    public RetrainedEmbedding(int width, int seed, double scale = 1.5, double shift = 1.0)
    {
        _width = width;
        _scale = scale;
        var random = new Random(seed);
        var draws = new Draws(random);
        _rotation = new double[width * width];
        for (int i = 0; i < width; i++)
        {
            Span<double> row = _rotation.AsSpan(i * width, width);
            for (int j = 0; j < width; j++)
            {
                row[j] = draws.Normal();
            }

            for (int p = 0; p < i; p++)
            {
                ReadOnlySpan<double> previous = _rotation.AsSpan(p * width, width);
                double dot = 0;
                for (int j = 0; j < width; j++)
                {
                    dot += row[j] * previous[j];
                }

                for (int j = 0; j < width; j++)
                {
                    row[j] -= dot * previous[j];
                }
            }

            double norm = 0;
            for (int j = 0; j < width; j++)
            {
                norm += row[j] * row[j];
            }

            norm = Math.Sqrt(norm);
            for (int j = 0; j < width; j++)
            {
                row[j] /= norm;
            }
        }

        _shift = [.. Enumerable.Range(0, width).Select(_ => shift * draws.Normal())];
    }

    /// <summary>The batch with every embedding moved into the retrained network's space; everything else shared.</summary>
    public RecordBatch Apply(RecordBatch batch)
    {
        ReadOnlySpan<float> source = batch.Embeddings.Span;
        var moved = new float[source.Length];
        for (int r = 0; r < batch.Count; r++)
        {
            ReadOnlySpan<float> e = source.Slice(r * _width, _width);
            for (int i = 0; i < _width; i++)
            {
                double sum = 0;
                for (int j = 0; j < _width; j++)
                {
                    sum += _rotation[i * _width + j] * e[j];
                }

                moved[r * _width + i] = (float)(_scale * sum + _shift[i]);
            }
        }

        return new RecordBatch
        {
            Count = batch.Count, Numeric = batch.Numeric, Scores = batch.Scores, Categorical = batch.Categorical, Text = batch.Text,
            Embeddings = moved, RequestIds = batch.RequestIds, PairedVersion = batch.PairedVersion, PairedScores = batch.PairedScores,
        };
    }
}
