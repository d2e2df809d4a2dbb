namespace Monitor.Core.Detectors;

/// <summary>
/// A key counted exactly since its promotion: its records per (label, stratum) cell for the key-skew
/// test (D1/D2), and the evidence the other detectors read among its own records: ultra-confident
/// outputs (D3), served-minus-surrogate residuals (D4) and embedding outliers (D5).
/// </summary>
internal sealed class Candidate(DetectorKey key, int classes, int strata, DateTimeOffset firstSeen, long firstSeenRecord)
{
    public DetectorKey Key { get; } = key;
    public long[] Cells { get; } = new long[classes * strata];
    public DateTimeOffset FirstSeen { get; } = firstSeen;
    public long FirstSeenRecord { get; } = firstSeenRecord;
    public long Exact { get; private set; }

    /// <summary>Per class c: records since promotion whose inputs give c less than even odds.</summary>
    public long[] ContrarianOfClass { get; } = new long[classes];

    /// <summary>Per class c: of those, the records served c.</summary>
    public long[] ContrarianHits { get; } = new long[classes];
    public long[] Ultra { get; } = new long[classes];

    /// <summary>Per class: the ultra-confident outputs the baseline would give these records (Σ p0 of their slots).</summary>
    public double[] UltraExpected { get; } = new double[classes];
    public double[] Residual { get; } = new double[classes];
    public double ConfidenceSum { get; private set; }
    public long Embedded { get; private set; }
    public long Outliers { get; private set; }
    public List<string> Examples { get; } = [];
    public Finding? Raised { get; set; }
    public long LastEvaluated { get; set; }

    /// <summary>The key's surprising occurrences before promotion, from the cell sketch (an overestimate).</summary>
    public long SurprisingBefore { get; set; }

    /// <summary>Records counted exactly since promotion.</summary>
    public long Support { get; private set; }

    public void Count(int cell)
    {
        Cells[cell]++;
        Support++;
    }

    /// <summary>Records since promotion that were surprising.</summary>
    public long Surprising { get; private set; }

    /// <summary>Share of its records that were surprising, with one pseudo-record each way.</summary>
    public double SurpriseShare => (Surprising + 1.0) / (Exact + 2.0);

    public void Observe(in RecordContext record, TriggerProfile profile, int maxExamples)
    {
        Exact++;
        Surprising += record.Surprising ? 1 : 0;
        ConfidenceSum += record.Confidence;
        for (int c = 0; c < Residual.Length; c++)
        {
            if (!profile.Contrarian(record.Stratum, c))
            {
                continue;
            }

            // Evidence is taken where class c has less than even odds: there a served c is a surprise.
            ContrarianOfClass[c]++;
            Residual[c] += record.Served[c] - record.Surrogate[c];
            if (record.Label == c)
            {
                ContrarianHits[c]++;
                Ultra[c] += record.Ultra ? 1 : 0;
                UltraExpected[c] += profile.UltraRates[profile.UltraSlot(record.Stratum, c)];
            }
        }

        if (record.Embedded)
        {
            Embedded++;
            Outliers += record.Outlier ? 1 : 0;
        }

        if (Examples.Count < maxExamples && record.Batch.RequestIds.Count > 0)
        {
            string id = record.Batch.RequestIds.GetString(record.Index);
            if (id.Length > 0)
            {
                Examples.Add(id.Length <= 128 ? id : id[..128]);
            }
        }
    }

    public void Halve()
    {
        for (int i = 0; i < Cells.Length; i++)
        {
            Cells[i] /= 2;
        }

        Support = Cells.Sum();
        Exact /= 2;
        Surprising /= 2;
        ConfidenceSum /= 2;
        Embedded /= 2;
        Outliers /= 2;
        for (int c = 0; c < Ultra.Length; c++)
        {
            Ultra[c] /= 2;
            ContrarianOfClass[c] /= 2;
            ContrarianHits[c] /= 2;
            UltraExpected[c] /= 2;
            Residual[c] /= 2;
        }
    }
}
