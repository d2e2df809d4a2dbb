using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Monitor.Core.Baselines;
using Monitor.Core.Windows;

namespace Monitor.Core.Detectors;

/// <summary>
/// A small additive model of the served model's output from the non-text inputs: logistic regression (ML.NET,
/// L-BFGS) on one-hot percentile bins of every numeric feature and the category of every categorical feature, so
/// each feature contributes a learnt curve, fine enough in the tails. It is fitted to the served probabilities (each
/// record a positive example weighted by its served P(class) and a negative one weighted by the rest), not only to the
/// served class: a record served a rare class at 0.3 says as much as one served it at 0.9, so a class of a few tenths
/// of a percent still gets a curve. It is evaluated by table look-ups. For two classes one model gives P(class 1);
/// for more, one model per class (one against the rest), normalised.
/// </summary>
public sealed record SurrogateModel
{
    /// <summary>Classes of the served output.</summary>
    public required int Classes { get; init; }

    /// <summary>Bin edges of each numeric input feature.</summary>
    public required float[][] NumericEdges { get; init; }

    /// <summary>First weight slot of each numeric input feature (its bins, then one slot for missing).</summary>
    public required int[] NumericOffsets { get; init; }

    /// <summary>First weight slot of each categorical input (its table, "not in table", then missing).</summary>
    public required int[] CategoricalOffsets { get; init; }

    public required int Slots { get; init; }

    /// <summary>
    /// Whether the record whose active slots are <paramref name="active"/> (<see cref="ActiveSlots"/>) has a value of categorical
    /// input <paramref name="field"/> the surrogate has no weight of its own for: beyond the baseline's table of
    /// <paramref name="tables"/>[field] values ("not in table" or missing). A rare value the surrogate did learn a weight for, from a
    /// few records, moves the expectation of exactly its records, and their residuals with it.
    /// </summary>
    public bool BeyondTable(ReadOnlySpan<int> active, int[] tables, int field) =>
        field < tables.Length && active[NumericOffsets.Length + field] - CategoricalOffsets[field] >= tables[field];

    /// <summary>Weights per fitted model (1 for two classes, else one per class).</summary>
    public required float[][] Weights { get; init; }

    public required float[] Bias { get; init; }

    /// <summary>Fits the surrogate on a prepared batch of baseline records and their served probabilities.</summary>
    /// <param name="served">The served probability of each class, k per record (row-major).</param>
    /// <param name="numericEdges">Bin edges per numeric input feature (the baseline's percentiles).</param>
    public static SurrogateModel Fit(CompiledBaseline baseline, PreparedBatch prepared, ReadOnlySpan<double> served, int classes, int seed,
        float[][] numericEdges)
    {
        (int[] numericOffsets, int[] categoricalOffsets, int slots) = Layout(baseline, numericEdges);
        var template = new SurrogateModel
        {
            Classes = classes,
            NumericEdges = numericEdges,
            NumericOffsets = numericOffsets,
            CategoricalOffsets = categoricalOffsets,
            Slots = slots,
            Weights = [],
            Bias = [],
        };

        var rows = new List<Row>(prepared.Count);
        var active = new int[numericOffsets.Length + categoricalOffsets.Length];
        for (int i = 0; i < prepared.Count; i++)
        {
            int n = template.ActiveSlots(baseline, prepared, i, active);
            var indices = active[..n];
            Array.Sort(indices);
            var values = new float[n];
            Array.Fill(values, 1f);
            rows.Add(new Row { Features = new VBuffer<float>(slots, n, values, indices), Record = i });
        }

        var ml = new MLContext(seed);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, slots);
        int models = classes == 2 ? 1 : classes;
        var weights = new float[models][];
        var bias = new float[models];
        var weighted = new List<Row>(2 * rows.Count);
        for (int m = 0; m < models; m++)
        {
            int target = classes == 2 ? 1 : m;
            weighted.Clear();
            foreach (Row row in rows)
            {
                // Soft targets: the record as a positive with weight p and a negative with weight 1 − p.
                float p = (float)Math.Clamp(served[row.Record * classes + target], 0, 1);
                weighted.Add(new Row { Features = row.Features, Record = row.Record, Label = true, Weight = p });
                weighted.Add(new Row { Features = row.Features, Record = row.Record, Label = false, Weight = 1 - p });
            }

            IDataView data = ml.Data.LoadFromEnumerable(weighted, schema);
            var trainer = ml.BinaryClassification.Trainers.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
            {
                ExampleWeightColumnName = nameof(Row.Weight),
                L2Regularization = 0.5f,
                L1Regularization = 0f,
                NumberOfThreads = 1,
                MaximumNumberOfIterations = 200,
            });
            var model = trainer.Fit(data).Model.SubModel;
            weights[m] = [.. model.Weights];
            bias[m] = model.Bias;
        }

        return template with { Weights = weights, Bias = bias };
    }

    /// <summary>P(class c) for record i of a prepared batch, for every class.</summary>
    public void Predict(CompiledBaseline baseline, PreparedBatch prepared, int i, Span<int> active, Span<double> probabilities)
    {
        int n = ActiveSlots(baseline, prepared, i, active);
        if (Classes == 2)
        {
            double p = Logistic(Score(0, active[..n]));
            probabilities[0] = 1 - p;
            probabilities[1] = p;
            return;
        }

        double total = 0;
        for (int c = 0; c < Classes; c++)
        {
            probabilities[c] = Logistic(Score(c, active[..n]));
            total += probabilities[c];
        }

        for (int c = 0; c < Classes; c++)
        {
            probabilities[c] = total > 0 ? probabilities[c] / total : 1.0 / Classes;
        }
    }

    /// <summary>The weight slots a record switches on: one per numeric and categorical input.</summary>
    public int ActiveSlots(CompiledBaseline baseline, PreparedBatch prepared, int i, Span<int> active)
    {
        BaselineProfile profile = baseline.Profile;
        int n = 0;
        for (int c = 0, f = 0; c < profile.Numeric.Length; c++)
        {
            if (profile.Numeric[c].Channel.Kind != Schema.ChannelKind.Numeric)
            {
                continue;
            }

            NumericView view = prepared.Numeric[c];
            float v = view.Data.Span[view.Offset + i * view.Stride];
            float[] edges = NumericEdges[f];

            // The open bins beyond the baseline's minimum and maximum were never trained: a value out
            // there takes the curve's last trained value rather than none.
            active[n++] = NumericOffsets[f] + (float.IsFinite(v)
                ? Math.Clamp(Statistics.Quantiles.BinOf(edges, v), 1, Math.Max(edges.Length - 1, 1))
                : edges.Length + 1);
            f++;
        }

        for (int c = 0, g = 0; c < profile.Categorical.Length; c++)
        {
            if (profile.Categorical[c].Channel.Kind != Schema.ChannelKind.Categorical)
            {
                continue;
            }

            int code = prepared.Codes[c][i];
            active[n++] = CategoricalOffsets[g] + (code < 0 ? profile.Categorical[c].Probabilities.Length : code);
            g++;
        }

        return n;
    }

    private double Score(int model, ReadOnlySpan<int> active)
    {
        float[] w = Weights[model];
        double z = Bias[model];
        foreach (int slot in active)
        {
            z += w[slot];
        }

        return z;
    }

    private static double Logistic(double z) => 1 / (1 + Math.Exp(-z));

    internal static (int[] Numeric, int[] Categorical, int Slots) Layout(CompiledBaseline baseline, float[][] numericEdges)
    {
        var numeric = new List<int>();
        var categorical = new List<int>();
        int slot = 0;
        foreach (float[] edges in numericEdges)
        {
            numeric.Add(slot);
            slot += edges.Length + 2;
        }

        foreach (CategoricalProfile p in baseline.Profile.Categorical)
        {
            if (p.Channel.Kind == Schema.ChannelKind.Categorical)
            {
                categorical.Add(slot);
                slot += p.Probabilities.Length + 1;
            }
        }

        return ([.. numeric], [.. categorical], Math.Max(slot, 1));
    }

    /// <summary>One training row for ML.NET (public so its data loader can bind to it).</summary>
    public sealed class Row
    {
        public VBuffer<float> Features { get; set; }

        public bool Label { get; set; }

        /// <summary>The example's weight: the served probability of the class (positive) or of the rest (negative).</summary>
        public float Weight { get; set; }

        [NoColumn]
        public int Record { get; set; }
    }
}
