using Monitor.Core.Baselines;
using Monitor.Core.Detectors;
using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Monitor.Server.Ingest;
using Proto = Monitor.Protos.V1;

namespace Monitor.Server.Reports;

/// <summary>Turns core baselines and window results into their wire messages.</summary>
internal static class ReportTranslation
{
    public static Proto.FeatureKind ToProto(ChannelKind kind) => kind switch
    {
        ChannelKind.Numeric => Proto.FeatureKind.Numeric,
        ChannelKind.Categorical => Proto.FeatureKind.Categorical,
        ChannelKind.Text => Proto.FeatureKind.Text,
        ChannelKind.OutputClass => Proto.FeatureKind.OutputClass,
        _ => Proto.FeatureKind.OutputNumeric,
    };

    public static Proto.BaselineSummary Summary(BaselineProfile profile, bool inForce) => new()
    {
        Id = profile.Id,
        Model = profile.Model,
        CreatedAt = ProtoTranslation.ToProto(profile.CreatedAt),
        Source = profile.Source,
        Description = profile.Description,
        RecordsReceived = (ulong)profile.RecordsReceived,
        RecordsProfiled = (uint)profile.RecordsProfiled,
        RecordsCalibration = (uint)profile.RecordsCalibration,
        WindowRecords = (uint)profile.WindowRecords,
        FalseAlarmRate = profile.FalseAlarmRate,
        CalibratedFalseAlarmRate = profile.CalibratedFalseAlarmRate,
        BootstrapWindows = (uint)profile.BootstrapWindows,
        InForce = inForce,
    };

    public static Proto.Baseline ToProto(BaselineProfile profile, bool inForce, ReadinessReport? readiness = null, long promotionRecords = 0)
    {
        var baseline = new Proto.Baseline
        {
            Summary = Summary(profile, inForce),
            ThresholdQuantile = profile.ThresholdQuantile,
            CaptureCheck = profile.CaptureCheck is { } check ? ToProto(check) : null,
            Readiness = readiness is null ? null : ToProto(readiness, promotionRecords),
        };
        foreach (NumericProfile numeric in profile.Numeric)
        {
            var feature = new Proto.FeatureProfile
            {
                Name = numeric.Channel.Name,
                Kind = ToProto(numeric.Channel.Kind),
                Mean = numeric.Mean,
                Std = numeric.Std,
                MissingRate = numeric.MissingRate,
            };
            feature.Edges.AddRange(numeric.Edges.Select(e => (double)e));
            feature.Probabilities.AddRange(numeric.Probabilities);
            AddThresholds(feature, numeric.Channel.Statistics, numeric.Thresholds);
            baseline.Features.Add(feature);
        }

        foreach (CategoricalProfile categorical in profile.Categorical)
        {
            var feature = new Proto.FeatureProfile
            {
                Name = categorical.Channel.Name,
                Kind = ToProto(categorical.Channel.Kind),
                MissingRate = categorical.MissingRate,
            };
            feature.Categories.AddRange(categorical.Categories);
            feature.Categories.Add(CategoricalProfile.NotInTable);
            feature.Probabilities.AddRange(categorical.Probabilities);
            AddThresholds(feature, categorical.Channel.Statistics, categorical.Thresholds);
            baseline.Features.Add(feature);
        }

        return baseline;
    }

    public static Proto.CaptureCheck ToProto(CaptureCheck check)
    {
        var proto = new Proto.CaptureCheck
        {
            AgainstBaselineId = check.AgainstBaselineId,
            KeysChecked = (uint)check.KeysChecked,
            NewKeys = (uint)check.NewKeys,
            UnvouchedKeys = (uint)check.Unvouched,
            Summary = check.Summary,
        };
        foreach (ExcludedKey key in check.Excluded)
        {
            var excluded = new Proto.ExcludedKey
            {
                Kind = key.Kind.ToString().ToLowerInvariant(),
                Field = key.Field,
                Text = key.Text,
                Support = (ulong)key.Support,
                TargetLabel = key.TargetLabel,
                Contrarian = (ulong)key.Contrarian,
                Rate = key.Rate,
                ExpectedRate = key.ExpectedRate,
                NewKey = key.IsNewKey,
                Z = key.Z,
                Summary = key.Summary,
                Strata = key.Strata == CheckStrata.Capture ? "capture" : "baseline_in_force",
            };
            if (key.KeyRate is { } rate)
            {
                excluded.KeyRate = rate;
            }

            proto.Excluded.Add(excluded);
        }

        return proto;
    }

    /// <param name="profile">The baseline the window was judged against, for histogram edges; null leaves them out.</param>
    public static Proto.Readiness ToProto(ReadinessReport report, long promotionRecords)
    {
        var readiness = new Proto.Readiness
        {
            ReferenceRecords = (ulong)Math.Max(report.ReferenceRecords, 0),
            AttackSuccess = report.AttackSuccess,
            TriggerConfidence = report.TriggerConfidence,
            TargetOccurrences = (uint)report.TargetOccurrences,
            Summary = report.Summary,
            PromotionRecords = (ulong)Math.Max(promotionRecords, 0),
        };
        foreach (ReadinessLine line in report.Lines)
        {
            var proto = new Proto.ReadinessLine
            {
                Detector = line.Detector,
                ClassLabel = line.Class,
                Placement = line.Placement.ToString().ToLowerInvariant(),
                Status = line.Status.ToString().ToLowerInvariant(),
                Found = line.Found,
                VisibleShare = line.VisibleShare,
                Summary = line.Summary,
            };
            if (line.MedianOccurrences is { } median)
            {
                proto.MedianOccurrences = median;
            }

            if (line.WorstOccurrences is { } worst)
            {
                proto.WorstOccurrences = worst;
            }

            if (line.FixReferenceRecords is { } fix)
            {
                proto.FixReferenceRecords = (ulong)fix;
            }

            readiness.Lines.Add(proto);
        }

        return readiness;
    }

    public static Proto.WindowReport ToProto(WindowResult window, BaselineProfile? profile)
    {
        var report = new Proto.WindowReport
        {
            Index = window.Index,
            BaselineId = window.BaselineId,
            OpenedAt = ProtoTranslation.ToProto(window.OpenedAt),
            Records = (uint)window.Records,
            Complete = window.Complete,
            Drifted = window.Drifted,
        };
        if (window.ClosedAt is { } closedAt)
        {
            report.ClosedAt = ProtoTranslation.ToProto(closedAt);
        }

        report.DriftedFeatures.AddRange(window.DriftedChannels);
        foreach (ChannelResult channel in window.Channels)
        {
            var feature = new Proto.FeatureReport
            {
                Name = channel.Name,
                Kind = ToProto(channel.Kind),
                Count = (ulong)channel.Count,
                Missing = (ulong)channel.Missing,
                Drifted = channel.Drifted,
                BaselineMean = channel.BaselineMean,
                BaselineStd = channel.BaselineStd,
                WindowMean = channel.Mean,
                WindowStd = channel.Std,
            };
            for (int s = 0; s < channel.Statistics.Length; s++)
            {
                var statistic = new Proto.StatisticValue
                {
                    Name = StatisticNames.Of(channel.Statistics[s]),
                    Value = channel.Values[s],
                    Threshold = channel.Thresholds[s],
                    Drifted = channel.Exceeded[s],
                };
                if (!double.IsNaN(channel.PValues[s]))
                {
                    statistic.PValue = channel.PValues[s];
                }

                feature.Statistics.Add(statistic);
            }

            if (profile is not null)
            {
                feature.Histogram = Histogram(profile, channel);
            }

            report.Features.Add(feature);
        }

        return report;
    }

    public static Proto.Finding ToProto(Finding finding)
    {
        var proto = new Proto.Finding
        {
            Detector = finding.Detector.ToString(),
            Severity = finding.Severity switch
            {
                Severity.Critical => Proto.Severity.Critical,
                Severity.Warning => Proto.Severity.Warning,
                _ => Proto.Severity.Info,
            },
            TargetLabel = finding.TargetLabel,
            Support = (ulong)Math.Max(finding.Support, 0),
            Rate = finding.Rate,
            Lift = finding.Lift,
            MeanConfidence = finding.MeanConfidence,
            BaselineExpectation = finding.BaselineExpectation,
            Z = finding.Z,
            FirstSeen = ProtoTranslation.ToProto(finding.FirstSeen),
            FirstSeenRecord = (ulong)finding.FirstSeenRecord,
            RaisedAtRecord = (ulong)finding.RaisedAtRecord,
            RaisedAtSupport = (ulong)Math.Max(finding.RaisedAtSupport, 0),
            SurprisingBeforeTracking = (ulong)Math.Max(finding.SurprisingBeforeTracking, 0),
            UpdatedAt = ProtoTranslation.ToProto(finding.UpdatedAt),
            Summary = finding.Summary,
        };
        if (finding.Key is { } key)
        {
            proto.Key = new Proto.TriggerKey { Kind = key.Kind.ToString().ToLowerInvariant(), Field = key.Field, Text = key.Text };
        }

        if (finding.BaselineKeyRate is { } rate)
        {
            proto.BaselineKeyRate = rate;
        }

        if (finding is { Log10EValue: { } e, Log10EValueBar: { } bar })
        {
            proto.Log10EValue = e;
            proto.Log10EValueBar = bar;
        }

        proto.ExampleRequestIds.AddRange(finding.ExampleRequestIds);
        proto.Corroboration.AddRange(finding.Corroboration.Select(c => c.ToString()));
        return proto;
    }

    private static Proto.Histogram? Histogram(BaselineProfile profile, ChannelResult channel)
    {
        var histogram = new Proto.Histogram();
        histogram.WindowCounts.AddRange(channel.Counts.Select(c => (ulong)c));
        if (profile.Numeric.FirstOrDefault(n => n.Channel.Name == channel.Name) is { } numeric)
        {
            histogram.Edges.AddRange(numeric.Edges.Select(e => (double)e));
            histogram.BaselineProbabilities.AddRange(numeric.Probabilities);
        }
        else if (profile.Categorical.FirstOrDefault(c => c.Channel.Name == channel.Name) is { } categorical)
        {
            histogram.Categories.AddRange(categorical.Categories);
            histogram.Categories.Add(CategoricalProfile.NotInTable);
            histogram.BaselineProbabilities.AddRange(categorical.Probabilities);
        }

        return histogram;
    }

    private static void AddThresholds(Proto.FeatureProfile feature, Statistic[] statistics, double[] thresholds)
    {
        for (int s = 0; s < statistics.Length; s++)
        {
            feature.Thresholds.Add(new Proto.StatisticThreshold { Statistic = StatisticNames.Of(statistics[s]), Threshold = thresholds[s] });
        }
    }
}
