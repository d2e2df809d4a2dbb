namespace Monitor.Core.Detectors;

/// <summary>
/// The findings of one detector instance. One problem is one finding whose evidence grows: an earlier
/// finding of the same detector, key and label keeps when it was first seen and raised, its severity
/// never drops, and corroboration once found stays.
/// </summary>
/// <remarks>
/// Findings below critical are at most <c>capacity</c>: a new one beyond that takes the place of the one below critical updated
/// least recently (its key has stopped arriving the longest). Anyone with the ingest key can cause warnings, and the candidate
/// table gives up keys holding one (<see cref="DetectorSettings.WarnedCandidateShare"/>), so without the bound their findings
/// would grow with traffic. Critical findings are bounded apart, at the same number: the table gives up keys holding one too
/// while they hold more than half of it, so forged critical keys could otherwise leave findings without end; beyond it the
/// critical finding updated least recently is dropped. A trigger's finding is updated while its key keeps arriving.
/// </remarks>
internal sealed class FindingSet(int capacity = int.MaxValue)
{
    /// <summary>The bound for a detector with these settings: twice the candidate table, and D5's cells, and a margin for version-level findings.</summary>
    public static int Capacity(DetectorSettings settings) => (2 * settings.Candidates) + settings.DirectionCells + 64;

    private readonly Dictionary<string, Finding> _findings = new(StringComparer.Ordinal);
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);
    private readonly List<string> _dropped = [];
    private int _belowCritical;
    private int _critical;

    /// <summary>Findings dropped to keep the bounds, in all.</summary>
    public long Dropped { get; private set; }

    /// <summary>The keys of findings dropped since the last call (a holder of them lets them go too).</summary>
    public IReadOnlyList<string> DrainDropped()
    {
        string[] dropped = [.. _dropped];
        _dropped.Clear();
        return dropped;
    }

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
            _ = Put(finding);
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

        if (Put(finding))
        {
            _changed.Add(finding.DedupeKey);
        }

        return finding;
    }

    /// <summary>
    /// Keeps a finding, dropping the least recently updated one of its kind (below critical, or critical) when a new one would
    /// pass that kind's bound.
    /// </summary>
    private bool Put(Finding finding)
    {
        bool below = finding.Severity < Severity.Critical;
        bool known = _findings.TryGetValue(finding.DedupeKey, out Finding? earlier);
        bool wasBelow = known && earlier!.Severity < Severity.Critical;
        if (!known && below && _belowCritical >= capacity && !DropStalest(critical: false, except: finding.DedupeKey))
        {
            return false;
        }

        if ((!known || wasBelow) && !below && _critical >= capacity && !DropStalest(critical: true, except: finding.DedupeKey))
        {
            return false;
        }

        if (known)
        {
            _belowCritical -= wasBelow ? 1 : 0;
            _critical -= wasBelow ? 0 : 1;
        }

        _belowCritical += below ? 1 : 0;
        _critical += below ? 0 : 1;
        _findings[finding.DedupeKey] = finding;
        return true;
    }

    private bool DropStalest(bool critical, string except)
    {
        Finding? stalest = null;
        foreach (Finding candidate in _findings.Values)
        {
            if ((candidate.Severity == Severity.Critical) == critical && candidate.DedupeKey != except
                && (stalest is null || candidate.UpdatedAt < stalest.UpdatedAt))
            {
                stalest = candidate;
            }
        }

        if (stalest is null)
        {
            return false;
        }

        _findings.Remove(stalest.DedupeKey);
        _changed.Remove(stalest.DedupeKey);
        _dropped.Add(stalest.DedupeKey);
        _belowCritical -= critical ? 0 : 1;
        _critical -= critical ? 1 : 0;
        Dropped++;
        return true;
    }
}
