using System.Globalization;
using Monitor.Core.Ingest;

namespace Monitor.Core.Detectors;

/// <summary>Paired evidence (D8, <see cref="PairedTest"/>): the records that carry a trusted version's output on the same request.</summary>
public sealed partial class TriggerDetector
{
    /// <summary>Created with the first paired record: a version never mirrored with a trusted version's outputs carries none.</summary>
    private PairedTest? _paired;

    /// <summary>Whether the record being counted is a paired hit: its keys are screened like a surprising record's.</summary>
    private bool PairedHit => _paired is { CurrentHit: true };

    /// <summary>Paired records seen (halved at each horizon); 0 when the version was never mirrored paired.</summary>
    public long PairedRecords => _paired?.Records ?? 0;

    /// <summary>Reads record i's trusted output, when its batch carries one (after <see cref="_served"/> holds its served output).</summary>
    private void ObservePaired(RecordBatch batch, int i, int label)
    {
        if (batch.Paired)
        {
            _paired ??= new PairedTest(_k, _schema.OutputKind, _settings, _labels, Held);
        }

        _paired?.Observe(batch, i, label, _served);
    }

    /// <summary>At a horizon: the paired evidence halves, and the states of keys no longer candidates go.</summary>
    private void DecayPaired() => _paired?.Decay();

    private Candidate? Held(ulong hash) => _candidates.TryGet(hash, out Candidate? candidate) ? candidate : null;

    /// <summary>
    /// Adds the record (a distinct input of the candidate, not its promoting record) to the key's paired test and, once the key's
    /// share of the traffic is known, tests it towards each class; a crossing is critical unless the key is one the whole-output
    /// test reports only (then a warning, so said).
    /// </summary>
    /// <returns>Whether the key now carries a critical finding from paired evidence.</returns>
    private bool CountPaired(ulong hash, Candidate candidate)
    {
        if (_paired is not { Current: true } paired || paired.Update(candidate, hash) is not { } key
            || Records - candidate.FirstSeenRecord < KeyOutputTest.SettleRecords)
        {
            return false;
        }

        if (key.Raised is not null && key.Records < key.LastEvaluated * 1.1)
        {
            return false;
        }

        string? reportOnly = ReportOnlyReason(hash, candidate);
        bool critical = false;
        for (int c = 0; c < _k; c++)
        {
            if (!paired.Crossed(key, c, out double logE))
            {
                continue;
            }

            key.Raised = _findings.Publish(paired.Finding(candidate, key, c, logE, Records, _time.GetUtcNow(), reportOnly));
            key.LastEvaluated = key.Records;
            // A critical crossing takes the place of a lesser finding: the candidate table never evicts a key with a critical finding.
            if (candidate.Raised is null || key.Raised.Severity > candidate.Raised.Severity)
            {
                candidate.Raise(key.Raised);
            }

            if (reportOnly is null)
            {
                _raised.Add(hash);
                critical = true;
            }
        }

        return critical;
    }

    /// <summary>Why a key's crossing is reported and not critical, as the whole-output test has it; null for a key that may be a trigger's.</summary>
    private string? ReportOnlyReason(ulong hash, Candidate candidate)
    {
        if (candidate.Key.ReportOnly)
        {
            return candidate.Key.Kind switch
            {
                KeyKind.EmbeddingOutlier => "an embedding outlier is the model's own representation, tied to its output, so this is not critical by itself",
                KeyKind.Region => "a region this small singles out a few inputs, so this is not critical by itself",
                _ => "its values lie outside the baseline's range, so this is not critical by itself",
            };
        }

        if (KeyOutputTest.Common(candidate, Records))
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"the key is on more than {KeyOutputTest.MaxKeyShare:P0} of the records, a population rather than a trigger, so this is not critical by itself");
        }

        if (_output?.BaselineShare(hash) is { } share)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"the key was on {share:P2} of the baseline's records, a region of the inputs rather than a trigger's pattern, so this is not critical by itself");
        }

        // As the residual test has it: a word (or value) the baseline's records carried, or two such words together, may be read
        // differently by a version retrained on the same data with no trigger in it. The trusted version's outputs beside it show
        // that the reading differs, not why: a clean retraining of the rare real model read a known word so (seed 3412).
        // Not an exact value: a known value stays critical here, as before the residual test judged values (a patch may set a
        // pixel to a value the baseline often held).
        if (KeyRankTest.Tests(candidate.Key.Kind) && candidate.Key.Kind != KeyKind.Value && _rank?.BaselineSupport(hash) is { } known)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"the key was on {known} of the baseline's records, and a version retrained on the same data may read a known key differently with no trigger in it, which paired outputs show but cannot tell from one, so this is not critical by itself");
        }

        return candidate.KnownWords == true
            ? string.Create(CultureInfo.InvariantCulture,
                $"its two words are each on at least {_settings.NewKeySupport} of the baseline's records, and a version retrained on the same data may read them together differently with no trigger in it, so this is not critical by itself")
            : null;
    }

    /// <summary>
    /// At a window's close: today's paired rates forget a tenth, and while the version-wide test stands above its bar its
    /// finding is published (critical, with no key) and the window is a failing one for a version not known-good.
    /// </summary>
    private void ClosePairedWindow()
    {
        if (_paired is null)
        {
            return;
        }

        _paired.Refresh();
        if (_paired.VersionCrossed)
        {
            _findings.Publish(_paired.VersionFinding(Records, _time.GetUtcNow()));
            _windowsSinceCriticalHit = 0;
        }
    }

    private PairedState? ExportPaired() => _paired?.Export(key => key.Raised?.DedupeKey);

    private void RestorePaired(PairedState? state, Func<string, Finding?> finding)
    {
        if (state is null)
        {
            return;
        }

        _paired ??= new PairedTest(_k, _schema.OutputKind, _settings, _labels, Held);
        _paired.Restore(state, finding);
    }
}
