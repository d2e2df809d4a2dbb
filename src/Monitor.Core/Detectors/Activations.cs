using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Statistics;

namespace Monitor.Core.Detectors;

/// <summary>
/// D5: the served model's embeddings against the baseline's geometry (<see cref="EmbeddingProfile"/>).
/// Per record, whether the embedding lies beyond the baseline's 99.9th percentile of Mahalanobis
/// distance (such records form a key of their own, and among a key's records they corroborate it);
/// every few windows, per class, activation clustering (<see cref="TwoMeans"/>) and the spectral
/// signature (<see cref="SpectralSignature"/>) of a reservoir sample of recent projections.
/// </summary>
internal sealed class Activations
{
    /// <summary>Rise of the spectral signature's top-direction share over the baseline's that is reported.</summary>
    private const double SpectralRise = 0.15;

    /// <summary>Recent activations of a class needed before they are clustered.</summary>
    private const int MinClusterSample = 200;

    private readonly EmbeddingProfile _embedding;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;
    private readonly double[] _projection;
    private readonly List<double[]>[] _clusterSample;
    private readonly long[] _clusterSeen;
    private readonly Random _random;
    private int _windowsClosed;
    private double _error;

    /// <param name="random">Draws the reservoir sample of projections.</param>
    public Activations(EmbeddingProfile embedding, DetectorSettings settings, string[] labels, Random random)
    {
        _embedding = embedding;
        _settings = settings;
        _labels = labels;
        _projection = new double[embedding.ComponentCount];
        _clusterSample = [.. Enumerable.Range(0, labels.Length).Select(_ => new List<double[]>())];
        _clusterSeen = new long[labels.Length];
        _random = random;
    }

    /// <summary>Whether the batch carries an embedding of the baseline's width for every record.</summary>
    public bool Covers(RecordBatch batch) => batch.Embeddings.Length == batch.Count * _embedding.Width;

    /// <summary>Projects the embedding of a record served <paramref name="label"/>, samples it for clustering; returns whether it is an outlier.</summary>
    public bool Observe(ReadOnlySpan<float> embedding, int label)
    {
        double distance = _embedding.Distance(embedding, _projection, out _error);
        Sample(label);
        return distance > _embedding.OutlierThreshold || _error > _embedding.ReconstructionThreshold;
    }

    /// <summary>The direction of the embedding last observed (<see cref="EmbeddingProfile.Direction"/>).</summary>
    public void Direction(Span<double> direction) => _embedding.Direction(_projection, _error, direction);

    /// <summary>A key's records whose embeddings are outliers, against the count the baseline's outlier rate expects (Poisson tail).</summary>
    public Corroboration? Corroborate(Candidate candidate)
    {
        if (candidate.Embedded <= 0 || candidate.Key.Kind == KeyKind.EmbeddingOutlier)
        {
            return null;
        }

        double expected = candidate.Embedded * _embedding.OutlierRate;
        if (candidate.Outliers >= 3 && PoissonTail.AtLeast(candidate.Outliers, expected) < _settings.CorroborationP)
        {
            return new Corroboration(DetectorId.D5, string.Create(CultureInfo.InvariantCulture,
                $"{candidate.Outliers} of {candidate.Embedded} embeddings beyond the baseline's 99.9th percentile of Mahalanobis distance; {expected:F2} expected"));
        }

        return null;
    }

    /// <summary>At a window's close: every <see cref="DetectorSettings.ClusterEveryWindows"/> windows, clusters each class's sample and starts it afresh.</summary>
    public IReadOnlyList<ClassAlarm> CloseWindow() =>
        ++_windowsClosed % _settings.ClusterEveryWindows == 0 ? Cluster() : [];

    private List<ClassAlarm> Cluster()
    {
        var alarms = new List<ClassAlarm>();
        for (int c = 0; c < _clusterSample.Length; c++)
        {
            (double minority, double silhouette) = TwoMeans.Split(_clusterSample[c], seed: 3);
            double spectral = SpectralSignature.TopShare(_clusterSample[c]);
            double baselineSpectral = _embedding.SpectralShare.Length > c ? _embedding.SpectralShare[c] : spectral;

            // Activation Clustering's rule (minority under 35%, silhouette over 0.10), and the split must be
            // new: clearly better separated than the same class's activations in the baseline.
            bool enough = _clusterSample[c].Count >= MinClusterSample;
            bool split = enough && minority is > 0 and < 0.35 && silhouette > 0.10 && silhouette >= _embedding.Silhouette[c] + 0.10;
            bool signature = enough && spectral >= baselineSpectral + SpectralRise;
            if (split || signature)
            {
                alarms.Add(new ClassAlarm(DetectorId.D5, c, double.NaN, string.Create(CultureInfo.InvariantCulture,
                    $"activations of class '{_labels[c]}' over {_clusterSample[c].Count} recent records: 2-means minority {minority:P1}, silhouette {silhouette:F2} " +
                    $"(baseline {_embedding.MinorityShare[c]:P1}, {_embedding.Silhouette[c]:F2}); spectral signature {spectral:P1} of the variance on the top direction (baseline {baselineSpectral:P1})")));
            }

            _clusterSample[c].Clear();
            _clusterSeen[c] = 0;
        }

        return alarms;
    }

    /// <summary>Reservoir sampling (algorithm R) of the class's projections.</summary>
    private void Sample(int label)
    {
        List<double[]> sample = _clusterSample[label];
        long seen = ++_clusterSeen[label];
        if (sample.Count < _settings.ClusterSample)
        {
            sample.Add((double[])_projection.Clone());
        }
        else if (_random.NextInt64(seen) < _settings.ClusterSample)
        {
            _projection.CopyTo(sample[_random.Next(sample.Count)], 0);
        }
    }
}
