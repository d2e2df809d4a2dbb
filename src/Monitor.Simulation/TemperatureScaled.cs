using Monitor.Core.Ingest;

namespace Monitor.Simulation;

/// <summary>
/// A clean retraining's outputs, synthetic: the same classifier's probabilities at another temperature, p'(c) ∝ p(c)^(1/T) (for two
/// classes, the logit divided by T). Below 1 its confidences are systematically sharper than the original's, on every record alike:
/// against the original's percentiles of confidence far more than 0.1% of its clean records are beyond them.
/// </summary>
public sealed class TemperatureScaled(double temperature)
{
    /// <summary>The batch with every record's class probabilities (<see cref="RecordBatch.Scores"/>) rescaled; everything else shared.</summary>
    /// <param name="classes">Probabilities per record: 1 for a binary output's single score, else the class count.</param>
    public RecordBatch Apply(RecordBatch batch, int classes)
    {
        ReadOnlySpan<float> source = batch.Scores.Span;
        var scaled = new float[source.Length];
        Span<double> p = stackalloc double[Math.Max(classes, 2)];
        for (int r = 0; r < batch.Count; r++)
        {
            if (classes == 1)
            {
                double s = source[r];
                double logit = Math.Log(s / (1 - s)) / temperature;
                scaled[r] = (float)(1 / (1 + Math.Exp(-logit)));
                continue;
            }

            double sum = 0;
            for (int c = 0; c < classes; c++)
            {
                p[c] = Math.Pow(Math.Max(source[r * classes + c], 1e-12), 1 / temperature);
                sum += p[c];
            }

            for (int c = 0; c < classes; c++)
            {
                scaled[r * classes + c] = (float)(p[c] / sum);
            }
        }

        return new RecordBatch
        {
            Count = batch.Count, Numeric = batch.Numeric, Scores = scaled, Categorical = batch.Categorical, Text = batch.Text,
            Embeddings = batch.Embeddings, RequestIds = batch.RequestIds, PairedVersion = batch.PairedVersion, PairedScores = batch.PairedScores,
        };
    }
}
