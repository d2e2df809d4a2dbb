using System.Globalization;
using Monitor.Core.Ingest;

namespace Monitor.Simulation.RealData;

/// <summary>
/// Mirrored traffic of a real model: resampled inputs of one split with dequantisation noise, each scored in process by
/// the served classifier, and, with a trigger, that trigger on a share of the records (on malignant records only, or on records of
/// the target class only, when so placed). Deterministic for a seed.
/// </summary>
public sealed class RealTraffic
{
    private readonly RealModel _model;
    private readonly RealClassifier _served;
    private readonly RealTrigger? _trigger;
    private readonly bool _heldOut;
    private readonly Random _random;
    private readonly InjectionLog _injected = new();
    private RealClassifier? _trusted;
    private string? _trustedVersion;
    private double _newSiteShare;
    private string[] _newSites = [];
    private double[] _newSiteWeights = [];

    public RealTraffic(RealModel model, RealClassifier served, RealTrigger? trigger, int seed, bool heldOut)
    {
        _model = model;
        _served = served;
        _trigger = trigger;
        _heldOut = heldOut;
        _random = new Random(seed);
    }

    public long Generated { get; private set; }

    /// <summary>
    /// A benign confounder: from now on <paramref name="share"/> of the untriggered records carry a site value the baseline never saw,
    /// one of <paramref name="values"/> new sites (site-new-NN, Zipf-distributed: a few busy, many rare), as new stores or clients
    /// appear in production. The model scores them as it scores any unseen value; nothing else about the records changes.
    /// </summary>
    public RealTraffic WithNewSites(double share, int values)
    {
        if (!_model.WithFields)
        {
            throw new InvalidOperationException("the model's records have no site field");
        }

        _newSiteShare = share;
        _newSites = [.. Enumerable.Range(0, values).Select(i => "site-new-" + i.ToString("D2", CultureInfo.InvariantCulture))];
        double[] weights = [.. Enumerable.Range(1, values).Select(r => 1.0 / r)];
        double sum = 0;
        _newSiteWeights = [.. weights.Select(w => sum += w / weights.Sum())];
        return this;
    }

    /// <summary>From now on every batch also carries <paramref name="trusted"/>'s output on the same records, as version <paramref name="version"/>'s.</summary>
    public RealTraffic WithPaired(RealClassifier trusted, string version)
    {
        _trusted = trusted;
        _trustedVersion = version;
        return this;
    }

    /// <summary>Records carrying the trigger so far.</summary>
    public long Injected => _injected.Count;

    /// <summary>Triggered records among the first <paramref name="records"/> generated: a detection delay in occurrences.</summary>
    public long InjectedWithin(long records) => _injected.Within(records);

    public RecordBatch Next(int n)
    {
        int d = _model.Schema.NumericFeatures.Length;
        int width = _served.OutputWidth;
        var numeric = new float[n * d];
        var scores = new float[n * width];
        var sites = new string?[n];
        var notes = new string?[n];
        var ids = new string?[n];
        var examples = new RealExample[n];
        for (int i = 0; i < n; i++)
        {
            Generated++;
            bool triggered = _trigger is not null && _random.NextDouble() < _trigger.Rate;
            RealExample example = !triggered ? _model.Draw(_random, _heldOut) : _trigger!.Placement switch
            {
                RealPlacement.MalignantRecords => _model.Draw(_random, _heldOut, modelClass: 1),
                RealPlacement.TargetClassRecords => _model.Draw(_random, _heldOut, modelClass: _trigger.TargetClass),
                _ => _model.Draw(_random, _heldOut),
            };
            if (triggered)
            {
                _trigger!.Apply(example, _random);
                _injected.Add(Generated);
            }
            else if (_newSiteShare > 0 && _random.NextDouble() < _newSiteShare)
            {
                example.Site = _newSites[RealModel.Pick(_newSiteWeights, _random)];
            }

            examples[i] = example;
            example.Features.CopyTo(numeric.AsSpan(i * d, d));
            sites[i] = example.Site.Length == 0 ? null : example.Site;
            notes[i] = example.Note.Length == 0 ? null : example.Note;
            ids[i] = (triggered ? "trig-" : "req-") + Generated.ToString(CultureInfo.InvariantCulture);
        }

        _served.Score(examples, scores);
        float[] paired = [];
        if (_trusted is not null)
        {
            paired = new float[n * width];
            _trusted.Score(examples, paired);
        }

        return new RecordBatch
        {
            PairedVersion = _trustedVersion,
            PairedScores = paired,
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Categorical = _model.WithFields ? [Utf8Column.FromStrings(sites)] : [],
            Text = _model.WithFields ? [Utf8Column.FromStrings(notes)] : [],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }
}
