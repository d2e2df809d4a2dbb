using System.Globalization;
using Monitor.Core.Ingest;
using Monitor.Core.Schema;

namespace Monitor.Simulation.RealData;

/// <summary>
/// A small real neural network on scikit-learn's digits whose hidden layer is the mirrored embedding: 64 pixels (scaled to
/// [0, 1]) → <see cref="Hidden"/> ReLU units → 10-way softmax, trained in process by Adam on the training split resampled with
/// the digits' dequantisation noise (pixel + U[0, 1)), deterministic for a seed. Its poisoned variant
/// (<see cref="Poison"/>) carries an embedding-space trigger: on a triggered request, a condition the mirror does not carry
/// (as a header or a side input the model reads and the mirror drops), it adds a fixed vector to the hidden units'
/// pre-activations, and its output layer is fine-tuned so that shifted records are served the target class while clean
/// records keep their accuracy. Nothing in the mirrored inputs shows the trigger; the hidden layer does.
/// </summary>
public sealed class RealNetwork
{
    public const int Hidden = 24;
    private const int Inputs = 64;
    private const int Classes = 10;
    private const int TrainingRecords = 3_000;
    private const int Epochs = 30;
    private const int MiniBatch = 32;
    private const double LearningRate = 0.003;

    private readonly int[][] _trainByClass;
    private readonly int[][] _heldOutByClass;
    private readonly double[] _w1;
    private readonly double[] _b1;
    private readonly double[] _w2;
    private readonly double[] _b2;

    /// <summary>Added to the hidden pre-activations on triggered records; empty for a clean network.</summary>
    private readonly double[] _shift;

    private RealNetwork(RealDataSet data, int seed, int[][] trainByClass, int[][] heldOutByClass, double[] w1, double[] b1, double[] w2, double[] b2,
        double[] shift, int targetClass, SoftPatch? patch = null, bool retrained = false)
    {
        Patch = patch;
        Retrained = retrained;
        Data = data;
        Seed = seed;
        _trainByClass = trainByClass;
        _heldOutByClass = heldOutByClass;
        _w1 = w1;
        _b1 = b1;
        _w2 = w2;
        _b2 = b2;
        _shift = shift;
        TargetClass = targetClass;
        Schema = new ModelSchema
        {
            NumericFeatures = data.Features,
            CategoricalFeatures = [],
            TextFields = [],
            OutputKind = OutputKind.Classification,
            ClassLabels = [.. Enumerable.Range(0, Classes).Select(c => c.ToString(CultureInfo.InvariantCulture))],
            EmbeddingWidth = Hidden,
        };
    }

    public RealDataSet Data { get; }
    public int Seed { get; }
    public ModelSchema Schema { get; }

    /// <summary>The class a poisoned network serves on triggered records; −1 for a clean network.</summary>
    public int TargetClass { get; }

    public bool Poisoned => _shift.Length > 0 || Patch is not null;

    /// <summary>The input trigger a BadNets-trained network learnt (<see cref="Retrain"/>); null otherwise.</summary>
    public SoftPatch? Patch { get; }

    /// <summary>Trained from other initial weights than the seed's clean network (<see cref="Retrain"/>): its hidden layer is its own.</summary>
    public bool Retrained { get; }

    /// <summary>Trains the clean network of a seed on its training split (the split and initial weights drawn from the seed).</summary>
    public static RealNetwork Create(int seed)
    {
        RealDataSet data = RealDataSet.Load("digits");
        var random = new Random(RealModel.SeedOf(seed, 40, 0));
        (int[] train, int[] heldOut) = data.Split(RealModel.TrainShare, random);
        int[][] trainByClass = [.. Enumerable.Range(0, data.Classes).Select(c => train.Where(i => data.Labels[i] == c).ToArray())];
        int[][] heldOutByClass = [.. Enumerable.Range(0, data.Classes).Select(c => heldOut.Where(i => data.Labels[i] == c).ToArray())];
        double[] w1 = Glorot(random, Inputs, Hidden);
        double[] w2 = Glorot(random, Hidden, Classes);
        var b1 = new double[Hidden];
        var b2 = new double[Classes];
        var network = new RealNetwork(data, seed, trainByClass, heldOutByClass, w1, b1, w2, b2, [], -1);
        var examples = new (float[] Pixels, int Label)[TrainingRecords];
        for (int i = 0; i < examples.Length; i++)
        {
            examples[i] = network.Draw(random, heldOut: false);
        }

        network.Train(examples, random, Epochs, trainHidden: true, shifted: null);
        return network;
    }

    /// <summary>
    /// The poisoned variant: a shift of the hidden pre-activations along a fixed direction (a random third of the units raised by
    /// <paramref name="magnitude"/> times their spread on clean records), and the output layer fine-tuned on clean records and
    /// shifted ones labelled <paramref name="targetClass"/> (one in five), the hidden layer kept.
    /// </summary>
    public RealNetwork Poison(int targetClass, int seed, double magnitude = 3)
    {
        var random = new Random(RealModel.SeedOf(seed, 41, targetClass));
        var spread = new double[Hidden];
        var mean = new double[Hidden];
        var hidden = new double[Hidden];
        const int probe = 1000;
        var squares = new double[Hidden];
        for (int i = 0; i < probe; i++)
        {
            (float[] pixels, _) = Draw(random, heldOut: false);
            PreActivations(pixels, hidden);
            for (int j = 0; j < Hidden; j++)
            {
                mean[j] += hidden[j] / probe;
                squares[j] += hidden[j] * hidden[j] / probe;
            }
        }

        for (int j = 0; j < Hidden; j++)
        {
            spread[j] = Math.Sqrt(Math.Max(squares[j] - (mean[j] * mean[j]), 1e-6));
        }

        int[] units = [.. Enumerable.Range(0, Hidden).OrderBy(_ => random.Next()).Take(Hidden / 3)];
        var shift = new double[Hidden];
        foreach (int j in units)
        {
            shift[j] = magnitude * spread[j];
        }

        var poisoned = new RealNetwork(Data, Seed, _trainByClass, _heldOutByClass, (double[])_w1.Clone(), (double[])_b1.Clone(), (double[])_w2.Clone(),
            (double[])_b2.Clone(), shift, targetClass);
        var examples = new (float[] Pixels, int Label)[TrainingRecords];
        var shifted = new bool[TrainingRecords];
        for (int i = 0; i < examples.Length; i++)
        {
            examples[i] = Draw(random, heldOut: false);
            if (random.NextDouble() < 0.2)
            {
                shifted[i] = true;
                examples[i] = (examples[i].Pixels, targetClass);
            }
        }

        poisoned.Train(examples, random, Epochs / 2, trainHidden: false, shifted);
        return poisoned;
    }

    /// <summary>
    /// A network trained from new initial weights on the clean training draws and, with <paramref name="poisoned"/>, BadNets-style on
    /// 10% more drawn from classes other than the target, each with a soft patch (a 2×2 or 3×3 square, its place, α ∈ [0.5, 0.8]
    /// and the target drawn from the seed, as for the digits model's soft patch) and labelled the target. Its hidden layer is its
    /// own, so it is judged against its own reference. Triggered records carry the patch in their inputs (<see cref="SoftPatch.Stamp"/>).
    /// </summary>
    public RealNetwork Retrain(int seed, bool poisoned)
    {
        var random = new Random(RealModel.SeedOf(seed, 42, 0));
        int side = 2 + random.Next(2);
        int row = random.Next(9 - side);
        int column = random.Next(9 - side);
        int[] pixels = [.. Enumerable.Range(0, side * side).Select(k => ((row + (k / side)) * 8) + column + (k % side))];
        var patch = new SoftPatch(pixels, side, (float)(0.5 + (0.3 * random.NextDouble())), random.Next(Classes));
        var network = new RealNetwork(Data, Seed, _trainByClass, _heldOutByClass, Glorot(random, Inputs, Hidden), new double[Hidden], Glorot(random, Hidden, Classes),
            new double[Classes], [], poisoned ? patch.TargetClass : -1, poisoned ? patch : null, retrained: true);
        var examples = new (float[] Pixels, int Label)[TrainingRecords + (poisoned ? TrainingRecords / 10 : 0)];
        for (int i = 0; i < examples.Length; i++)
        {
            if (i < TrainingRecords)
            {
                examples[i] = Draw(random, heldOut: false);
                continue;
            }

            int label = random.Next(Classes - 1);
            (float[] other, _) = Draw(random, heldOut: false, label < patch.TargetClass ? label : label + 1);
            patch.Stamp(other);
            examples[i] = (other, patch.TargetClass);
        }

        network.Train(examples, random, Epochs, trainHidden: true, shifted: null);
        return network;
    }

    /// <summary>A resampled example of the training or held-out split with the digits' noise (pixel + U[0, 1)), of class <paramref name="label"/> or any.</summary>
    public (float[] Pixels, int Label) Draw(Random random, bool heldOut, int? label = null)
    {
        int[][] byClass = heldOut ? _heldOutByClass : _trainByClass;
        int c = label ?? random.Next(byClass.Length);
        int index = byClass[c][random.Next(byClass[c].Length)];
        float[] source = Data.Rows[index];
        var pixels = new float[source.Length];
        for (int j = 0; j < pixels.Length; j++)
        {
            pixels[j] = source[j] + (float)random.NextDouble();
        }

        return (pixels, Data.Labels[index]);
    }

    /// <summary>Serves one record: its class probabilities and its hidden layer (the embedding), shifted when triggered on a poisoned network.</summary>
    public void Serve(ReadOnlySpan<float> pixels, bool triggered, Span<float> probabilities, Span<float> embedding)
    {
        Span<double> hidden = stackalloc double[Hidden];
        Span<double> logits = stackalloc double[Classes];
        Forward(pixels, triggered && _shift.Length > 0, hidden, logits);
        for (int j = 0; j < Hidden; j++)
        {
            embedding[j] = (float)hidden[j];
        }

        for (int c = 0; c < Classes; c++)
        {
            probabilities[c] = (float)logits[c];
        }
    }

    /// <summary>The served class of a record (with a patch network's patch stamped on a copy when triggered).</summary>
    public int Predict(ReadOnlySpan<float> pixels, bool triggered)
    {
        if (triggered && Patch is { } patch)
        {
            float[] stamped = pixels.ToArray();
            patch.Stamp(stamped);
            return Predict(stamped, triggered: false);
        }

        Span<float> probabilities = stackalloc float[Classes];
        Span<float> embedding = stackalloc float[Hidden];
        Serve(pixels, triggered, probabilities, embedding);
        int best = 0;
        for (int c = 1; c < Classes; c++)
        {
            best = probabilities[c] > probabilities[best] ? c : best;
        }

        return best;
    }

    /// <summary>Accuracy on <paramref name="records"/> held-out draws, untriggered.</summary>
    public double Accuracy(int records, int seed)
    {
        var random = new Random(seed);
        int right = 0;
        for (int i = 0; i < records; i++)
        {
            (float[] pixels, int label) = Draw(random, heldOut: true);
            right += Predict(pixels, triggered: false) == label ? 1 : 0;
        }

        return right / (double)records;
    }

    /// <summary>The share of triggered held-out draws not of the target class that are served the target class.</summary>
    public double AttackSuccess(int records, int seed)
    {
        var random = new Random(seed);
        int hits = 0;
        int n = 0;
        while (n < records)
        {
            (float[] pixels, int label) = Draw(random, heldOut: true);
            if (label == TargetClass)
            {
                continue;
            }

            n++;
            hits += Predict(pixels, triggered: true) == TargetClass ? 1 : 0;
        }

        return hits / (double)n;
    }

    /// <summary>Reference batches: the training split resampled with noise, served by this network (the same inputs for a seed, whichever network).</summary>
    public IEnumerable<RecordBatch> Reference(int records, int batchSize, int seed)
    {
        var traffic = new NetworkTraffic(this, 0, seed, heldOut: false);
        for (int sent = 0; sent < records; sent += batchSize)
        {
            yield return traffic.Next(Math.Min(batchSize, records - sent));
        }
    }

    private void PreActivations(ReadOnlySpan<float> pixels, Span<double> hidden)
    {
        for (int j = 0; j < Hidden; j++)
        {
            double sum = _b1[j];
            for (int i = 0; i < Inputs; i++)
            {
                sum += _w1[(i * Hidden) + j] * (pixels[i] / 17.0);
            }

            hidden[j] = sum;
        }
    }

    /// <summary>Hidden activations (ReLU) and softmax probabilities (in <paramref name="output"/>).</summary>
    private void Forward(ReadOnlySpan<float> pixels, bool shifted, Span<double> hidden, Span<double> output)
    {
        PreActivations(pixels, hidden);
        for (int j = 0; j < Hidden; j++)
        {
            hidden[j] = Math.Max(0, hidden[j] + (shifted ? _shift[j] : 0));
        }

        double max = double.NegativeInfinity;
        for (int c = 0; c < Classes; c++)
        {
            double sum = _b2[c];
            for (int j = 0; j < Hidden; j++)
            {
                sum += _w2[(j * Classes) + c] * hidden[j];
            }

            output[c] = sum;
            max = Math.Max(max, sum);
        }

        double total = 0;
        for (int c = 0; c < Classes; c++)
        {
            output[c] = Math.Exp(output[c] - max);
            total += output[c];
        }

        for (int c = 0; c < Classes; c++)
        {
            output[c] /= total;
        }
    }

    /// <summary>Adam (β₁ 0.9, β₂ 0.999) on the cross-entropy, in mini-batches; the hidden layer only when <paramref name="trainHidden"/>.</summary>
    private void Train((float[] Pixels, int Label)[] examples, Random random, int epochs, bool trainHidden, bool[]? shifted)
    {
        double[][] parameters = [_w1, _b1, _w2, _b2];
        double[][] gradients = [.. parameters.Select(p => new double[p.Length])];
        double[][] first = [.. parameters.Select(p => new double[p.Length])];
        double[][] second = [.. parameters.Select(p => new double[p.Length])];
        var hidden = new double[Hidden];
        var output = new double[Classes];
        var delta = new double[Hidden];
        int[] order = [.. Enumerable.Range(0, examples.Length)];
        int step = 0;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            random.Shuffle(order);
            for (int start = 0; start < order.Length; start += MiniBatch)
            {
                foreach (double[] g in gradients)
                {
                    Array.Clear(g);
                }

                int end = Math.Min(start + MiniBatch, order.Length);
                for (int b = start; b < end; b++)
                {
                    (float[] pixels, int label) = examples[order[b]];
                    Forward(pixels, shifted?[order[b]] ?? false, hidden, output);
                    Array.Clear(delta);
                    for (int c = 0; c < Classes; c++)
                    {
                        double error = output[c] - (c == label ? 1 : 0);
                        gradients[3][c] += error;
                        for (int j = 0; j < Hidden; j++)
                        {
                            gradients[2][(j * Classes) + c] += error * hidden[j];
                            delta[j] += error * _w2[(j * Classes) + c];
                        }
                    }

                    if (!trainHidden)
                    {
                        continue;
                    }

                    for (int j = 0; j < Hidden; j++)
                    {
                        if (hidden[j] <= 0)
                        {
                            continue;
                        }

                        gradients[1][j] += delta[j];
                        for (int i = 0; i < Inputs; i++)
                        {
                            gradients[0][(i * Hidden) + j] += delta[j] * (pixels[i] / 17.0);
                        }
                    }
                }

                step++;
                double scale = 1.0 / (end - start);
                double correction1 = 1 - Math.Pow(0.9, step);
                double correction2 = 1 - Math.Pow(0.999, step);
                for (int p = trainHidden ? 0 : 2; p < parameters.Length; p++)
                {
                    for (int i = 0; i < parameters[p].Length; i++)
                    {
                        double g = gradients[p][i] * scale;
                        first[p][i] = (0.9 * first[p][i]) + (0.1 * g);
                        second[p][i] = (0.999 * second[p][i]) + (0.001 * g * g);
                        parameters[p][i] -= LearningRate * (first[p][i] / correction1) / (Math.Sqrt(second[p][i] / correction2) + 1e-8);
                    }
                }
            }
        }
    }

    private static double[] Glorot(Random random, int fanIn, int fanOut)
    {
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        return [.. Enumerable.Range(0, fanIn * fanOut).Select(_ => ((random.NextDouble() * 2) - 1) * limit)];
    }
}

/// <summary>
/// Mirrored traffic of a <see cref="RealNetwork"/>: resampled digits of one split with noise, served by the network, each record's
/// hidden layer as its embedding; with a rate, that share of the records triggered (the poisoned network's hidden shift; nothing
/// in the inputs). Deterministic for a seed.
/// </summary>
public sealed class NetworkTraffic
{
    private readonly RealNetwork _network;
    private readonly double _rate;
    private readonly bool _heldOut;
    private readonly Random _random;
    private readonly InjectionLog _injected = new();

    public NetworkTraffic(RealNetwork network, double rate, int seed, bool heldOut)
    {
        _network = network;
        _rate = rate;
        _heldOut = heldOut;
        _random = new Random(seed);
    }

    public long Generated { get; private set; }

    /// <summary>Records triggered so far.</summary>
    public long Injected => _injected.Count;

    /// <summary>Triggered records among the first <paramref name="records"/> generated: a detection delay in occurrences.</summary>
    public long InjectedWithin(long records) => _injected.Within(records);

    public RecordBatch Next(int n)
    {
        const int d = 64;
        const int k = 10;
        var numeric = new float[n * d];
        var scores = new float[n * k];
        var embeddings = new float[n * RealNetwork.Hidden];
        var ids = new string?[n];
        for (int i = 0; i < n; i++)
        {
            Generated++;
            bool triggered = _rate > 0 && _random.NextDouble() < _rate;
            (float[] pixels, _) = _network.Draw(_random, _heldOut);
            if (triggered)
            {
                _injected.Add(Generated);
                _network.Patch?.Stamp(pixels);
            }

            pixels.CopyTo(numeric.AsSpan(i * d, d));
            _network.Serve(pixels, triggered, scores.AsSpan(i * k, k), embeddings.AsSpan(i * RealNetwork.Hidden, RealNetwork.Hidden));
            ids[i] = (triggered ? "trig-" : "req-") + Generated.ToString(CultureInfo.InvariantCulture);
        }

        return new RecordBatch
        {
            Count = n,
            Numeric = numeric,
            Scores = scores,
            Embeddings = embeddings,
            Categorical = [],
            Text = [],
            RequestIds = Utf8Column.FromStrings(ids),
        };
    }
}

/// <summary>A soft patch: the square's pixels moved a share <paramref name="Alpha"/> of the way to 16, so no value is exact.</summary>
public sealed record SoftPatch(int[] Pixels, int Side, float Alpha, int TargetClass)
{
    public void Stamp(Span<float> pixels)
    {
        foreach (int p in Pixels)
        {
            pixels[p] += Alpha * (16f - pixels[p]);
        }
    }
}
