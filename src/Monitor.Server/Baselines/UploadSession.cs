using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Server.Models;

namespace Monitor.Server.Baselines;

internal enum UploadState
{
    Open,
    Committing,
    Committed,
    Aborted,
    Failed,
}

/// <summary>
/// A baseline being gathered: reference records uploaded by a client, or live records of a known-good
/// version captured by the model's pipeline, kept in a bounded reservoir sample until commit.
/// </summary>
internal sealed class UploadSession
{
    private readonly Lock _lock = new();
    private ReferenceSample? _sample;

    public UploadSession(string id, ModelEntry model, string description, int windowRecords, double falseAlarmRate,
        VersionEntry? captureFrom, int captureRecords, ReferenceSample sample, DateTimeOffset openedAt)
    {
        Id = id;
        Model = model;
        Description = description;
        WindowRecords = windowRecords;
        FalseAlarmRate = falseAlarmRate;
        CaptureFrom = captureFrom;
        CaptureRecords = captureRecords;
        _sample = sample;
        OpenedAt = openedAt;
    }

    public string Id { get; }
    public ModelEntry Model { get; }
    public string Description { get; }
    public int WindowRecords { get; }
    public double FalseAlarmRate { get; }
    public VersionEntry? CaptureFrom { get; }
    public int CaptureRecords { get; }
    public DateTimeOffset OpenedAt { get; }
    public UploadState State { get; private set; }
    public long RecordsReceived { get; private set; }
    public int RecordsSampled { get; private set; }
    public long BaselineId { get; private set; }
    public string Error { get; private set; } = "";

    /// <summary>For a reference set: the version that scored it (<c>scored_by_version</c>), or null when not named.</summary>
    public string? ScoredBy { get; init; }

    /// <summary>"reference", "reference:&lt;version that scored it&gt;" or "captured:&lt;version&gt;".</summary>
    public string Source => CaptureFrom is not null ? $"captured:{CaptureFrom.Version}" : ScoredBy is null ? "reference" : $"reference:{ScoredBy}";

    /// <summary>Adds a validated batch while the upload is open; true when a capture has all it asked for.</summary>
    public bool Offer(RecordBatch batch)
    {
        lock (_lock)
        {
            if (State != UploadState.Open || _sample is null)
            {
                return false;
            }

            _sample.Add(batch);
            RecordsReceived = _sample.Received;
            RecordsSampled = _sample.Count;
            return CaptureFrom is not null && RecordsReceived >= CaptureRecords;
        }
    }

    /// <summary>Moves an open upload to committing and hands over its sample; null when it is not open.</summary>
    public ReferenceSample? BeginCommit()
    {
        lock (_lock)
        {
            if (State != UploadState.Open)
            {
                return null;
            }

            State = UploadState.Committing;
            return _sample;
        }
    }

    /// <summary>The commit could not build a baseline from what is there: stays open for more records.</summary>
    public void Reopen()
    {
        lock (_lock)
        {
            State = UploadState.Open;
        }
    }

    public void Committed(long baselineId)
    {
        lock (_lock)
        {
            State = UploadState.Committed;
            BaselineId = baselineId;
            _sample = null;
        }
    }

    public void Fail(string error)
    {
        lock (_lock)
        {
            State = UploadState.Failed;
            Error = error;
            _sample = null;
        }
    }

    public bool Abort(string reason = "")
    {
        lock (_lock)
        {
            if (State != UploadState.Open)
            {
                return false;
            }

            State = UploadState.Aborted;
            Error = reason;
            _sample = null;
            return true;
        }
    }

    /// <summary>Monotonic timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the upload's opening or latest append.</summary>
    public long LastActivity { get; private set; }

    public void Touch(long timestamp) => LastActivity = timestamp;
}
