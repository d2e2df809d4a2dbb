using Monitor.Core.Ingest;
using Monitor.Core.Schema;
using Monitor.Core.Statistics;
using Monitor.Core.Windows;

namespace Monitor.Core.Baselines;

/// <summary>
/// How baselines are profiled and calibrated; bound from the Monitor:Baselines configuration section (its public settable
/// properties are the keys), where each is range-checked by <see cref="Problems"/>.
/// </summary>
public sealed record BaselineSettings
{
    /// <summary>Interior bins per numeric channel (plus one open bin below and one above).</summary>
    public int Bins { get; init; } = 20;

    /// <summary>Largest category table kept per categorical feature.</summary>
    public int MaxCategories { get; init; } = 1000;

    /// <summary>
    /// Share of the reference sample that is profiled; on the rest the detectors' surrogate is measured and a capture's keys
    /// are checked. Thresholds are calibrated on resamples of the whole sample, each of the profiled part's size.
    /// </summary>
    public double ProfileFraction { get; init; } = 0.5;

    /// <summary>Bootstrap windows drawn to calibrate thresholds (at least 1,000).</summary>
    public int BootstrapWindows { get; init; } = 2000;

    /// <summary>
    /// Resamples of the reference the bootstrap windows are spread over: each is profiled as the baseline is, and its
    /// share of the windows is judged against it, so the calibrated null includes the reference's own sampling error.
    /// </summary>
    public int ReferenceResamples { get; init; } = 100;

    /// <summary>Fewest records in the profiled part.</summary>
    public int MinProfileRecords { get; init; } = 1000;

    /// <summary>Seed of the split and the bootstrap, so a baseline can be rebuilt exactly.</summary>
    public int Seed { get; init; } = 20_261_125;

    /// <summary>
    /// Pooled z at which a key of a captured baseline's table counts as label-skewed against the baseline in force, and is
    /// kept out of the table (<see cref="Detectors.CaptureKeyCheck"/>).
    /// </summary>
    public double CaptureCheckZ { get; init; } = 2.5;

    /// <summary>How the trigger detectors' tables are built with the baseline (not configurable).</summary>
    public Detectors.TriggerSettings Triggers { get; internal init; } = new();

    /// <summary>The settings the trigger detectors run with; the baseline's key table takes its keys as they do (<see cref="Detectors.DetectorSettings.MaxKeysPerRecord"/>).</summary>
    public Detectors.DetectorSettings Detectors { get; internal init; } = new();

    /// <summary>These settings, building the trigger tables for detectors that run with <paramref name="detectors"/>.</summary>
    public BaselineSettings WithDetectors(Detectors.DetectorSettings detectors) => this with { Detectors = detectors };

    /// <summary>What is out of range, each naming its key under <paramref name="section"/> (e.g. "Monitor:Baselines").</summary>
    public IEnumerable<string> Problems(string section)
    {
        string?[] problems =
        [
            SettingChecks.Range($"{section}:Bins", Bins, 2, 1000),
            SettingChecks.Range($"{section}:MaxCategories", MaxCategories, 1, 1_000_000),
            SettingChecks.Range($"{section}:BootstrapWindows", BootstrapWindows, 1000, 1_000_000),
            SettingChecks.Range($"{section}:ReferenceResamples", ReferenceResamples, 1, 10_000),
            SettingChecks.Range($"{section}:MinProfileRecords", MinProfileRecords, 10, 10_000_000),
            !double.IsFinite(CaptureCheckZ) || CaptureCheckZ <= 0 ? $"{section}:CaptureCheckZ must be a positive number, got {CaptureCheckZ}" : null,
            ProfileFraction is <= 0 or >= 1 ? $"{section}:ProfileFraction must lie strictly between 0 and 1, got {ProfileFraction}" : null,
        ];
        return problems.OfType<string>();
    }

    /// <summary>
    /// The one check of a whole-window false-alarm rate, wherever it comes from (configuration, an upload request, the
    /// builder): null when it can be calibrated with <paramref name="bootstrapWindows"/>, else what is wrong, naming
    /// <paramref name="name"/> (the setting or the field).
    /// </summary>
    public static string? FalseAlarmRateProblem(string name, double rate, int bootstrapWindows) =>
        rate is <= 0 or >= 1 || double.IsNaN(rate)
            ? $"{name} must lie strictly between 0 and 1, got {rate}"
            : rate * bootstrapWindows < 5
                ? $"{name} of {rate} is too small to calibrate with {bootstrapWindows} bootstrap windows (Monitor:Baselines:BootstrapWindows): " +
                  $"at least 5 of them must be able to alarm, so use a rate of at least {5.0 / bootstrapWindows} or at least " +
                  $"{Math.Ceiling(5 / rate)} bootstrap windows"
                : null;
}

/// <summary>What a new baseline is for.</summary>
public sealed record BaselineRequest(
    string Model, string Source, string Description, int WindowRecords, double FalseAlarmRate, DateTimeOffset CreatedAt)
{
    /// <summary>
    /// Whether the records were captured from live traffic: then the key table is checked against <see cref="InForce"/>
    /// (<see cref="Detectors.CaptureKeyCheck"/>) before the baseline may replace it.
    /// </summary>
    public bool Captured { get; init; }

    /// <summary>The model's baseline in force, which a capture is checked against; null when it has none.</summary>
    public CompiledBaseline? InForce { get; init; }
}

/// <summary>A baseline cannot be built from what was given; the message says why.</summary>
public sealed class BaselineException(string message) : Exception(message);

/// <summary>
/// Builds a baseline from a reference sample: profiles one part (bin edges at its quantiles, bin and
/// category probabilities, moments) and calibrates every statistic's threshold on bootstrap windows
/// of the live window size judged against resampled references (<see cref="Calibrate"/>).
/// </summary>
public static class BaselineBuilder
{
    /// <summary>Fewest reference records for the request and settings.</summary>
    public static int RequiredRecords(int windowRecords, BaselineSettings settings) =>
        Math.Max(
            (int)Math.Ceiling(settings.MinProfileRecords / settings.ProfileFraction),
            (int)Math.Ceiling(windowRecords / (1 - settings.ProfileFraction))) + 1;

    public static BaselineProfile Build(
        BaselineRequest request, ReferenceSample sample, BaselineSettings settings, CancellationToken cancellationToken = default)
    {
        if (request.WindowRecords < 1)
        {
            throw new BaselineException($"window_records must be at least 1, got {request.WindowRecords}");
        }

        if (BaselineSettings.FalseAlarmRateProblem("false_alarm_rate", request.FalseAlarmRate, settings.BootstrapWindows) is { } problem)
        {
            throw new BaselineException(problem);
        }

        int required = RequiredRecords(request.WindowRecords, settings);
        if (sample.Count < required)
        {
            throw new BaselineException(
                $"the reference sample holds {sample.Count} records; this baseline needs at least {required}: " +
                $"{settings.MinProfileRecords} to profile and {request.WindowRecords} (one window) to calibrate, " +
                $"with {settings.ProfileFraction:P0} of the sample profiled");
        }

        var random = new Random(settings.Seed);
        int[] order = new int[sample.Count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        random.Shuffle(order);
        int profiled = (int)Math.Round(sample.Count * settings.ProfileFraction);
        RecordBatch profileBatch = sample.ToBatch(order.AsSpan(0, profiled));
        RecordBatch calibrationBatch = sample.ToBatch(order.AsSpan(profiled));

        ModelSchema schema = sample.Schema;
        var uncalibrated = new BaselineProfile
        {
            Model = request.Model,
            Schema = schema,
            CreatedAt = request.CreatedAt,
            Source = request.Source,
            Description = request.Description,
            WindowRecords = request.WindowRecords,
            FalseAlarmRate = request.FalseAlarmRate,
            CalibratedFalseAlarmRate = double.NaN,
            ThresholdQuantile = double.NaN,
            BootstrapWindows = settings.BootstrapWindows,
            ReferenceResamples = Math.Min(settings.ReferenceResamples, settings.BootstrapWindows),
            RecordsReceived = sample.Received,
            RecordsProfiled = profiled,
            RecordsCalibration = calibrationBatch.Count,
            Numeric = [],
            Categorical = [],
        };
        uncalibrated = Profile(uncalibrated, profileBatch, settings);

        var compiled = new CompiledBaseline(uncalibrated);
        cancellationToken.ThrowIfCancellationRequested();
        // The surrogate is fitted on the profiled part and measured on the rest.
        Detectors.TriggerProfile? triggers = Detectors.TriggerProfileBuilder.Build(compiled, profileBatch, calibrationBatch, settings.Triggers, settings.Detectors);
        Detectors.CaptureCheck? check = null;
        if (request.Captured)
        {
            (triggers, check) = Detectors.CaptureKeyCheck.Apply(request.InForce, compiled, triggers, calibrationBatch, settings.CaptureCheckZ, settings.Detectors);
        }

        Detectors.RegressionProfile? regression = Detectors.RegressionProfileBuilder.Build(compiled, profileBatch, calibrationBatch, settings.Triggers,
            settings.Detectors);
        if (request.Captured && regression is not null)
        {
            (regression, check) = Detectors.CaptureKeyCheck.ApplyRegression(request.InForce, compiled, regression, settings.Detectors);
        }

        compiled = new CompiledBaseline(uncalibrated with { Triggers = triggers, Regression = regression, CaptureCheck = check });
        ThresholdSelection selection = Calibrate(compiled.Profile, sample, request, settings, random, cancellationToken);
        return WithThresholds(compiled, selection);
    }

    private static BaselineProfile Profile(BaselineProfile profile, RecordBatch batch, BaselineSettings settings)
    {
        ModelSchema schema = profile.Schema;
        var preparer = new BatchPreparer(schema, vocabularies: null);
        PreparedBatch prepared = preparer.Prepare(batch);
        ChannelLayout layout = preparer.Layout;

        var numeric = new NumericProfile[layout.Numeric.Length];
        for (int c = 0; c < numeric.Length; c++)
        {
            numeric[c] = ProfileNumeric(layout.Numeric[c], prepared.Numeric[c], batch.Count, settings.Bins);
        }

        var categorical = new CategoricalProfile[layout.Categorical.Length];
        for (int c = 0; c < categorical.Length; c++)
        {
            CategoricalChannel channel = layout.Categorical[c];
            categorical[c] = channel.Kind == ChannelKind.OutputClass
                ? ProfileClasses(channel, schema.PredictedClassLabels, prepared.Codes[c].AsSpan(0, batch.Count))
                : ProfileCategories(channel, batch.Categorical[channel.SourceIndex], settings.MaxCategories);
        }

        return profile with { Numeric = numeric, Categorical = categorical };
    }

    private static NumericProfile ProfileNumeric(NumericChannel channel, NumericView view, int n, int bins)
    {
        ReadOnlySpan<float> data = view.Data.Span;
        var finite = new List<double>(n);
        var moments = new RunningMoments();
        for (int i = 0; i < n; i++)
        {
            float v = data[view.Offset + i * view.Stride];
            if (float.IsFinite(v))
            {
                finite.Add(v);
                moments.Add(v);
            }
        }

        double[] sorted = [.. finite];
        Array.Sort(sorted);
        float[] edges = Quantiles.BinEdges(sorted, bins);
        var probabilities = new double[edges.Length + 1];
        foreach (double v in sorted)
        {
            probabilities[Quantiles.BinOf(edges, (float)v)]++;
        }

        for (int b = 0; b < probabilities.Length; b++)
        {
            probabilities[b] = sorted.Length > 0 ? probabilities[b] / sorted.Length : 0;
        }

        return new NumericProfile
        {
            Channel = channel,
            Edges = edges,
            Probabilities = probabilities,
            Count = sorted.Length,
            Mean = moments.Mean,
            Std = moments.StandardDeviation,
            MissingRate = n > 0 ? (double)(n - sorted.Length) / n : 0,
            Thresholds = new double[channel.Statistics.Length],
        };
    }

    private static CategoricalProfile ProfileCategories(CategoricalChannel channel, Utf8Column column, int maxCategories)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        long missing = 0;
        for (int i = 0; i < column.Count; i++)
        {
            if (column.Get(i).IsEmpty)
            {
                missing++;
                continue;
            }

            string value = column.GetString(i);
            counts[value] = counts.GetValueOrDefault(value) + 1;
        }

        var ordered = counts.OrderByDescending(pair => pair.Value).ThenBy(pair => pair.Key, StringComparer.Ordinal).ToList();
        int kept = Math.Min(maxCategories, ordered.Count);
        long present = column.Count - missing;
        var probabilities = new double[kept + 1];
        for (int i = 0; i < ordered.Count; i++)
        {
            probabilities[Math.Min(i, kept)] += present > 0 ? (double)ordered[i].Value / present : 0;
        }

        return new CategoricalProfile
        {
            Channel = channel,
            Categories = [.. ordered.Take(kept).Select(pair => pair.Key)],
            Probabilities = probabilities,
            Count = present,
            MissingRate = column.Count > 0 ? (double)missing / column.Count : 0,
            Thresholds = new double[channel.Statistics.Length],
        };
    }

    private static CategoricalProfile ProfileClasses(CategoricalChannel channel, string[] labels, ReadOnlySpan<int> codes)
    {
        var probabilities = new double[labels.Length + 1];
        foreach (int code in codes)
        {
            probabilities[code]++;
        }

        for (int b = 0; b < probabilities.Length; b++)
        {
            probabilities[b] = codes.Length > 0 ? probabilities[b] / codes.Length : 0;
        }

        return new CategoricalProfile
        {
            Channel = channel,
            Categories = labels,
            Probabilities = probabilities,
            Count = codes.Length,
            MissingRate = 0,
            Thresholds = new double[channel.Statistics.Length],
        };
    }

    /// <summary>
    /// The null distribution of every statistic, from a two-level bootstrap. A live window W of n records is judged against
    /// the profile P of the reference's profiled part, and both are samples of the true distribution F: the statistic
    /// varies with P as well as with W. Resampling windows from the reference and judging them against the one P leaves
    /// out P's own sampling error, which for a heavy tail (its standard deviation, its extreme bins) is most of it: live
    /// windows then differ from P more than the bootstrap windows did. So, with the whole reference sample F̂ standing for
    /// F, each of R resamples draws a reference P* of the profiled part's size from F̂ with replacement and profiles it
    /// exactly as the baseline was profiled (edges, probabilities, moments, tables), then draws its share of the B
    /// windows from F̂, independently of P*, and judges them against P*. The statistic of (W*, P*) varies as that of
    /// (W, P) does: the window's noise and the reference's together.
    /// </summary>
    private static ThresholdSelection Calibrate(BaselineProfile uncalibrated, ReferenceSample sample, BaselineRequest request,
        BaselineSettings settings, Random random, CancellationToken cancellationToken)
    {
        int slots = new CompiledBaseline(uncalibrated).SlotCount;
        int windows = settings.BootstrapWindows;
        int resamples = uncalibrated.ReferenceResamples;
        int m = request.WindowRecords;
        var values = new double[(long)windows * slots];
        var pValues = new double[slots];
        var reference = new int[uncalibrated.RecordsProfiled];
        SmoothedTails tails = SmoothedTails.Fit(sample.ToBatch(), uncalibrated.Schema.NumericFeatures.Length);
        int w = 0;
        for (int r = 0; r < resamples; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (int i = 0; i < reference.Length; i++)
            {
                reference[i] = random.Next(sample.Count);
            }

            SmoothedTails replicateTails = tails.Refitted(random);
            RecordBatch resample = sample.ToBatch(reference);
            replicateTails.Apply(resample, random);
            var resampled = new CompiledBaseline(Profile(uncalibrated, resample, settings));
            int end = (int)((long)windows * (r + 1) / resamples);
            var drawn = new int[(end - w) * m];
            for (int i = 0; i < drawn.Length; i++)
            {
                drawn[i] = random.Next(sample.Count);
            }

            // One window's records at a time, so memory stays that of one window whatever the window size.
            var preparer = new BatchPreparer(resampled);
            var accumulator = new WindowAccumulator(resampled);
            var evaluator = new WindowEvaluator(resampled);
            for (int offset = 0; w < end; w++, offset += m)
            {
                RecordBatch windowRecords = sample.ToBatch(drawn.AsSpan(offset, m));
                replicateTails.Apply(windowRecords, random);
                accumulator.Clear();
                accumulator.Add(preparer.Prepare(windowRecords), 0, m);
                evaluator.Evaluate(accumulator, values.AsSpan(w * slots, slots), pValues);
            }
        }

        return FamilyWiseThresholds.Select(values, windows, slots, request.FalseAlarmRate);
    }

    private static BaselineProfile WithThresholds(CompiledBaseline compiled, ThresholdSelection selection)
    {
        BaselineProfile profile = compiled.Profile;
        var numeric = new NumericProfile[profile.Numeric.Length];
        for (int c = 0; c < numeric.Length; c++)
        {
            numeric[c] = profile.Numeric[c] with
            {
                Thresholds = selection.Thresholds.AsSpan(compiled.NumericSlots[c], profile.Numeric[c].Thresholds.Length).ToArray(),
            };
        }

        var categorical = new CategoricalProfile[profile.Categorical.Length];
        for (int c = 0; c < categorical.Length; c++)
        {
            categorical[c] = profile.Categorical[c] with
            {
                Thresholds = selection.Thresholds.AsSpan(compiled.CategoricalSlots[c], profile.Categorical[c].Thresholds.Length).ToArray(),
            };
        }

        return profile with
        {
            Numeric = numeric,
            Categorical = categorical,
            ThresholdQuantile = selection.Quantile,
            CalibratedFalseAlarmRate = selection.RealisedFalseAlarmRate,
        };
    }
}
