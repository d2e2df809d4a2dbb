namespace Monitor.Core.Detectors;

/// <summary>
/// The findings of one detector instance. One problem is one finding whose evidence grows: an earlier
/// finding of the same detector, key and label keeps when it was first seen and raised, its severity
/// never drops, and corroboration once found stays.
/// </summary>
internal sealed class FindingSet
{
    private readonly Dictionary<string, Finding> _findings = new(StringComparer.Ordinal);
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);

    /// <summary>Every finding, the most severe first.</summary>
    public IReadOnlyList<Finding> All =>
        [.. _findings.Values.OrderByDescending(f => f.Severity).ThenByDescending(f => f.Z)];

    /// <summary>Findings published since the last call, in the order they first changed.</summary>
    public IReadOnlyList<Finding> DrainChanged()
    {
        Finding[] changed = [.. _changed.Select(key => _findings[key])];
        _changed.Clear();
        return changed;
    }

    /// <summary>Takes back findings stored before a restart (they are not reported as changed).</summary>
    public void Restore(IEnumerable<Finding> findings)
    {
        foreach (Finding finding in findings)
        {
            _findings[finding.DedupeKey] = finding;
        }
    }

    /// <summary>
    /// Marks a finding as seen again (its key arrived) without new evidence: it is reported as changed, with the time,
    /// so that a finding stays live, and its alert firing, while its key keeps arriving. Returns what is kept.
    /// </summary>
    /// <remarks>Once per drain: a key that keeps arriving costs a look-up, not a new finding per record.</remarks>
    public Finding? Touch(string dedupeKey, TimeProvider time)
    {
        if (!_findings.TryGetValue(dedupeKey, out Finding? finding) || _changed.Contains(dedupeKey))
        {
            return finding;
        }

        finding = finding with { UpdatedAt = time.GetUtcNow() };
        _findings[dedupeKey] = finding;
        _changed.Add(dedupeKey);
        return finding;
    }

    /// <summary>Records a finding, merged with an earlier one of the same detector, key and label; returns what is kept.</summary>
    public Finding Publish(Finding finding)
    {
        if (_findings.TryGetValue(finding.DedupeKey, out Finding? earlier))
        {
            finding = finding with
            {
                FirstSeen = earlier.FirstSeen,
                FirstSeenRecord = earlier.FirstSeenRecord,
                RaisedAtRecord = earlier.RaisedAtRecord,
                RaisedAtSupport = earlier.RaisedAtSupport,
                Severity = (Severity)Math.Max((int)earlier.Severity, (int)finding.Severity),
                Corroboration = finding.Corroboration.Length > 0 ? finding.Corroboration : earlier.Corroboration,
            };
        }

        _findings[finding.DedupeKey] = finding;
        _changed.Add(finding.DedupeKey);
        return finding;
    }
}
