namespace Monitor.Server.Registry;

/// <summary>The sidecar's own look at the artifacts of versions registered with an artifact path.</summary>
public sealed class ProvenanceOptions
{
    /// <summary>How often the sidecar hashes each such artifact again (it also does at registration and at start).</summary>
    public TimeSpan ArtifactCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>What is out of range, naming the keys under <paramref name="section"/> (e.g. "Monitor:Provenance").</summary>
    internal IEnumerable<string> Problems(string section)
    {
        if (Core.SettingChecks.Positive($"{section}:ArtifactCheckInterval", ArtifactCheckInterval) is { } problem)
        {
            yield return problem;
        }
    }
}
