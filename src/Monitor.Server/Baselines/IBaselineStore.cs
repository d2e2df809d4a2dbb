using Monitor.Core.Baselines;

namespace Monitor.Server.Baselines;

/// <summary>Committed baselines of every model (profile and reservoir sample), and which one is in force.</summary>
internal interface IBaselineStore
{
    /// <summary>Stores a committed baseline and puts it in force for its model, atomically; returns its id.</summary>
    long CommitBaseline(BaselineProfile profile, byte[] sample, long sampleReceived);

    BaselineProfile? LoadBaseline(long id);

    /// <summary>A model's baselines, oldest first.</summary>
    List<BaselineProfile> LoadBaselines(string model);

    /// <summary>The stored reservoir sample of a baseline and how many records it was drawn from.</summary>
    (byte[] Sample, long Received)? LoadBaselineSample(long id);
}
