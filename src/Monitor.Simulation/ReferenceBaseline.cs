using Monitor.Core.Baselines;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation;

/// <summary>A baseline profiled, in process, from every record of simulated reference batches.</summary>
public static class ReferenceBaseline
{
    public static BaselineProfile Fit(ModelSchema schema, IReadOnlyList<RecordBatch> reference, int windowRecords, double falseAlarmRate = 0.01,
        BaselineSettings? settings = null)
    {
        // A sample as large as the reference keeps every record, so its seed draws nothing.
        var sample = new ReferenceSample(schema, Math.Max(1, reference.Sum(b => b.Count)), seed: 1);
        foreach (RecordBatch batch in reference)
        {
            sample.Add(batch);
        }

        return BaselineBuilder.Build(new BaselineRequest("m", "reference", "", windowRecords, falseAlarmRate, DateTimeOffset.UnixEpoch), sample,
            settings ?? new BaselineSettings());
    }
}
