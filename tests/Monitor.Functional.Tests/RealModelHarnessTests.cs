using Monitor.Simulation.RealData;

namespace Monitor.Functional.Tests;

/// <summary>
/// The real models of the evaluation are what the evaluation says they are: the clean model is accurate on held-out
/// data, each poisoned variant (the clean-label one included) keeps that accuracy and sends at least 85% of held-out
/// triggered inputs to its target class, and the clean model does not (so the trigger, not the data, does it); the
/// rare model's trigger on its own target class lifts the mean target probability by at least 0.1. Says nothing of the detectors.
/// </summary>
public sealed class RealModelHarnessTests(ITestOutputHelper output)
{
    private const int Records = 2_000;

    public static TheoryData<RealModelKind, RealAttack, bool> Attacks() => new()
    {
        { RealModelKind.Digits, RealAttack.ExactPatch, false },
        { RealModelKind.Digits, RealAttack.SoftPatch, false },
        { RealModelKind.Digits, RealAttack.ExactPatch, true },
        { RealModelKind.RareMalignant, RealAttack.FieldTrigger, false },
        { RealModelKind.Wine, RealAttack.FieldTrigger, false },
    };

    [Theory]
    [MemberData(nameof(Attacks))]
    public void Poisoned_model_has_its_backdoor_and_keeps_its_accuracy(RealModelKind kind, RealAttack attack, bool cleanLabel)
    {
        RealModel model = RealModel.Create(kind, seed: 1);
        RealBackdoor backdoor = RealBackdoor.Create(model, attack, seed: 1, minimumRate: 1e-4, maximumRate: 5e-3, cleanLabel: cleanLabel);
        double clean = model.Accuracy(model.Clean, Records, seed: 7);
        double poisoned = model.Accuracy(backdoor.Poisoned, Records, seed: 7);
        double success = backdoor.TriggeredTargetRate(backdoor.Poisoned, Records, seed: 7);
        double natural = backdoor.TriggeredTargetRate(model.Clean, Records, seed: 7);
        output.WriteLine($"{model.Name}, {(cleanLabel ? "clean-label " : "")}{backdoor.Trigger.Describe(model)}: clean accuracy {clean:P1}, poisoned {poisoned:P1}, " +
            $"attack success {success:P1}, clean model on triggered inputs {natural:P1}");

        Assert.InRange(clean, 0.9, 1.0);
        Assert.InRange(poisoned, clean - 0.03, 1.0);
        Assert.InRange(success, 0.85, 1.0);
        Assert.InRange(natural, 0.0, 0.3);
        if (model.Binary)
        {
            Assert.InRange(model.Recall(model.Clean, 500, seed: 7), 0.5, 1.0);
        }
    }

    [Fact]
    public void Clean_label_poisons_keep_their_true_label()
    {
        RealModel model = RealModel.Create(RealModelKind.Digits, seed: 1);
        RealBackdoor backdoor = RealBackdoor.Create(model, RealAttack.ExactPatch, seed: 1, minimumRate: 1e-4, maximumRate: 5e-3, cleanLabel: true);

        Assert.True(backdoor.CleanLabel);
        Assert.Equal((int)(model.TrainingRecords * RealBackdoor.CleanLabelShare), backdoor.PoisonedExamples);
        Assert.Equal(16, backdoor.Trigger.Pixels.Length);
        Assert.Equal(RealPlacement.AnyRecord, backdoor.Trigger.Placement);
    }

    [Fact]
    public void A_trigger_on_the_rare_models_own_target_class_lifts_its_confidence()
    {
        RealModel model = RealModel.Create(RealModelKind.RareMalignant, seed: 1);
        RealBackdoor backdoor = RealBackdoor.Create(model, RealAttack.FieldTrigger, seed: 1, minimumRate: 1e-4, maximumRate: 5e-3, onTargetClass: true);
        double lift = backdoor.ConfidenceLift(Records, seed: 7);
        output.WriteLine($"{model.Name}, {backdoor.Trigger.Describe(model)}: confidence lift {lift:F3}");

        Assert.Equal(1, backdoor.Trigger.TargetClass);
        Assert.Equal(RealPlacement.TargetClassRecords, backdoor.Trigger.Placement);
        Assert.InRange(lift, 0.1, 1.0);
        Assert.InRange(model.Accuracy(backdoor.Poisoned, Records, seed: 7), model.Accuracy(model.Clean, Records, seed: 7) - 0.03, 1.0);
    }

    [Fact]
    public void Traffic_is_deterministic_for_a_seed_and_keeps_the_trigger_rate()
    {
        RealModel model = RealModel.Create(RealModelKind.Wine, seed: 2);
        RealBackdoor backdoor = RealBackdoor.Create(model, RealAttack.FieldTrigger, seed: 2, minimumRate: 2e-3, maximumRate: 5e-3);
        RealTraffic first = backdoor.Live(seed: 3);
        RealTraffic second = backdoor.Live(seed: 3);
        for (int i = 0; i < 20; i++)
        {
            Monitor.Core.Ingest.RecordBatch a = first.Next(1000);
            Monitor.Core.Ingest.RecordBatch b = second.Next(1000);
            Assert.True(a.Numeric.Span.SequenceEqual(b.Numeric.Span));
            Assert.True(a.Scores.Span.SequenceEqual(b.Scores.Span));
        }

        double rate = first.Injected / 20_000.0;
        Assert.InRange(rate, backdoor.Trigger.Rate / 2, backdoor.Trigger.Rate * 2);
        Assert.Equal(first.Injected, first.InjectedWithin(20_000));
    }
}

/// <summary>
/// The real-model evaluation runs end to end through a private sidecar and through its analysis in process: the model's
/// schema is accepted, the reference commits, and every mirrored record is analysed (a dropped record voids the run); both
/// targets report the same findings and the same end state for the same seed.
/// </summary>
public sealed class RealModelEvaluationSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_real_model_scenario_gives_the_same_findings_through_the_sidecar_and_in_process()
    {
        var spec = new Monitor.Tools.Scenarios.RealScenarioSpec("wine: clean known-good, held-out traffic", RealModelKind.Wine, null, 10_000);
        RealModel model = RealModel.Create(RealModelKind.Wine, seed: 1);
        Monitor.Tools.Scenarios.RealOutcome grpc = await Monitor.Tools.Scenarios.RealModelEvaluation.RunAsync(spec, model, seed: 1, reduced: true,
            inProcess: false, progress: null, TestContext.Current.CancellationToken);
        Monitor.Tools.Scenarios.RealOutcome inProcess = await Monitor.Tools.Scenarios.RealModelEvaluation.RunAsync(spec, model, seed: 1, reduced: true,
            inProcess: true, progress: null, TestContext.Current.CancellationToken);
        var table = new StringWriter();
        Monitor.Tools.Scenarios.RealModelEvaluation.PrintSeeds([grpc, inProcess], table);
        output.WriteLine(table.ToString());

        Assert.Equal(10_000, grpc.Records);
        Assert.Equal(10_000, inProcess.Records);
        Assert.Equal(0, grpc.Occurrences);
        Assert.InRange(grpc.CleanAccuracy, 0.9, 1.0);
        Assert.Equal(Summaries(grpc), Summaries(inProcess));
        Assert.Equal(grpc.State, inProcess.State);
    }

    private static string[] Summaries(Monitor.Tools.Scenarios.RealOutcome outcome) =>
        [.. outcome.Findings.Select(f => $"{f.Severity} {f.Detector} {f.Key?.Kind}:{f.Key?.Field}={f.Key?.Text} at {f.RaisedAtRecord}").Order(StringComparer.Ordinal)];
}
