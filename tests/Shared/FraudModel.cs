using System.Collections.Concurrent;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Tests.Shared;

/// <summary>
/// The fraud model as most end-to-end tests start from it: registered, version v1 known-good and having served
/// <see cref="ServedRecords"/> records, and a committed baseline of clean reference records (<see cref="Sidecar.SetUpFraudModelAsync(FraudTraffic, int, string[])"/>).
/// Fitting the baseline takes seconds, so each set-up is done once per test run, in a template database that
/// every test copies to its own path before it starts its sidecar there.
/// </summary>
internal static class FraudModel
{
    /// <summary>The seed of the templates' reference records; no test draws its traffic from it.</summary>
    private const int ReferenceSeed = 1000;

    /// <summary>The records v1 mirrored in the set-up, so that it has served.</summary>
    public const int ServedRecords = 10;

    private static readonly string Templates = Path.Combine(Path.GetTempPath(), $"monitor-tests-fraud-model-{Environment.ProcessId}");
    private static readonly ConcurrentDictionary<string, Lazy<Task<Template>>> Built = new();

    static FraudModel() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(Templates);

    /// <summary>
    /// Copies the database of this set-up (built on first use) to <paramref name="database"/> and returns that path.
    /// A sidecar started on it has the model, v1 and the baseline in force, as after the set-up.
    /// </summary>
    public static async Task<string> DatabaseAsync(string database, int referenceRecords = 6000, params string[] criticalFeatures)
    {
        Template template = await TemplateAsync(referenceRecords, criticalFeatures);
        File.Copy(template.Database, database);
        if (File.Exists(template.Database + "-wal"))
        {
            File.Copy(template.Database + "-wal", database + "-wal");
        }

        return database;
    }

    /// <summary>The baseline of this set-up, as its commit answered.</summary>
    public static async Task<Baseline> BaselineAsync(int referenceRecords = 6000, params string[] criticalFeatures) =>
        (await TemplateAsync(referenceRecords, criticalFeatures)).Baseline;

    private static Task<Template> TemplateAsync(int referenceRecords, string[] criticalFeatures)
    {
        string name = string.Join('-', ["fraud", referenceRecords.ToString(System.Globalization.CultureInfo.InvariantCulture), .. criticalFeatures]);
        return Built.GetOrAdd(name, _ => new Lazy<Task<Template>>(() => BuildAsync(name, referenceRecords, criticalFeatures))).Value;
    }

    private static async Task<Template> BuildAsync(string name, int referenceRecords, string[] criticalFeatures)
    {
        Directory.CreateDirectory(Templates);
        string database = Path.Combine(Templates, name + ".db");
        // A reference larger than the sidecar's default reservoir is kept whole, as the tests that upload 20,000 records configure it.
        string[] settings = referenceRecords > 10_000 ? ["--Monitor:Baselines:ReservoirRecords=50000"] : [];
        await using Sidecar sidecar = await Sidecar.StartAsync(database, settings);
        var traffic = new FraudTraffic(ReferenceSeed);
        Baseline baseline = await sidecar.SetUpFraudModelAsync(traffic, referenceRecords, criticalFeatures);
        // v1 has served (a few records, far from a window): rollbacks go only to a trusted version that has served.
        await sidecar.Mirror.IngestAsync(Sidecar.Batch(traffic, ServedRecords));
        return new Template(database, baseline);
    }

    private static void Delete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed record Template(string Database, Baseline Baseline);
}
