using Monitor.Core.Schema;
using Monitor.Core.Windows;
using Prometheus;

namespace Monitor.Server.Metrics;

/// <summary>
/// The sidecar's Prometheus metrics, in a registry of its own. Label values are only names an admin
/// registered (models, versions, features, statistics): nothing a mirrored record carries.
/// </summary>
internal sealed class MonitorMetrics
{
    public MonitorMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        MetricFactory factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        IngestBatches = factory.CreateCounter("drift_monitor_ingest_batches_total",
            "Mirrored batches by outcome (accepted, dropped when the queue was full, rejected as invalid or unknown).",
            "outcome");
        IngestRecords = factory.CreateCounter("drift_monitor_ingest_records_total",
            "Mirrored records of registered versions by outcome (accepted or dropped).", "model", "version", "outcome");
        DigestMismatchRecords = factory.CreateCounter("drift_monitor_digest_mismatch_records_total",
            "Records mirrored with an artifact digest other than the registered one.", "model", "version");
        QueueDepth = factory.CreateGauge("drift_monitor_ingest_queue_depth",
            "Work items waiting in a model's ingest queue.", "model");
        QueueCapacity = factory.CreateGauge("drift_monitor_ingest_queue_capacity",
            "Capacity of each model's ingest queue, in batches.");
        WindowsClosed = factory.CreateCounter("drift_monitor_windows_closed_total",
            "Closed windows by whether any statistic exceeded its threshold.", "model", "version", "drifted");
        WindowDrifted = factory.CreateGauge("drift_monitor_window_drifted",
            "1 when the last closed window of the version drifted, else 0.", "model", "version");
        ReferenceMismatch = factory.CreateGauge("drift_monitor_reference_mismatch",
            "1 while a trusted version drifted in more than half of at least 10 kept windows: the baseline does not represent its traffic.",
            "model", "version");
        FeatureDrift = factory.CreateGauge("drift_monitor_feature_drift",
            "Value of a drift statistic in the last closed window.", "model", "version", "feature", "statistic");
        FeatureThreshold = factory.CreateGauge("drift_monitor_feature_drift_threshold",
            "Calibrated threshold of a drift statistic.", "model", "version", "feature", "statistic");
        FeatureDrifted = factory.CreateGauge("drift_monitor_feature_drifted",
            "1 when any statistic of the feature exceeded its threshold in the last closed window.", "model", "version", "feature");
        BaselineId = factory.CreateGauge("drift_monitor_baseline_id",
            "Id of the baseline in force for the model (0 = none).", "model");
        Models = factory.CreateGauge("drift_monitor_models", "Registered models.");
        ReadinessOccurrences = factory.CreateGauge("drift_monitor_readiness_occurrences",
            "The baseline in force's readiness report: trigger occurrences the detector needs to find a trigger towards the class (median; +Inf when blind), by placement (flip, lift).",
            "model", "class", "detector", "placement");
        ReadinessBlind = factory.CreateGauge("drift_monitor_readiness_blind",
            "1 when the baseline in force leaves the detector blind to a trigger towards the class placed so (flip, lift).",
            "model", "class", "detector", "placement");
        PromotionRecords = factory.CreateGauge("drift_monitor_promotion_records_required",
            "Records a candidate must serve under the baseline in force before the policy can promote it (Monitor:Versions:MinTriggerRate).", "model");
        Verdict = factory.CreateGauge("drift_monitor_verdict",
            "Verdict of the version: 0 inconclusive, 1 successful, 2 failed.", "model", "version");
        RollbackSignals = factory.CreateCounter("drift_monitor_rollback_signals_total",
            "Rollback signals issued for the model.", "model");
        Findings = factory.CreateGauge("drift_monitor_findings",
            "Findings of the trigger-pattern detectors for the version, by detector and severity.", "model", "version", "detector", "severity");
        FindingsRaised = factory.CreateCounter("drift_monitor_findings_raised_total",
            "Findings raised or updated, by detector and severity.", "model", "version", "detector", "severity");
        Candidates = factory.CreateGauge("drift_monitor_candidates",
            "Keys the trigger detectors count exactly for the version (at most Monitor:Detectors:Candidates), and of them those holding a finding below critical (warned).",
            "model", "version", "holding");
        CandidatesTurnedAway = factory.CreateCounter("drift_monitor_candidates_turned_away_total",
            "Keys the candidate table turned away: promotions refused because every candidate drawn to make room held a critical finding (refused), and candidates holding a finding below critical evicted to make room (warned_evicted; first beyond Monitor:Detectors:WarnedCandidateShare of the table). Rising: the table is saturated.",
            "model", "version", "reason");
        AlertsFiring = factory.CreateGauge("drift_monitor_alerts_firing",
            "Alerts firing for the model, by severity.", "model", "severity");
        AlertChanges = factory.CreateCounter("drift_monitor_alert_changes_total",
            "Alerts fired, grown or resolved, by severity and state.", "model", "severity", "state");
        RollbackRecommended = factory.CreateGauge("drift_monitor_rollback_recommended",
            "1 while the version is quarantined and a rollback signal away from it has been issued.", "model", "version");
        RollbacksHeld = factory.CreateCounter("drift_monitor_rollbacks_held_total",
            "Rollbacks held for a human's decision (hold policy or per-model rate limit).", "model");
        Deliveries = factory.CreateCounter("drift_monitor_deliveries_total",
            "Delivery attempts to each sink, by outcome (delivered, failed; resent: a periodic re-send of the firing alerts to Alertmanager).",
            "sink", "outcome");
        OutboxPending = factory.CreateGauge("drift_monitor_outbox_pending",
            "Alert and rollback deliveries committed but not yet delivered, per sink.", "sink");
        OutboxDropped = factory.CreateGauge("drift_monitor_outbox_dropped_alerts",
            "Alert deliveries not queued for a sink because its backlog held Delivery:MaxPendingAlertsPerSink (total; rollback signals are never dropped).",
            "sink");
        RetentionDeleted = factory.CreateCounter("drift_monitor_retention_deleted_total",
            "Rows deleted by retention (Retention:Period), by table.", "what");
        DatabaseBytes = factory.CreateGauge("drift_monitor_database_bytes", "Size of the database file after the last compaction.");
        AuthRefusals = factory.CreateCounter("drift_monitor_auth_refusals_total",
            "Requests refused for their credential: missing, invalid (unknown key) or forbidden (lacks the role), by the role needed.",
            "reason", "role");
        StoreWritable = factory.CreateGauge("drift_monitor_store_writable",
            "1 while the database accepts writes; 0 from a failed write (disk full, read-only, I/O error) until a probe write succeeds.");
        StoreWritable.Set(1);
        StoreWriteFailures = factory.CreateCounter("drift_monitor_store_write_failures_total",
            "Writes the database refused, by what was being written.", "what");
        LimitBreaches = factory.CreateCounter("drift_monitor_limit_breaches_total",
            "Requests refused for breaching a limit (message_size, records_per_batch, text_bytes, tokens_per_record, category_bytes, request_id_bytes, queue_batches, queue_bytes_per_model, queue_bytes_total, models, features, client_rate, watchers).",
            "limit");
    }

    public Counter AuthRefusals { get; }
    public Counter RetentionDeleted { get; }
    public Gauge DatabaseBytes { get; }
    public Gauge OutboxDropped { get; }
    public Gauge StoreWritable { get; }
    public Counter StoreWriteFailures { get; }
    public Counter LimitBreaches { get; }

    public Gauge AlertsFiring { get; }
    public Counter AlertChanges { get; }
    public Gauge RollbackRecommended { get; }
    public Counter RollbacksHeld { get; }
    public Counter Deliveries { get; }
    public Gauge OutboxPending { get; }

    public CollectorRegistry Registry { get; }
    public Counter IngestBatches { get; }
    public Counter IngestRecords { get; }
    public Counter DigestMismatchRecords { get; }
    public Gauge QueueDepth { get; }
    public Gauge QueueCapacity { get; }
    public Counter WindowsClosed { get; }
    public Gauge WindowDrifted { get; }

    /// <summary>1 while a trusted version's kept windows mostly drifted against the baseline (<see cref="ReferenceFit"/>).</summary>
    public Gauge ReferenceMismatch { get; }
    public Gauge FeatureDrift { get; }
    public Gauge FeatureThreshold { get; }
    public Gauge FeatureDrifted { get; }
    public Gauge BaselineId { get; }
    public Gauge Models { get; }

    /// <summary>Per class, detector and placement: the readiness report's median occurrences (+Inf: blind).</summary>
    public Gauge ReadinessOccurrences { get; }
    public Gauge ReadinessBlind { get; }
    public Gauge PromotionRecords { get; }
    public Gauge Findings { get; }
    public Gauge Verdict { get; }
    public Counter RollbackSignals { get; }
    public Counter FindingsRaised { get; }

    /// <summary>The candidate table's keys (all, warned) and the keys it turned away (refused, warned_evicted), per version.</summary>
    public Gauge Candidates { get; }
    public Counter CandidatesTurnedAway { get; }

    /// <summary>Sets a version's candidate-table gauges and counters (at a window's close; the counts are since the detectors started).</summary>
    public void CandidatesLoaded(string model, string version, Monitor.Core.Detectors.CandidateLoad load)
    {
        Candidates.WithLabels(model, version, "all").Set(load.Candidates);
        Candidates.WithLabels(model, version, "warned").Set(load.Warned);
        TurnedAway(model, version, "refused", load.Refused);
        TurnedAway(model, version, "warned_evicted", load.WarnedEvicted);
        TurnedAway(model, version, "critical_evicted", load.CriticalEvicted);
    }

    /// <summary>The detectors' last counts of keys turned away, per (model, version, reason).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, string Version, string Reason), long> _turnedAway = new();

    /// <summary>
    /// Adds what the detectors turned away since the last close. Their count starts again at 0 when they are built afresh (a new
    /// baseline); the counter then grows by the new count rather than waiting for it to pass the old one.
    /// </summary>
    private void TurnedAway(string model, string version, string reason, long count)
    {
        long last = _turnedAway.GetValueOrDefault((model, version, reason));
        long added = count >= last ? count - last : count;
        _turnedAway[(model, version, reason)] = count;
        // Inc(0) too: the series exists, at 0, from the version's first window close.
        CandidatesTurnedAway.WithLabels(model, version, reason).Inc(added);
    }

    /// <summary>Counts changed findings and sets the per-detector totals; keys never become labels.</summary>
    public void FindingsChanged(string model, string version, IReadOnlyList<Monitor.Core.Detectors.Finding> changed,
        IReadOnlyList<Monitor.Core.Detectors.Finding> all)
    {
        foreach (var finding in changed)
        {
            FindingsRaised.WithLabels(model, version, finding.Detector.ToString(), Severity(finding.Severity)).Inc();
        }

        foreach (var group in all.GroupBy(f => (f.Detector, f.Severity)))
        {
            Findings.WithLabels(model, version, group.Key.Detector.ToString(), Severity(group.Key.Severity)).Set(group.Count());
        }
    }

    private static string Severity(Monitor.Core.Detectors.Severity severity) => severity.ToString().ToLowerInvariant();

    /// <summary>
    /// Sets a version's window gauges. The labelled children are looked up once per version and channel
    /// layout and reused: a window sets hundreds of gauges, at up to thousands of windows a second.
    /// </summary>
    public void WindowClosed(string model, string version, WindowResult window)
    {
        bool drifted = window.Drifted;
        WindowGauges gauges = _windowGauges.GetOrAdd((model, version), key => new WindowGauges(this, key.Model, key.Version));
        (drifted ? gauges.ClosedDrifted : gauges.ClosedClean).Inc();
        gauges.Drifted.Set(drifted ? 1 : 0);
        WindowGauges.Channel[] channels = gauges.For(window);
        for (int c = 0; c < window.Channels.Length; c++)
        {
            ChannelResult channel = window.Channels[c];
            WindowGauges.Channel children = channels[c];
            for (int s = 0; s < channel.Statistics.Length; s++)
            {
                children.Values[s].Set(channel.Values[s]);
                children.Thresholds[s].Set(channel.Thresholds[s]);
            }

            children.Drifted.Set(channel.Drifted ? 1 : 0);
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Model, string Version), WindowGauges> _windowGauges = new();

    /// <summary>A version's labelled window gauges, rebuilt when its channels change (a new baseline).</summary>
    private sealed class WindowGauges(MonitorMetrics metrics, string model, string version)
    {
        private Channel[] _channels = [];
        private string[] _names = [];

        public Counter.Child ClosedDrifted { get; } = metrics.WindowsClosed.WithLabels(model, version, "true");
        public Counter.Child ClosedClean { get; } = metrics.WindowsClosed.WithLabels(model, version, "false");
        public Gauge.Child Drifted { get; } = metrics.WindowDrifted.WithLabels(model, version);

        public Channel[] For(WindowResult window)
        {
            if (_names.Length != window.Channels.Length || !window.Channels.Select(c => c.Name).SequenceEqual(_names))
            {
                _names = [.. window.Channels.Select(c => c.Name)];
                _channels = [.. window.Channels.Select(c => new Channel(
                    [.. c.Statistics.Select(s => metrics.FeatureDrift.WithLabels(model, version, c.Name, StatisticNames.Of(s)))],
                    [.. c.Statistics.Select(s => metrics.FeatureThreshold.WithLabels(model, version, c.Name, StatisticNames.Of(s)))],
                    metrics.FeatureDrifted.WithLabels(model, version, c.Name)))];
            }

            return _channels;
        }

        internal sealed record Channel(Gauge.Child[] Values, Gauge.Child[] Thresholds, Gauge.Child Drifted);
    }
}
