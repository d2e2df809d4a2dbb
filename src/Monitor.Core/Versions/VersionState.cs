namespace Monitor.Core.Versions;

/// <summary>Where a model version stands.</summary>
public enum VersionState
{
    /// <summary>Newly registered; not yet trusted.</summary>
    Candidate,

    /// <summary>Trusted: its traffic may become a baseline, and rollbacks go to it.</summary>
    KnownGood,

    /// <summary>A window failed; under watch.</summary>
    Suspect,

    /// <summary>Taken out of service.</summary>
    Quarantined,
}
