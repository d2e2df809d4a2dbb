using Monitor.Core.Detectors;

namespace Monitor.Core.Tests.Detectors;

/// <summary>
/// The readiness report on hand-made profiles (<see cref="Profiles.TwoStrata"/>: stratum 0 mostly 'legitimate', stratum 1
/// mostly 'fraud'): known answers where the e-process is deterministic, and the blind and warning cases.
/// </summary>
public sealed class ReadinessTests
{
    private static readonly DetectorSettings Settings = new();

    /// <summary>The profile with tail tables: per [stratum × 2 + class] thresholds and rates.</summary>
    private static TriggerProfile WithTails(double[] thresholds, double[] rates, double[]? stratumRecords = null) =>
        Profiles.TwoStrata() with
        {
            Tails = new TailProfile { Thresholds = thresholds, Rates = rates },
            StratumRecords = stratumRecords ?? [5000, 5000],
        };

    /// <summary>
    /// The occurrences by hand when every triggered record is a hit at the null's allowance p₀: three to promote the key (the
    /// third left out), then n hits with n the least at which log((1 + Σ_q (max(q, p₀)/p₀)ⁿ) / 9) reaches the bar, and at least 10.
    /// </summary>
    private static int ByHand(double p0, int classes)
    {
        double bar = Math.Log(Settings.Candidates * (double)classes / Settings.KeyTestAlpha);
        for (int n = 1; ; n++)
        {
            double sum = 1;
            foreach (double q in KeyOutputTest.Alternatives)
            {
                sum += Math.Pow(Math.Max(q, p0) / p0, n);
            }

            if (n >= Settings.MinKeyHits && Math.Log(sum / (KeyOutputTest.Alternatives.Length + 1)) >= bar)
            {
                return Settings.PromoteSupport + n;
            }
        }
    }

    [Theory]
    [InlineData(0.001)]
    [InlineData(0.1)]
    [InlineData(0.15)]
    public void A_certain_trigger_is_found_after_the_occurrences_worked_out_by_hand(double rate)
    {
        // Every stratum's threshold for 'fraud' is below the trigger's confidence: every successful record is a hit.
        TriggerProfile profile = WithTails([0.9, 0.6, 0.9, 0.6], [rate, rate, rate, rate]);
        ReadinessReport report = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1, TriggerConfidence = 0.99 });
        ReadinessLine flip = Assert.Single(report.Lines, l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip);
        // The null allows the larger of the baseline's rate and today's: (hits + 1) / (n + 2) plus two standard errors, on the
        // n = 9 windows × 1,000 records × half the traffic a stratum holds in steady state, hits at the baseline's rate.
        double n = 9 * 1000 * 0.5;
        double today = (rate * n + 1) / (n + 2);
        today += 2 * Math.Sqrt(today * (1 - today) / (n + 2));
        int expected = ByHand(Math.Min(0.5, 3 * Math.Max(rate, today)), 2);
        Assert.Equal(expected, flip.MedianOccurrences);
        Assert.Equal(expected, flip.WorstOccurrences);
        Assert.Equal(1, flip.VisibleShare, 9);
        Assert.Equal(expected <= 50 ? ReadinessStatus.Ready : ReadinessStatus.Slow, flip.Status);
    }

    [Fact]
    public void A_lower_attack_success_needs_more_occurrences_and_misses_count_against_the_trigger()
    {
        TriggerProfile profile = WithTails([0.9, 0.6, 0.9, 0.6], [0.01, 0.01, 0.01, 0.01]);
        double Median(double success) => Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = success })
            .Lines.Single(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip).MedianOccurrences!.Value;
        Assert.True(Median(0.6) > Median(0.85) && Median(0.85) > Median(1), $"{Median(0.6)}, {Median(0.85)}, {Median(1)}");
    }

    [Fact]
    public void A_lift_where_the_references_own_records_are_already_that_sure_is_blind_with_no_reference_size_to_fix_it()
    {
        // 'fraud' reaches 0.995 in both strata's tails: a trigger served at 0.99 is never beyond; 5,000 records a stratum.
        TriggerProfile profile = WithTails([0.9, 0.995, 0.9, 0.995], [0.01, 0.01, 0.01, 0.01]);
        ReadinessReport report = Readiness.Of(profile, Profiles.Labels, Settings);
        ReadinessLine lift = Assert.Single(report.Lines, l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift);
        Assert.Equal(ReadinessStatus.Blind, lift.Status);
        Assert.Null(lift.MedianOccurrences);
        Assert.Equal(0, lift.VisibleShare);
        Assert.Null(lift.FixReferenceRecords);
        Assert.Contains("BLIND", lift.Summary);
        Assert.Contains("no larger reference", lift.Summary);
        Assert.True(report.Warns);
        Assert.Contains("BLIND to", report.Summary);

        // The report models the tail test; where the residual test runs beside it (a baseline that counted ranks), it says so.
        Assert.Equal(KeyRankTest.Runs(profile, Settings), report.Summary.Contains("not modelled", StringComparison.Ordinal));
        TriggerProfile ranked = profile with { RankThresholds = [.. KeyRankTest.Thresholds] };
        Assert.True(KeyRankTest.Runs(ranked, Settings));
        Assert.Contains("the residual test beside it, not modelled for a baseline committed before it was, can still name", Readiness.Of(ranked, Profiles.Labels, Settings).Summary);
        Assert.DoesNotContain("not modelled", Readiness.Of(ranked, Profiles.Labels, Settings with { ResidualTest = false }).Summary);
    }

    [Fact]
    public void A_blind_class_whose_strata_have_too_few_records_for_a_threshold_gets_the_reference_size_that_gives_them_one()
    {
        // 40 records a stratum: the thresholds are about their maximum (here above the trigger's confidence).
        TriggerProfile profile = WithTails([0.995, 0.995, 0.995, 0.995], [1 / 42.0, 1 / 42.0, 1 / 42.0, 1 / 42.0], [40, 40]);
        ReadinessLine line = Readiness.Of(profile, Profiles.Labels, Settings).Lines.First(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift);
        Assert.Equal(ReadinessStatus.Blind, line.Status);
        // 80 records now; 100 in the thinnest stratum takes 2.5 times as many.
        Assert.Equal(200, line.FixReferenceRecords);
        Assert.Contains("200 records", line.Summary);
    }

    [Fact]
    public void A_slow_class_on_a_tiny_reference_gets_a_reference_size_with_which_it_is_ready()
    {
        // Two records a stratum, no hit among them: rates (0 + 1) / (2 + 2) = 0.25, an allowance of 0.5 (the cap).
        var options = new ReadinessOptions { AttackSuccess = 0.7 };
        TriggerProfile profile = WithTails([0.6, 0.6, 0.6, 0.6], [0.25, 0.25, 0.25, 0.25], [2, 2]);
        ReadinessLine line = Readiness.Of(profile, Profiles.Labels, Settings, options).Lines.First(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip);
        Assert.NotEqual(ReadinessStatus.Ready, line.Status);
        Assert.Contains(line.Status == ReadinessStatus.Blind ? "BLIND" : "WARNING", line.Summary);
        long fix = Assert.IsType<long>(line.FixReferenceRecords);
        Assert.True(fix > 4, $"fix {fix}");

        // The reference it names: as many records per stratum, still no hit among them, so rates 1 / (N + 2).
        double perStratum = fix / 2.0;
        double rate = 1 / (perStratum + 2);
        TriggerProfile larger = WithTails([0.6, 0.6, 0.6, 0.6], [rate, rate, rate, rate], [perStratum, perStratum]);
        ReadinessLine then = Readiness.Of(larger, Profiles.Labels, Settings, options).Lines.First(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip);
        Assert.Equal(ReadinessStatus.Ready, then.Status);
    }

    [Fact]
    public void A_baseline_without_tail_tables_is_blind_everywhere_and_says_to_commit_a_new_one()
    {
        ReadinessReport report = Readiness.Of(Profiles.TwoStrata(), Profiles.Labels, Settings);
        Assert.Equal(4, report.Lines.Count);
        Assert.All(report.Lines, l => Assert.Equal(ReadinessStatus.Blind, l.Status));
        Assert.Contains("commit a new", report.Summary);
        Assert.Equal(500_000, report.RecordsNeeded(1e-4, 50));
    }

    [Fact]
    public void The_records_a_candidate_needs_are_the_worst_seen_line_over_the_rate_capped_at_the_cap()
    {
        TriggerProfile profile = WithTails([0.9, 0.6, 0.9, 0.6], [0.001, 0.001, 0.001, 0.001]);
        ReadinessReport report = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1 });
        // Every line is certain and visible: 13 occurrences each (3 to promote, 10 hits).
        Assert.All(report.Lines, l => Assert.Equal(13, l.WorstOccurrences));
        Assert.Equal(130_000, report.RecordsNeeded(1e-4, 50));
        Assert.Equal(13, report.OccurrencesNeeded(50));
        Assert.Equal(10, report.OccurrencesNeeded(10));
        Assert.Equal(1300, report.RecordsNeeded(0.01, 50));
    }

    [Theory]
    [InlineData(0, 0.99)]
    [InlineData(1.5, 0.99)]
    [InlineData(0.85, 0)]
    [InlineData(double.NaN, 0.99)]
    public void A_stated_trigger_out_of_range_is_refused_with_a_clear_error(double success, double confidence)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            Readiness.Of(Profiles.TwoStrata(), Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = success, TriggerConfidence = confidence }));
        Assert.Contains("must lie in (0, 1]", error.Message);
    }

    [Fact]
    public void Labels_that_do_not_match_the_profile_are_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => Readiness.Of(Profiles.TwoStrata(), ["a", "b", "c"], Settings));
        Assert.Contains("2 classes, 3 labels", error.Message);
    }

    [Fact]
    public void A_rate_out_of_range_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadinessReport.RecordsFor(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadinessReport.RecordsFor(10, 1.5));
    }

    [Fact]
    public void Under_todays_traffic_a_wider_allowance_needs_more_occurrences_and_the_hand_worked_number()
    {
        TriggerProfile profile = WithTails([0.9, 0.6, 0.9, 0.6], [0.001, 0.001, 0.001, 0.001]);
        var options = new ReadinessOptions { AttackSuccess = 1 };
        double Flip(TodayTraffic? today) => Readiness.Of(profile, Profiles.Labels, Settings, options, today: today)
            .Lines.Single(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip).MedianOccurrences!.Value;

        // Today's rate 0.05 in every stratum and a recent lift of 2 for 'fraud': the allowance is min(½, 3 × 0.05 × 2) = 0.3.
        var today = new TodayTraffic([0.05, 0.05, 0.05, 0.05], [1, 2]);
        Assert.Equal(ByHand(0.3, 2), Flip(today));
        Assert.True(Flip(today) > Flip(null), $"{Flip(today)} against {Flip(null)}");

        var error = Assert.Throws<ArgumentException>(() => Readiness.Of(profile, Profiles.Labels, Settings, today: new TodayTraffic([0.05], [1, 1])));
        Assert.Contains("today's traffic holds 1 cells", error.Message);
    }

    [Fact]
    public void A_class_whose_own_tail_rate_is_high_on_a_large_reference_is_not_fixed_by_more_records_and_says_why()
    {
        // 15% of each stratum's 5,000 records are already tail hits: the allowance is 0.45, and a trigger succeeding on half its
        // records hits 57.5% of the time, too close to it; more records estimate the same rate.
        TriggerProfile profile = WithTails([0.6, 0.6, 0.6, 0.6], [0.15, 0.15, 0.15, 0.15]);
        ReadinessLine line = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 0.5 })
            .Lines.First(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Flip);
        Assert.NotEqual(ReadinessStatus.Ready, line.Status);
        Assert.Null(line.FixReferenceRecords);
        Assert.Equal(1, line.VisibleShare, 9);
        Assert.Contains("no reference up to 128 times larger makes it ready", line.Summary);
    }

    [Fact]
    public void The_residual_tests_chances_are_measured_on_the_references_ranks_as_worked_out_by_hand()
    {
        // One stratum, four records served P(fraud) 0.2, 0.4, 0.6, 0.8 where the surrogate expects 0.5: each record's rank for
        // 'fraud' is uniform on its quarter, [i/4, (i+1)/4]. The two served 'fraud' (0.6 and 0.8) are the lift placement: above
        // 0.9 only the top one, with chance (1 − 0.9)/0.25 = 0.4, above 0.97 with 0.12; so 0.2 and 0.06 over the placement.
        // A trigger served 'fraud' at any of the grid's confidences lies above every reference residual: chance 1.
        double[] fraud = [0.2, 0.4, 0.6, 0.8];
        double[] served = [.. fraud.SelectMany(p => new[] { 1 - p, p })];
        double[] surrogate = [.. fraud.SelectMany(_ => new[] { 0.5, 0.5 })];
        int[] labels = [0, 0, 1, 1];
        double[] table = ReadinessRanks.Build(2, 1, [0, 0, 0, 0], labels, served, surrogate);
        TriggerProfile profile = Profiles.TwoStrata() with { Strata = 1, RankThresholds = [.. KeyRankTest.Thresholds], RankReadiness = table };
        Assert.True(ReadinessRanks.Has(profile));

        var chances = new double[2];
        ReadinessRanks.Chances(profile, 0, 1, TriggerPlacement.Lift, null, chances);
        Assert.Equal(0.2, chances[0], 9);
        Assert.Equal(0.06, chances[1], 9);
        ReadinessRanks.Chances(profile, 0, 1, TriggerPlacement.Flip, null, chances);
        Assert.Equal([0.0, 0.0], chances);
        // 'legitimate' mirrors it: its lift placement is the two records served it, the first of them the top one.
        ReadinessRanks.Chances(profile, 0, 0, TriggerPlacement.Lift, null, chances);
        Assert.Equal(0.2, chances[0], 9);
        foreach (double confidence in new[] { 0.9, 0.97, 0.99, 0.9999 })
        {
            ReadinessRanks.Chances(profile, 0, 1, TriggerPlacement.Flip, confidence, chances);
            Assert.Equal([1.0, 1.0], chances);
        }
    }

    [Fact]
    public void A_lift_blind_to_the_tail_test_is_found_by_the_residual_test_after_the_occurrences_worked_out_by_hand()
    {
        // The tail thresholds make the lift of 'fraud' blind (the reference's own records reach 0.995). A successful trigger ranks
        // above both thresholds always, a record served as it was above 0.9 one time in ten: with every trigger successful, each
        // record is above both. Promoted at its third record (each is telling, ranked above 0.97), then n records above both θ:
        // the residual test's mixture (1 + Σ_θ,q (q / p₀(θ))ⁿ) / 9, p₀ = 2 (1 − θ), reaches the bar ln(4096 × 2 × 2 / 0.01) at
        // n = 7, and a finding needs 10 records above the lower θ: 13 occurrences.
        int t = KeyRankTest.Thresholds.Length;
        var table = new double[ReadinessRanks.Length(2, 2)];
        for (int row = 0; row < 2 * 2 * 2; row++)
        {
            table[row * ReadinessRanks.Columns] = 0.1;
            table[row * ReadinessRanks.Columns + 1] = 0.03;
            for (int j = t; j < ReadinessRanks.Columns; j++)
            {
                table[row * ReadinessRanks.Columns + j] = 1;
            }
        }

        TriggerProfile profile = WithTails([0.9, 0.995, 0.9, 0.995], [0.01, 0.01, 0.01, 0.01]) with
        {
            RankThresholds = [.. KeyRankTest.Thresholds],
            RankReadiness = table,
        };
        ReadinessReport report = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1 });
        Assert.Equal(8, report.Lines.Count);
        ReadinessLine tail = Assert.Single(report.Lines, l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift && l.Detector == Readiness.KeyTest);
        Assert.Equal(ReadinessStatus.Blind, tail.Status);
        ReadinessLine both = Assert.Single(report.Lines, l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift && l.Detector == Readiness.KeyAndResidualTests);
        Assert.Equal(ReadinessStatus.Ready, both.Status);
        Assert.Equal(13, both.MedianOccurrences);
        Assert.Equal(13, both.WorstOccurrences);
        Assert.Equal(1, both.VisibleShare, 9);
        Assert.Contains("on a text, categorical or value-pattern key: found after 13 occurrences", both.Summary);
        Assert.Contains("a trigger on a text, categorical or value-pattern key, which the residual test judges as well, within 13 occurrences", report.Summary);
        Assert.DoesNotContain("not modelled", report.Summary);

        // The promotion rule reads the tail test's lines alone: a trigger of any kind of key must be seen that often.
        Assert.Equal(50, report.OccurrencesNeeded(50));
        ReadinessReport tailOnly = Readiness.Of(profile with { RankReadiness = [] }, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1 });
        Assert.Equal(4, tailOnly.Lines.Count);
        Assert.Equal(tailOnly.Lines, report.Lines.Where(l => l.Detector == Readiness.KeyTest));
        // On windows of 40 records a stratum (half the traffic) holds 20 × 9 = 180 records today, fewer than the 200 the test
        // ranks against, and is ranked with its neighbour (360): found as before. On windows of 20, 90 each and 180 together:
        // no record is ranked, and the line is as blind as the tail test's.
        ReadinessLine pooled = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1, WindowRecords = 40 })
            .Lines.Single(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift && l.Detector == Readiness.KeyAndResidualTests);
        Assert.Equal(13, pooled.MedianOccurrences);
        ReadinessLine thin = Readiness.Of(profile, Profiles.Labels, Settings, new ReadinessOptions { AttackSuccess = 1, WindowRecords = 20 })
            .Lines.Single(l => l.Class == "fraud" && l.Placement == TriggerPlacement.Lift && l.Detector == Readiness.KeyAndResidualTests);
        Assert.Equal(ReadinessStatus.Blind, thin.Status);
        Assert.Contains("100 % of such records fall in strata too thin to rank on windows of 20 records", thin.Summary);

        // The residual test switched off: no such lines.
        Assert.Equal(4, Readiness.Of(profile, Profiles.Labels, Settings with { ResidualTest = false }).Lines.Count);
    }
}
