namespace Monitor.Core;

/// <summary>What kind of refusal a <see cref="MonitorException"/> is; the service edge maps it to its protocol's status.</summary>
public enum ErrorKind
{
    /// <summary>The request is malformed; the message names the field.</summary>
    InvalidArgument,

    /// <summary>What the request names is not registered or not open.</summary>
    NotFound,

    /// <summary>What the request creates exists already, differently.</summary>
    AlreadyExists,

    /// <summary>The request is well formed but the state it needs does not hold (e.g. a version that is not known-good).</summary>
    FailedPrecondition,

    /// <summary>A limit is reached.</summary>
    ResourceExhausted,

    /// <summary>The sidecar cannot do it now (e.g. the store refuses writes); the same request may succeed later.</summary>
    Unavailable,

    /// <summary>Something failed that the caller could not have prevented.</summary>
    Internal,
}

/// <summary>A request refused by the sidecar's domain logic, with a message for the caller that names what was wrong.</summary>
public sealed class MonitorException : Exception
{
    public MonitorException(ErrorKind kind, string message)
        : base(message)
    {
        Kind = kind;
    }

    public MonitorException(ErrorKind kind, string message, Exception inner)
        : base(message, inner)
    {
        Kind = kind;
    }

    public ErrorKind Kind { get; }
}
