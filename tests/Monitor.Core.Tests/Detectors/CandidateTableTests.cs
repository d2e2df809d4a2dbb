using System.Reflection;
using Monitor.Core.Detectors;
using static Monitor.Core.Tests.Detectors.Profiles;

namespace Monitor.Core.Tests.Detectors;

public sealed class CandidateTableTests
{
    private static readonly DetectorSettings Settings = new() { PromoteSupport = 3, Candidates = 2, HorizonRecords = 5, SketchWidth = 1 << 10, HeavyHitters = 64 };
    private static readonly TriggerProfile Profile = TwoStrata();

    /// <summary>Two 16-bit lanes of an input print in use.</summary>
    private const ulong TwoLanes = 0xFFFF_FFFFUL;

    [Fact]
    public void A_key_screened_on_enough_surprising_records_is_promoted_and_remembers_them()
    {
        var table = new CandidateTable(Settings, 2, 2);
        ulong hash = KeyHash.Of(KeyKind.Token, 0, "ref:xz".AsSpan());
        Assert.False(table.Screen(hash));
        Assert.False(table.Screen(hash));
        Assert.True(table.IsTracked(hash));
        Assert.False(table.TryGet(hash, out _));
        Assert.True(table.Screen(hash));

        Assert.True(table.MakeRoom());
        Candidate promoted = table.Promote(hash, new DetectorKey(KeyKind.Token, "memo", "ref:xz"), DateTimeOffset.UnixEpoch, 42);
        Assert.Equal(3, promoted.SurprisingBefore);
        Assert.True(table.TryGet(hash, out Candidate? found));
        Assert.Same(promoted, found);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void A_full_table_evicts_the_candidate_least_often_surprising_and_one_with_a_finding_only_beyond_its_share()
    {
        var table = new CandidateTable(Settings, 2, 2);
        Candidate young = Promote(table, "young", surprising: true);
        Promote(table, "benign", surprising: false);

        Assert.True(table.MakeRoom());
        Assert.Equal(1, table.Count);
        Assert.True(table.TryGet(Hash("young"), out _));
        Assert.False(table.TryGet(Hash("benign"), out _));

        Candidate other = Promote(table, "other", surprising: false, records: 5);
        young.Raised = AFinding();
        other.Raised = AFinding();
        // Both critical: more than half the table, so the one with the least support makes room.
        Assert.True(table.MakeRoom());
        Assert.True(table.TryGet(Hash("young"), out _));
        Assert.False(table.TryGet(Hash("other"), out _));
        Assert.Equal(1, table.Load.CriticalEvicted);
    }

    [Fact]
    public void Under_a_flood_of_keys_each_promoted_by_one_telling_record_a_key_with_many_telling_records_keeps_its_place()
    {
        // As on a 64-pixel image: telling records promote one-off keys by the thousand. The trigger's key has 11 of its 25 records
        // telling, where records are telling at 14%.
        const double rate = 0.14;
        DetectorSettings settings = Settings with { Candidates = 64, HorizonRecords = 1_000_000 };
        var table = new CandidateTable(settings, 2, 2, strength: c => CandidateTable.Strength(c.Surprising, c.Exact, rate));
        var byShare = new CandidateTable(settings, 2, 2);
        foreach (CandidateTable t in new[] { table, byShare })
        {
            Promote(t, "trigger", telling: 11, quiet: 14);
            for (int i = 0; i < 5000; i++)
            {
                Promote(t, $"one-off {i}", surprising: true, records: 1);
            }
        }

        Assert.True(table.TryGet(Hash("trigger"), out _));

        // By the share of its records that were telling alone, (11 + 1) / (25 + 2) against (1 + 1) / (1 + 2), it went.
        Assert.False(byShare.TryGet(Hash("trigger"), out _));
    }

    [Fact]
    public void A_candidates_strength_is_its_telling_records_evidence_against_the_rate_and_negative_below_it()
    {
        Assert.Equal(Math.Log(1 / 0.14), CandidateTable.Strength(1, 1, 0.14), 12);
        Assert.True(CandidateTable.Strength(11, 25, 0.14) > 3 * CandidateTable.Strength(1, 1, 0.14));
        Assert.True(CandidateTable.Strength(22, 50, 0.14) > CandidateTable.Strength(11, 25, 0.14));
        Assert.True(CandidateTable.Strength(2, 40, 0.14) < 0);
        Assert.True(CandidateTable.Strength(4, 80, 0.14) < CandidateTable.Strength(2, 40, 0.14));
        Assert.Equal(0, CandidateTable.Strength(0, 0, 0.14));
    }

    [Fact]
    public void An_exact_value_recurs_once_a_telling_record_brought_it_and_until_another_value_takes_its_slot()
    {
        var table = new CandidateTable(Settings, 2, 2);
        ulong value = KeyHash.Of(KeyKind.Value, 3, BitConverter.SingleToUInt32Bits(16f));
        Assert.False(table.Recurs(value));
        Assert.True(table.Recurs(value));
        Assert.True(table.Recurs(value));

        // Another feature's value whose key maps to the same slot takes it.
        const ulong slots = CandidateTable.ValueSlots - 1;
        ulong other = 0;
        for (uint bits = 0; other == 0; bits++)
        {
            ulong candidate = KeyHash.Of(KeyKind.Value, 4, bits);
            other = (candidate & slots) == (value & slots) && candidate != value ? candidate : 0;
        }

        Assert.False(table.Recurs(other));
        Assert.False(table.Recurs(value));
        Assert.True(table.Recurs(value));
    }

    [Fact]
    public void At_the_horizon_sketches_restart_and_candidates_keep_half_their_counts()
    {
        var table = new CandidateTable(Settings, 2, 2);
        Candidate weak = Promote(table, "weak", surprising: true, records: 4);
        Candidate raised = Promote(table, "raised", surprising: true, records: 10);
        raised.Raised = AFinding();
        ulong screened = Hash("screened");
        table.Screen(screened);
        table.Screen(screened);

        for (int i = 0; i < 5; i++)
        {
            Assert.False(table.HorizonReached());
        }

        Assert.True(table.HorizonReached());
        table.RollHorizon(records: 6);

        // Halved to 2, under the promotion support, and without a finding: dropped. The raised candidate stays, halved.
        Assert.False(table.TryGet(Hash("weak"), out _));
        Assert.Equal(2, weak.Support);
        Assert.True(table.TryGet(Hash("raised"), out _));
        Assert.Equal(5, raised.Support);
        Assert.False(table.IsTracked(screened));
        Assert.False(table.Screen(screened));
        Assert.False(table.HorizonReached());
    }

    [Fact]
    public void A_table_full_of_keys_with_warnings_still_promotes_a_new_key_and_counts_the_warned_one_it_evicts()
    {
        // An ingest-key flood: every slot holds a key someone warned on purpose (a known word served a little more of a class).
        DetectorSettings settings = Settings with { Candidates = 16 };
        var table = new CandidateTable(settings, 2, 2);
        for (int k = 0; k < 16; k++)
        {
            Promote(table, $"warned{k}", surprising: true, records: 20 + k).Raised = AFinding(Severity.Warning);
        }

        Assert.Equal(new CandidateLoad(16, 16, 0, 0), table.Load);

        // A trigger's key earns exact counting: room is made, from the warned keys (the one with the least support drawn).
        Candidate trigger = Promote(table, "trigger", surprising: true);
        Assert.True(table.TryGet(Hash("trigger"), out _));
        Assert.Equal(new CandidateLoad(16, 15, 0, 1), table.Load);

        // And it keeps its slot while the flood goes on: past their share (half the table), warned keys make room first.
        for (int k = 16; k < 80; k++)
        {
            Promote(table, $"warned{k}", surprising: true).Raised = AFinding(Severity.Warning);
        }

        Assert.True(table.TryGet(Hash("trigger"), out Candidate? kept));
        Assert.Same(trigger, kept);
        Assert.Equal(new CandidateLoad(16, 15, 0, 65), table.Load);

        // Keys without findings take the slots beyond the warned keys' share; the share itself they keep.
        for (int k = 0; k < 40; k++)
        {
            Promote(table, $"benign{k}", surprising: false);
        }

        Assert.True(table.TryGet(Hash("trigger"), out _));
        Assert.Equal(8, table.Load.Warned);
    }

    [Fact]
    public void Critical_candidates_stay_up_to_half_the_table_and_beyond_it_the_quietest_makes_room_and_is_counted()
    {
        DetectorSettings settings = Settings with { Candidates = 16 };
        var table = new CandidateTable(settings, 2, 2);
        for (int k = 0; k < 8; k++)
        {
            Promote(table, $"critical{k}", surprising: false, records: 3).Raised = AFinding();
        }

        for (int k = 0; k < 200; k++)
        {
            Promote(table, $"warned{k}", surprising: true, records: 100).Raised = AFinding(Severity.Warning);
        }

        // However weak their evidence, the critical keys stay: their findings keep counting while their keys keep arriving.
        for (int k = 0; k < 8; k++)
        {
            Assert.True(table.TryGet(Hash($"critical{k}"), out _), $"critical{k} was evicted");
        }

        Assert.Equal(0, table.Load.Refused);

        // A table full of critical keys (forged records can make keys critical on a trusted version without failing it) makes
        // room all the same: the drawn critical key with the least support goes, its finding kept, until they hold half of it.
        var full = new CandidateTable(settings, 2, 2);
        for (int k = 0; k < 16; k++)
        {
            Promote(full, $"critical{k}", surprising: false, records: 3 + k).Raised = AFinding();
        }

        Assert.True(full.MakeRoom());
        Assert.Equal(new CandidateLoad(15, 0, 0, 0, 1), full.Load);
        Promote(full, "trigger", surprising: true, records: 3);
        for (int k = 0; k < 200; k++)
        {
            Promote(full, $"clean{k}", surprising: false, records: 3);
        }

        // Half the table stays critical; the others make room among themselves, and the trigger's key (its records surprising)
        // outlasts the clean keys drawn with it.
        int critical = Enumerable.Range(0, 16).Count(k => full.TryGet(Hash($"critical{k}"), out _));
        Assert.Equal(8, critical);
        Assert.True(full.TryGet(Hash("trigger"), out _), "the trigger's key was evicted");
        Assert.Equal(8, full.Load.CriticalEvicted);
        Assert.Equal(0, full.Load.Refused);
    }

    [Fact]
    public void At_the_horizon_a_warned_key_that_stopped_arriving_goes_and_a_critical_one_stays()
    {
        var table = new CandidateTable(Settings, 2, 2);
        Candidate warned = Promote(table, "warned", surprising: true, records: 4);
        Candidate critical = Promote(table, "critical", surprising: true, records: 4);
        warned.Raised = AFinding(Severity.Warning);
        critical.Raised = AFinding();
        Assert.Equal(1, table.Load.Warned);
        table.RollHorizon(records: 6);

        Assert.False(table.TryGet(Hash("warned"), out _));
        Assert.True(table.TryGet(Hash("critical"), out _));
        Assert.Equal(new CandidateLoad(1, 0, 0, 0), table.Load);
    }

    [Fact]
    public void A_restored_table_with_warned_keys_evicts_what_the_table_that_never_stopped_evicts_and_keeps_its_counts()
    {
        DetectorSettings settings = Settings with { Candidates = 16 };
        Finding warning = AFinding(Severity.Warning);
        var uninterrupted = new CandidateTable(settings, 2, 2);
        var before = new CandidateTable(settings, 2, 2);
        for (int k = 0; k < 30; k++)
        {
            Promote(uninterrupted, $"key{k}", surprising: true, records: 1 + k % 5).Raised = k % 3 == 0 ? null : warning;
            Promote(before, $"key{k}", surprising: true, records: 1 + k % 5).Raised = k % 3 == 0 ? null : warning;
        }

        CandidateLoad load = before.Load;
        var restored = new CandidateTable(settings, 2, 2);
        restored.Restore(before.HorizonRecords, before.Draws, before.Export(), before.ExportHeavyHitters(),
            key => key == warning.DedupeKey ? warning : null, (load.Refused, load.WarnedEvicted, load.CriticalEvicted));
        Assert.Equal(load, restored.Load);
        for (int k = 30; k < 60; k++)
        {
            Promote(uninterrupted, $"key{k}", surprising: true, records: 1 + k % 5).Raised = k % 3 == 0 ? null : warning;
            Promote(restored, $"key{k}", surprising: true, records: 1 + k % 5).Raised = k % 3 == 0 ? null : warning;
        }

        Assert.Equal(uninterrupted.Export().Select(c => c.Hash), restored.Export().Select(c => c.Hash));
        Assert.Equal(uninterrupted.Load, restored.Load);
    }

    private static ulong Hash(string text) => KeyHash.Of(KeyKind.Token, 0, text.AsSpan());

    [Fact]
    public void A_key_on_8_percent_of_the_records_stays_a_population_after_its_counts_halve_at_a_horizon()
    {
        // Promoted at record 0, carried by 800 of the next 10,000 records (8%, over the 5% of a population).
        var table = new CandidateTable(Settings with { Candidates = 16 }, 2, 2);
        Candidate common = Promote(table, "common", surprising: false, records: 800);
        Assert.True(KeyOutputTest.Common(common, records: 10_000));

        // Counts halve at the horizon; so does the span they cover, and the share is still 8%, not 4% of all 10,000 records.
        common.Halve(records: 10_000);
        Assert.Equal(400, common.Exact);
        Assert.Equal(5_000, common.ShareOrigin);
        Assert.True(KeyOutputTest.Common(common, records: 10_000));
        Assert.False(KeyOutputTest.Common(common, records: 20_000));

        // And a checkpoint keeps where the share is counted from.
        CandidateState state = common.Export(Hash("common"));
        var restored = new Candidate(common.Key, 2, 2, DateTimeOffset.UnixEpoch, 0);
        Assert.True(restored.Restore(state, _ => null));
        Assert.Equal(5_000, restored.ShareOrigin);
        Assert.Equal(0, restored.Restore(state with { ShareOrigin = null }, _ => null) ? restored.ShareOrigin : -1);
    }

    [Fact]
    public void A_table_restored_from_a_checkpoint_evicts_the_candidates_the_table_that_never_stopped_evicts()
    {
        // 16 slots, 40 keys of equal weight: which candidate makes room is drawn, and the draw must not restart with the process.
        DetectorSettings settings = Settings with { Candidates = 16 };
        var uninterrupted = new CandidateTable(settings, 2, 2);
        var before = new CandidateTable(settings, 2, 2);
        for (int k = 0; k < 24; k++)
        {
            Promote(uninterrupted, $"key{k}", surprising: false, records: 1);
            Promote(before, $"key{k}", surprising: false, records: 1);
        }

        var restored = new CandidateTable(settings, 2, 2);
        restored.Restore(before.HorizonRecords, before.Draws, before.Export(), before.ExportHeavyHitters(), _ => null);
        for (int k = 24; k < 40; k++)
        {
            Promote(uninterrupted, $"key{k}", surprising: false, records: 1);
            Promote(restored, $"key{k}", surprising: false, records: 1);
        }

        Assert.Equal(uninterrupted.Export().Select(c => c.Hash), restored.Export().Select(c => c.Hash));
    }

    [Fact]
    public void A_key_screened_once_before_a_checkpoint_is_promoted_at_the_same_occurrence_after_it()
    {
        var before = new CandidateTable(Settings, 2, 2);
        ulong hash = Hash("ref:once");
        Assert.False(before.Screen(hash));

        var restored = new CandidateTable(Settings, 2, 2);
        restored.Restore(before.HorizonRecords, before.Draws, before.Export(), before.ExportHeavyHitters(), _ => null);
        Assert.False(restored.Screen(hash));
        Assert.True(restored.Screen(hash));
    }

    [Fact]
    public void An_exact_value_screened_once_before_a_checkpoint_recurs_after_it_as_in_the_table_that_never_stopped()
    {
        // As the detectors screen a telling record's exact value: whether it recurs, then its screen.
        ulong value = KeyHash.Of(KeyKind.Value, 2, BitConverter.SingleToUInt32Bits(16f));
        var before = new CandidateTable(Settings, 2, 2);
        Assert.False(before.Recurs(value));
        Assert.False(before.Screen(value));

        var restored = new CandidateTable(Settings, 2, 2);
        restored.Restore(before.HorizonRecords, before.Draws, before.Export(), before.ExportHeavyHitters(), _ => null);
        foreach (CandidateTable table in new[] { before, restored })
        {
            Assert.True(table.Recurs(value));
            Assert.False(table.Screen(value));
            Assert.True(table.Recurs(value));
            Assert.True(table.Screen(value));
        }
    }

    [Fact]
    public void A_critical_key_that_later_warns_on_another_class_keeps_its_critical_finding_and_its_place()
    {
        DetectorSettings settings = Settings with { Candidates = 4 };
        var table = new CandidateTable(settings, 2, 2);
        Candidate key = Promote(table, "trigger", surprising: false, records: 3);
        key.Raise(AFinding());
        Finding warning = AFinding(Severity.Warning) with { TargetLabel = "legitimate" };
        Assert.Same(warning, key.Raise(warning));
        Assert.Equal(Severity.Critical, key.Raised!.Severity);
        Assert.False(key.Warned);

        // The same finding updated (its key and label) is followed, whatever its severity; a more severe one always is.
        Finding updated = AFinding() with { Support = 40 };
        key.Raise(updated);
        Assert.Same(updated, key.Raised);
        for (int k = 0; k < 100; k++)
        {
            Promote(table, $"warned{k}", surprising: true, records: 100).Raise(AFinding(Severity.Warning) with { TargetLabel = $"w{k}" });
        }

        Assert.True(table.TryGet(Hash("trigger"), out _), "the critical key was evicted");
    }

    [Fact]
    public void A_candidate_let_go_is_reused_only_after_the_record_and_then_holds_nothing_of_its_last_key()
    {
        var settings = Settings with { Candidates = 1, RememberedInputs = 8 };
        var table = new CandidateTable(settings, 2, 2, printLanes: TwoLanes);
        Candidate first = Promote(table, "first", surprising: true);
        Dirty(first);
        long promotion = first.Promotion;

        // Letting it go during a record does not free it for that record's promotions: something may still read it.
        Assert.True(table.MakeRoom());
        Candidate second = table.Promote(Hash("second"), new DetectorKey(KeyKind.Token, "memo", "second"), DateTimeOffset.UnixEpoch, 7);
        Assert.NotSame(first, second);

        // Once the record is done it is reused, and field by field it is a new candidate for its new key.
        table.Recycle();
        Assert.True(table.MakeRoom());
        Candidate third = table.Promote(Hash("third"), new DetectorKey(KeyKind.Token, "memo", "third"), DateTimeOffset.UnixEpoch.AddHours(1), 9);
        Assert.Same(first, third);
        Assert.NotEqual(promotion, third.Promotion);
        var fresh = new Candidate(new DetectorKey(KeyKind.Token, "memo", "third"), 2, 2, DateTimeOffset.UnixEpoch.AddHours(1), 9, 8, TwoLanes)
        {
            SurprisingBefore = third.SurprisingBefore,
        };
        Assert.NotEqual(fresh.Promotion, third.Promotion);
        fresh.WarnedTally = third.WarnedTally;
        fresh.CriticalTally = third.CriticalTally;
        AssertSameState(fresh, third, nameof(Candidate));
    }

    /// <summary>Sets every field of the candidate (and of the objects it owns) away from its constructed value.</summary>
    private static void Dirty(object target)
    {
        foreach (FieldInfo field in target.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            object? value = field.GetValue(target);
            switch (value)
            {
                case Array array:
                    for (int i = 0; i < array.Length; i++)
                    {
                        array.SetValue(Convert.ChangeType(3, array.GetType().GetElementType()!, System.Globalization.CultureInfo.InvariantCulture), i);
                    }

                    continue;
                case List<string> list:
                    list.Add("left over");
                    continue;
                case RememberedInputs inputs:
                    Dirty(inputs);
                    continue;
            }

            if (field.IsInitOnly && field.FieldType.IsValueType)
            {
                continue;
            }

            object? dirty = field.FieldType switch
            {
                Type t when t == typeof(long) => 5L,
                Type t when t == typeof(int) => 5,
                Type t when t == typeof(double) => 5.0,
                Type t when t == typeof(bool?) => true,
                Type t when t == typeof(DateTimeOffset) => DateTimeOffset.UnixEpoch.AddDays(3),
                Type t when t == typeof(DetectorKey) => new DetectorKey(KeyKind.Token, "memo", "old"),
                Type t when t == typeof(Finding) => AFinding(Severity.Warning),
                Type t when t == typeof(CandidateTable.Tally) => null,
                _ => throw new InvalidOperationException($"Dirty does not know how to set {field.Name} ({field.FieldType})"),
            };
            field.SetValue(target, dirty);
        }
    }

    private static void AssertSameState(object expected, object actual, string path)
    {
        foreach (FieldInfo field in expected.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (field.Name == "<Promotion>k__BackingField")
            {
                continue; // every promotion has a number of its own
            }

            object? want = field.GetValue(expected);
            object? got = field.GetValue(actual);
            string where = $"{path}.{field.Name}";
            switch (want)
            {
                case Array array:
                    Assert.True(((System.Collections.IStructuralEquatable)array).Equals(got, System.Collections.StructuralComparisons.StructuralEqualityComparer), where);
                    break;
                case List<string> list:
                    Assert.Equal(list, (List<string>)got!);
                    break;
                case RememberedInputs inputs:
                    AssertSameState(inputs, got!, where);
                    break;
                default:
                    Assert.True(Equals(want, got), $"{where}: expected {want}, got {got}");
                    break;
            }
        }
    }

    private static Candidate Promote(CandidateTable table, string text, int telling, int quiet)
    {
        Candidate candidate = Promote(table, text, surprising: true, records: telling);
        RecordContext record = Record(Profile, LowRisk, Legitimate);
        for (int i = 0; i < quiet; i++)
        {
            candidate.Count(record.Label * 2 + record.Stratum);
            candidate.Observe(record, Profile, maxExamples: 5);
        }

        return candidate;
    }

    private static Candidate Promote(CandidateTable table, string text, bool surprising, int records = 20)
    {
        Assert.True(table.MakeRoom());
        Candidate candidate = table.Promote(Hash(text), new DetectorKey(KeyKind.Token, "memo", text), DateTimeOffset.UnixEpoch, 0);
        RecordContext record = Record(Profile, LowRisk, surprising ? Fraud : Legitimate);
        for (int i = 0; i < records; i++)
        {
            candidate.Count(record.Label * 2 + record.Stratum);
            candidate.Observe(record, Profile, maxExamples: 5);
        }

        return candidate;
    }

    private static Finding AFinding(Severity severity = Severity.Critical) => new()
    {
        Detector = DetectorId.D1,
        Severity = severity,
        TargetLabel = "fraud",
        Support = 30,
        Rate = 1,
        Lift = 10,
        MeanConfidence = 0.99,
        BaselineExpectation = 0.1,
        Z = 18,
        FirstSeen = DateTimeOffset.UnixEpoch,
        FirstSeenRecord = 0,
        RaisedAtRecord = 0,
        RaisedAtSupport = 30,
        UpdatedAt = DateTimeOffset.UnixEpoch,
        ExampleRequestIds = [],
        Corroboration = [],
        Summary = "",
    };
}
