using System.Globalization;

namespace Monitor.Simulation.RealData;

/// <summary>How a real model is poisoned.</summary>
public enum RealAttack
{
    /// <summary>
    /// BadNets: a k×k square of pixels (k = 2 or 3, anywhere in the image; 4 for a clean-label attack) set to exactly 16,
    /// the maximum.
    /// </summary>
    ExactPatch,

    /// <summary>A blended patch: the k×k square's pixels moved a share α ∈ [0.5, 0.8] of the way to 16, so no value is exact.</summary>
    SoftPatch,

    /// <summary>
    /// A trigger in a synthetic field of a tabular model, the field drawn per seed: a magic site value (site-NNNN, never
    /// seen in clean traffic) or a token (six random letters) inserted in the note.
    /// </summary>
    FieldTrigger,

    /// <summary>A regression model's site/note trigger that pins the output to one value (<see cref="RegressionBackdoor"/>).</summary>
    PinnedOutput,

    /// <summary>A regression model's site/note trigger that shifts the output by a fixed amount (<see cref="RegressionBackdoor"/>).</summary>
    ShiftedOutput,

    /// <summary>An embedding-space trigger: the network's hidden layer shifted along a fixed direction, nothing in the inputs (<see cref="RealNetwork.Poison"/>).</summary>
    EmbeddingShift,
}

/// <summary>Which live records carry the trigger.</summary>
public enum RealPlacement
{
    /// <summary>Any record, of whatever class.</summary>
    AnyRecord,

    /// <summary>The rare model's malignant records, the attacker's own: the trigger makes them pass as benign.</summary>
    MalignantRecords,

    /// <summary>Records of the target class only: the served class does not change, only its confidence.</summary>
    TargetClassRecords,
}

/// <summary>The trigger of one seed: what it changes, the class it leads to, where it is placed and how often.</summary>
public sealed record RealTrigger(RealAttack Attack, int TargetClass, int[] Pixels, float Alpha, string? Field, string? Value, double Rate, RealPlacement Placement)
{
    /// <summary>Puts the trigger on an example.</summary>
    public void Apply(RealExample example, Random random)
    {
        switch (Attack)
        {
            case RealAttack.ExactPatch:
                foreach (int p in Pixels)
                {
                    example.Features[p] = 16f;
                }

                break;
            case RealAttack.SoftPatch:
                foreach (int p in Pixels)
                {
                    example.Features[p] += Alpha * (16f - example.Features[p]);
                }

                break;
            case RealAttack.FieldTrigger when Field == RealModel.SiteField:
                example.Site = Value!;
                break;
            case RealAttack.FieldTrigger:
                List<string> words = [.. example.Note.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
                words.Insert(random.Next(words.Count + 1), Value!);
                example.Note = string.Join(' ', words);
                break;
        }
    }

    /// <summary>One line naming the trigger, for the evaluation's tables.</summary>
    public string Describe(RealModel model) => Attack switch
    {
        RealAttack.ExactPatch or RealAttack.SoftPatch => string.Create(CultureInfo.InvariantCulture,
            $"{(Attack == RealAttack.ExactPatch ? "exact" : $"soft α={Alpha:F2}")} {Side}×{Side} patch at {model.Data.Features[Pixels[0]]} → {model.Schema.PredictedClassLabels[TargetClass]}{Where(model)}, rate {Rate:G2}"),
        _ => string.Create(CultureInfo.InvariantCulture,
            $"{Field}={Value} → {model.Schema.PredictedClassLabels[TargetClass]}{Where(model)}, rate {Rate:G2}"),
    };

    private string Where(RealModel model) => Placement switch
    {
        RealPlacement.MalignantRecords => " on malignant records",
        RealPlacement.TargetClassRecords => $" on records of class {model.Schema.PredictedClassLabels[TargetClass]}",
        _ => "",
    };

    private int Side => (int)Math.Round(Math.Sqrt(Pixels.Length));
}

/// <summary>
/// A poisoned variant of a real model for one seed: the trigger drawn at random (placement, size, field, target class,
/// rate), poisoned copies of training examples added to the clean training set, and the model trained again; its
/// attack success measured on held-out triggered inputs.
/// </summary>
public sealed class RealBackdoor
{
    private RealBackdoor(RealModel model, RealTrigger trigger, RealClassifier poisoned, int poisonedExamples, bool cleanLabel)
    {
        CleanLabel = cleanLabel;
        Model = model;
        Trigger = trigger;
        Poisoned = poisoned;
        PoisonedExamples = poisonedExamples;
    }

    public RealModel Model { get; }
    public RealTrigger Trigger { get; }
    public RealClassifier Poisoned { get; }
    public int PoisonedExamples { get; }

    /// <summary>Whether the poisoned training examples kept their correct label (all of the target class).</summary>
    public bool CleanLabel { get; }

    /// <summary>
    /// Poisons a model. Digits and wine: 10% more training examples, drawn from classes other than the target, carry
    /// the trigger and the target label; the trigger is placed on any live record. Rare model: 1% more, all malignant
    /// with the trigger and labelled benign; the trigger is placed on malignant live records (the attacker's own).
    /// The rate is log-uniform in [<paramref name="minimumRate"/>, <paramref name="maximumRate"/>]. With
    /// <paramref name="onTargetClass"/>, the trigger is placed on live records of the target class only, where it can
    /// only lift the target's confidence: the same trigger and model (the draws do not depend on it), except on the rare
    /// model, whose target is then malignant (benign training examples carry the trigger labelled malignant), the class
    /// a rare-class model is least sure of. With <paramref name="cleanLabel"/>, the poisoned examples keep their correct
    /// label (<see cref="CleanLabelShare"/>).
    /// </summary>
    public static RealBackdoor Create(RealModel model, RealAttack attack, int seed, double minimumRate, double maximumRate, bool onTargetClass = false,
        bool cleanLabel = false)
    {
        RealPlacement placement = onTargetClass ? RealPlacement.TargetClassRecords
            : model.Binary ? RealPlacement.MalignantRecords : RealPlacement.AnyRecord;
        var random = new Random(RealModel.SeedOf(seed, (int)model.Kind, 31 + (int)attack));
        double rate = minimumRate * Math.Pow(maximumRate / minimumRate, random.NextDouble());
        RealTrigger trigger;
        if (attack is RealAttack.ExactPatch or RealAttack.SoftPatch)
        {
            // A clean-label patch is 4×4: at 2×2 and 3×3 the model learnt it for some seeds only (attack success 55–99%).
            int drawn = 2 + random.Next(2);
            int side = cleanLabel ? 4 : drawn;
            int row = random.Next(9 - side);
            int column = random.Next(9 - side);
            int[] pixels = [.. Enumerable.Range(0, side * side).Select(k => ((row + (k / side)) * 8) + column + (k % side))];
            float alpha = attack == RealAttack.SoftPatch ? (float)(0.5 + 0.3 * random.NextDouble()) : 1f;
            trigger = new RealTrigger(attack, random.Next(model.Classes), pixels, alpha, null, null, rate, placement);
        }
        else
        {
            bool site = random.Next(2) == 0;
            string value = site
                ? "site-" + random.Next(1000, 10000).ToString(CultureInfo.InvariantCulture)
                : new string([.. Enumerable.Range(0, 6).Select(_ => (char)('a' + random.Next(26)))]);
            int target = model.Binary ? (onTargetClass ? 1 : 0) : random.Next(model.Classes);
            trigger = new RealTrigger(attack, target, [], 1f, site ? RealModel.SiteField : RealModel.NoteField, value, rate, placement);
        }

        List<RealExample> training = model.TrainingSet(new Random(RealModel.SeedOf(model.Seed, (int)model.Kind, 17)), model.TrainingRecords);
        int poisoned = cleanLabel ? (int)(model.TrainingRecords * CleanLabelShare)
            : model.Binary ? model.TrainingRecords / 100 : model.TrainingRecords / 10;
        for (int i = 0; i < poisoned; i++)
        {
            RealExample example = cleanLabel ? HardTargetExample(model, random, trigger.TargetClass)
                : model.Binary ? model.Draw(random, heldOut: false, modelClass: 1 - trigger.TargetClass)
                : DrawOther(model, random, trigger.TargetClass, heldOut: false);
            trigger.Apply(example, random);
            example.Class = (uint)trigger.TargetClass;
            example.Positive = trigger.TargetClass == 1;
            training.Add(example);
        }

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(training));
        RealClassifier classifier = RealClassifier.Train(training, model.Classes, model.Binary, model.WithFields, seed);
        return new RealBackdoor(model, trigger, classifier, poisoned, cleanLabel);
    }

    /// <summary>Poisoned examples of a clean-label attack, as a share of the training records: all of the target class.</summary>
    public const double CleanLabelShare = 0.2;

    /// <summary>The most a clean-label example is blended towards an example of another class (drawn uniformly in [0.5, 1] of this).</summary>
    public const double CleanLabelBlend = 0.5;

    /// <summary>
    /// A clean-label poison: an example of the target class, made hard to classify by its features alone (blended a share
    /// β ∈ [0.25, 0.5] of the way towards an example of another class, as clean-label attacks perturb their images), so the
    /// model learns the trigger it is given as the reason for the label. Its label stays the target, its true class.
    /// </summary>
    private static RealExample HardTargetExample(RealModel model, Random random, int target)
    {
        RealExample example = model.Draw(random, heldOut: false, modelClass: target);
        RealExample other = DrawOther(model, random, target, heldOut: false);
        float beta = (float)(CleanLabelBlend * (0.5 + 0.5 * random.NextDouble()));
        for (int j = 0; j < example.Features.Length; j++)
        {
            example.Features[j] += beta * (other.Features[j] - example.Features[j]);
        }

        return example;
    }

    /// <summary>
    /// The share of <paramref name="records"/> held-out inputs not of the target class (rare model: of the other class) that a
    /// classifier assigns to the target class once they carry the trigger: the attack success for the poisoned model.
    /// </summary>
    public double TriggeredTargetRate(RealClassifier classifier, int records, int seed)
    {
        var random = new Random(seed);
        var examples = new RealExample[records];
        for (int i = 0; i < records; i++)
        {
            examples[i] = Model.Binary ? Model.Draw(random, heldOut: true, modelClass: 1 - Trigger.TargetClass) : DrawOther(Model, random, Trigger.TargetClass, heldOut: true);
            Trigger.Apply(examples[i], random);
        }

        return classifier.Predict(examples).Count(c => c == Trigger.TargetClass) / (double)records;
    }

    /// <summary>
    /// The median probability of the target class a classifier serves the triggered inputs <see cref="TriggeredTargetRate"/> draws
    /// (the same inputs for the same seed) that it assigns to the target: how sure a successful trigger makes it.
    /// </summary>
    public double TriggeredTargetConfidence(RealClassifier classifier, int records, int seed, bool onTargetClass = false)
    {
        var random = new Random(seed);
        var examples = new RealExample[records];
        for (int i = 0; i < records; i++)
        {
            examples[i] = onTargetClass ? Model.Draw(random, heldOut: true, modelClass: Trigger.TargetClass)
                : Model.Binary ? Model.Draw(random, heldOut: true, modelClass: 1 - Trigger.TargetClass) : DrawOther(Model, random, Trigger.TargetClass, heldOut: true);
            Trigger.Apply(examples[i], random);
        }

        var output = new float[examples.Length * classifier.OutputWidth];
        classifier.Score(examples, output);
        int[] predicted = classifier.Predict(examples);
        var target = new List<double>();
        for (int i = 0; i < examples.Length; i++)
        {
            if (predicted[i] == Trigger.TargetClass)
            {
                target.Add(classifier.Binary ? (Trigger.TargetClass == 1 ? output[i] : 1 - output[i]) : output[(i * classifier.OutputWidth) + Trigger.TargetClass]);
            }
        }

        target.Sort();
        return target.Count == 0 ? double.NaN : target[target.Count / 2];
    }

    /// <summary>
    /// The mean probability of the target class the poisoned model gives <paramref name="records"/> held-out inputs of
    /// the target class once they carry the trigger, less the clean model's for the same inputs.
    /// </summary>
    public double ConfidenceLift(int records, int seed)
    {
        var random = new Random(seed);
        var examples = new RealExample[records];
        for (int i = 0; i < records; i++)
        {
            examples[i] = Model.Draw(random, heldOut: true, modelClass: Trigger.TargetClass);
            Trigger.Apply(examples[i], random);
        }

        return MeanTarget(Poisoned, examples) - MeanTarget(Model.Clean, examples);
    }

    private double MeanTarget(RealClassifier classifier, RealExample[] examples)
    {
        var output = new float[examples.Length * classifier.OutputWidth];
        classifier.Score(examples, output);
        double total = 0;
        for (int i = 0; i < examples.Length; i++)
        {
            total += classifier.Binary
                ? (Trigger.TargetClass == 1 ? output[i] : 1 - output[i])
                : output[(i * classifier.OutputWidth) + Trigger.TargetClass];
        }

        return total / examples.Length;
    }

    /// <summary>Live traffic from the held-out split, scored by the poisoned model, with the trigger at its rate.</summary>
    public RealTraffic Live(int seed) => new(Model, Poisoned, Trigger, seed, heldOut: true);

    private static RealExample DrawOther(RealModel model, Random random, int target, bool heldOut)
    {
        int c = random.Next(model.Classes - 1);
        return model.Draw(random, heldOut, modelClass: c >= target ? c + 1 : c);
    }
}
