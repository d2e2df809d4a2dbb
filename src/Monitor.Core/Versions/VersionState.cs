namespace Monitor.Core.Versions;

/// <summary>Where a model version stands.</summary>
public enum VersionState
{
    /// <summary>Newly registered; not yet trusted.</summary>
    Candidate,

    /// <summary>
    /// Trusted by a person: set by an admin, or by the policy after a clean run of a version whose artifact signature
    /// verified against a key an admin pinned (audited either way). Its traffic may become a baseline, and rollbacks go to it.
    /// Nothing mirrored traffic says can make or unmake it, short of the evidence that fails it.
    /// </summary>
    KnownGood,

    /// <summary>A window failed; under watch.</summary>
    Suspect,

    /// <summary>Taken out of service.</summary>
    Quarantined,

    /// <summary>
    /// Promoted by the policy after a clean run: its traffic looked clean, which anyone holding an ingest key can
    /// arrange, so it is not trusted. Rollbacks never go to it and it cannot be captured as a baseline.
    /// </summary>
    ObservedClean,
}
