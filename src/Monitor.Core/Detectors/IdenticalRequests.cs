using System.Globalization;
using Monitor.Core.Baselines;

namespace Monitor.Core.Detectors;

/// <summary>
/// D7: a key's evidence counts distinct inputs (<see cref="InputPrint"/>). A surprising record (or embedding outlier)
/// repeating an input the key already counted is a repeat, which adds to no count another detector reads; a key whose
/// records are mostly repeats is reported as identical requests (Info).
/// </summary>
internal sealed class IdenticalRequests
{
    private readonly InputPrint _inputs;
    private readonly DetectorSettings _settings;
    private readonly string[] _labels;

    /// <summary>The first of the current record's keys whose records are mostly repeats: the one its repetition is reported under.</summary>
    private Candidate? _repeated;

    public IdenticalRequests(BaselineProfile baseline, TriggerProfile profile, DetectorSettings settings, string[] labels)
        : this(baseline, profile.Values, settings, labels)
    {
    }

    /// <summary>For a regression output's keys (<see cref="RegressionDetector"/>): the inputs printed on the value tables given.</summary>
    public IdenticalRequests(BaselineProfile baseline, ValueKeyTables values, DetectorSettings settings, string[] labels)
    {
        _inputs = new InputPrint(baseline, values, settings.RememberedInputs);
        _settings = settings;
        _labels = labels;
    }

    /// <summary>The lanes of the input prints each candidate remembers (the candidate table sizes its memory by them).</summary>
    public ulong Lanes => _inputs.Lanes;

    /// <summary>
    /// Whether the record repeats an input the candidate already counted; then it is counted as a repeat only. Only a record
    /// that could be a trigger's (surprising, a tail hit, or an embedding outlier), or one the residual test takes as evidence,
    /// is looked up: every hit of the skew test and every piece of D3 and D5 evidence comes from such records; the others add
    /// no hit and only dilute a skew, so repeating them gains nothing, and looking them all up would cost a fifth of the
    /// detectors' time.
    /// </summary>
    /// <param name="fineBins">The record's fine bins, as the key extractor computed them for its keys.</param>
    /// <param name="rankEvidence">The residual test judges the key and the record ranks above its lower threshold for some class:
    /// its record is evidence there whatever it was served, so a copy of it must not count again.</param>
    public bool Repeats(Candidate candidate, in RecordContext record, ReadOnlySpan<int> fineBins, bool rankEvidence = false)
    {
        if (!(record.Surprising || record.TailHit || record.Outlier || rankEvidence) || _settings.RememberedInputs <= 0 ||
            !candidate.Inputs.Repeats(_inputs.Of(record.Batch, record.Index, fineBins)))
        {
            return false;
        }

        // One request sent N times is one piece of evidence: the repeat adds to no count a detector reads.
        candidate.Repeat(record, _settings.ExampleRequestIds);
        if (_repeated is null && candidate.Repeats >= _settings.MinSupport && candidate.Repeats >= 2 * candidate.Support)
        {
            _repeated = candidate;
        }

        return true;
    }

    /// <summary>The record's input print, for a test that counts distinct inputs of its own (<see cref="EmbeddingDirections"/>); null when no inputs are remembered.</summary>
    public ulong? Print(in RecordContext record, ReadOnlySpan<int> fineBins) =>
        _settings.RememberedInputs > 0 ? _inputs.Of(record.Batch, record.Index, fineBins) : null;

    /// <summary>Remembers the input of the record that promoted <paramref name="promoted"/>, its first counted input.</summary>
    public void Remember(Candidate promoted, in RecordContext record, ReadOnlySpan<int> fineBins)
    {
        if (_settings.RememberedInputs > 0)
        {
            promoted.Inputs.Repeats(_inputs.Of(record.Batch, record.Index, fineBins));
        }
    }

    /// <summary>
    /// After a record's keys were counted: the finding of the first of its keys whose records are mostly repeats (at least
    /// <see cref="DetectorSettings.MinSupport"/> of them, and at least twice its support: two thirds of its records), so one
    /// replayed request is one observation; again as the repeats grow by a tenth. Null when there is nothing (new) to report.
    /// </summary>
    public Finding? Report(int label, long recordsSeen, DateTimeOffset now)
    {
        if (_repeated is not { } candidate)
        {
            return null;
        }

        _repeated = null;
        if (candidate.Repeats < candidate.RepeatsReported * 1.1)
        {
            return null;
        }

        candidate.RepeatsReported = candidate.Repeats;
        DetectorKey key = candidate.Key;
        long records = candidate.Repeats + candidate.Support;
        return new Finding
        {
            Detector = DetectorId.D7,
            Severity = Severity.Info,
            Key = key,
            TargetLabel = _labels[label],
            Support = candidate.Repeats,
            Rate = candidate.Repeats / (double)records,
            Lift = double.NaN,
            MeanConfidence = double.NaN,
            BaselineExpectation = double.NaN,
            Z = double.NaN,
            FirstSeen = candidate.FirstSeen,
            FirstSeenRecord = candidate.FirstSeenRecord,
            RaisedAtRecord = recordsSeen,
            RaisedAtSupport = candidate.Repeats,
            UpdatedAt = now,
            ExampleRequestIds = [.. candidate.RepeatExamples],
            Corroboration = [],
            Summary = string.Create(CultureInfo.InvariantCulture,
                $"identical requests: {candidate.Repeats} of the {records} records carrying {key.Kind.ToString().ToLowerInvariant()} '{key.Text}' in {key.Field} " +
                $"repeat an input already counted for it (the same inputs on the baseline's fine bins, or all but one group of fields the same), " +
                $"the latest served '{_labels[label]}'; each such input counts once as evidence, leaving the key a support of {candidate.Support}"),
        };
    }
}
