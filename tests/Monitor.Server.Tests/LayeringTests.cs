using System.Text.RegularExpressions;

namespace Monitor.Server.Tests;

/// <summary>
/// The folders of src/Monitor.Server depend on each other one way only, in the order docs/architecture.md draws: a folder
/// may use the folders below it and never one above. A dependency is a <c>using Monitor.Server.X</c> directive or a
/// qualified use of a type declared in folder X (<c>X.Type</c>).
/// </summary>
public sealed partial class LayeringTests
{
    [Fact]
    public void Every_folder_depends_only_on_folders_below_it_in_the_documented_layering()
    {
        string[] layers = DocumentedLayers();
        Dictionary<string, Dictionary<string, List<string>>> dependencies = Dependencies();

        Assert.Equal([.. dependencies.Keys.Order(StringComparer.Ordinal)], [.. layers.Order(StringComparer.Ordinal)]);
        var upward = new List<string>();
        foreach ((string folder, Dictionary<string, List<string>> uses) in dependencies)
        {
            foreach ((string used, List<string> where) in uses)
            {
                if (Array.IndexOf(layers, used) <= Array.IndexOf(layers, folder))
                {
                    upward.Add($"{folder} uses {used} ({string.Join(", ", where.Distinct().Take(3))})");
                }
            }
        }

        Assert.True(upward.Count == 0, "dependencies that point up (or sideways) the layering of docs/architecture.md:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void No_feature_folder_imports_Hosting()
    {
        Dictionary<string, Dictionary<string, List<string>>> dependencies = Dependencies();

        Assert.Contains("Hosting", dependencies.Keys);
        string[] importers = [.. dependencies.Where(d => d.Key != "Hosting" && d.Value.ContainsKey("Hosting")).Select(d => d.Key)];
        Assert.Empty(importers);
    }

    [Fact]
    public void The_walk_finds_both_kinds_of_dependency()
    {
        Dictionary<string, Dictionary<string, List<string>>> dependencies = Dependencies();

        Assert.Contains("Persistence", dependencies["Windows"].Keys); // a using directive
        Assert.Contains(dependencies["Hosting"].Values.SelectMany(w => w), where => where.Contains("Verdicts.", StringComparison.Ordinal)); // a qualified type
    }

    /// <summary>The folders as the layering block of docs/architecture.md lists them, top first.</summary>
    private static string[] DocumentedLayers()
    {
        string docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "architecture.md"));
        Match block = LayeringBlock().Match(docs);
        Assert.True(block.Success, "docs/architecture.md has no ```layers block");
        return [.. block.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', 2)[0])];
    }

    /// <summary>For each folder of src/Monitor.Server, the other folders it uses and where.</summary>
    private static Dictionary<string, Dictionary<string, List<string>>> Dependencies()
    {
        string server = Path.Combine(RepositoryRoot(), "src", "Monitor.Server");
        Dictionary<string, string[]> files = Directory.GetDirectories(server)
            .Select(Path.GetFileName)
            .Where(name => name is not ("bin" or "obj"))
            .ToDictionary(name => name!, name => Directory.GetFiles(Path.Combine(server, name!), "*.cs", SearchOption.AllDirectories), StringComparer.Ordinal);
        Dictionary<string, HashSet<string>> declared = files.ToDictionary(f => f.Key,
            f => f.Value.SelectMany(path => Declaration().Matches(File.ReadAllText(path)).Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal),
            StringComparer.Ordinal);

        var dependencies = new Dictionary<string, Dictionary<string, List<string>>>(StringComparer.Ordinal);
        foreach ((string folder, string[] paths) in files)
        {
            var uses = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            dependencies[folder] = uses;
            foreach (string path in paths)
            {
                string text = File.ReadAllText(path);
                string name = Path.GetRelativePath(server, path);
                foreach (Match match in UsingDirective().Matches(text))
                {
                    Add(match.Groups[1].Value, $"{name}: using");
                }

                foreach (Match match in QualifiedName().Matches(text))
                {
                    if (declared.TryGetValue(match.Groups[1].Value, out HashSet<string>? types) && types.Contains(match.Groups[2].Value))
                    {
                        Add(match.Groups[1].Value, $"{name}: {match.Value}");
                    }
                }

                void Add(string used, string where)
                {
                    if (used != folder && files.ContainsKey(used))
                    {
                        (uses.TryGetValue(used, out List<string>? list) ? list : uses[used] = []).Add(where);
                    }
                }
            }
        }

        return dependencies;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Monitor.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no Monitor.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"```layers\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex LayeringBlock();

    [GeneratedRegex(@"\b(?:class|record|interface|enum|struct)\s+(\w+)")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"^\s*using\s+(?:static\s+)?(?:\w+\s*=\s*)?Monitor\.Server\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    [GeneratedRegex(@"(?<![\w.])(?:Monitor\.Server\.)?(\w+)\.(\w+)")]
    private static partial Regex QualifiedName();
}
