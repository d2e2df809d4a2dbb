namespace Monitor.Core.Detectors;

/// <summary>
/// How full a detector's candidate table is (keys counted exactly) and how many of its keys hold a finding below critical;
/// and, since the detectors started (kept by checkpoints), the keys it could not promote because every candidate drawn held a
/// critical finding, the candidates holding a finding below critical it evicted to make room
/// (<see cref="DetectorSettings.WarnedCandidateShare"/>), and the candidates holding a critical finding it evicted while such
/// candidates held more than half the table.
/// </summary>
public readonly record struct CandidateLoad(int Candidates, int Warned, long Refused, long WarnedEvicted, long CriticalEvicted = 0);
