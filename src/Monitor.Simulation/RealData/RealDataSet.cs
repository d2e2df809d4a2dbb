using System.Globalization;

namespace Monitor.Simulation.RealData;

/// <summary>
/// A data set bundled with scikit-learn (digits, breast_cancer, wine), exported to CSV by export.py beside this
/// file and embedded in this assembly: one row of numeric features per example and its class index.
/// </summary>
public sealed class RealDataSet
{
    private RealDataSet(string name, string[] features, float[][] rows, int[] labels)
    {
        Name = name;
        Features = features;
        Rows = rows;
        Labels = labels;
        Classes = labels.Max() + 1;
    }

    public string Name { get; }
    public string[] Features { get; }
    public float[][] Rows { get; }
    public int[] Labels { get; }
    public int Classes { get; }

    /// <summary>Reads the embedded CSV of a data set by its name (digits, breast_cancer, wine).</summary>
    public static RealDataSet Load(string name)
    {
        using Stream stream = typeof(RealDataSet).Assembly.GetManifestResourceStream($"RealData.{name}.csv")
            ?? throw new ArgumentException($"no embedded data set '{name}'", nameof(name));
        using var reader = new StreamReader(stream);
        string[] header = (reader.ReadLine() ?? throw new InvalidDataException($"{name}: empty file")).Split(',');
        var rows = new List<float[]>();
        var labels = new List<int>();
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            string[] cells = line.Split(',');
            var row = new float[cells.Length - 1];
            for (int j = 0; j < row.Length; j++)
            {
                row[j] = float.Parse(cells[j], CultureInfo.InvariantCulture);
            }

            rows.Add(row);
            labels.Add(int.Parse(cells[^1], CultureInfo.InvariantCulture));
        }

        return new RealDataSet(name, header[..^1], [.. rows], [.. labels]);
    }

    /// <summary>
    /// A stratified split: in each class, a shuffled <paramref name="trainShare"/> of the examples for training and
    /// the rest held out.
    /// </summary>
    public (int[] Train, int[] HeldOut) Split(double trainShare, Random random)
    {
        var train = new List<int>();
        var heldOut = new List<int>();
        for (int c = 0; c < Classes; c++)
        {
            int[] members = [.. Enumerable.Range(0, Rows.Length).Where(i => Labels[i] == c)];
            random.Shuffle(members);
            int n = (int)Math.Round(members.Length * trainShare);
            train.AddRange(members[..n]);
            heldOut.AddRange(members[n..]);
        }

        return ([.. train], [.. heldOut]);
    }
}
