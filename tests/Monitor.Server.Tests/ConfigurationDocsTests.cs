using System.Collections;
using System.Reflection;
using Monitor.Server.Hosting;

namespace Monitor.Server.Tests;

/// <summary>Every key the sidecar binds is in docs/configuration.md, so a new setting cannot ship undocumented.</summary>
public sealed class ConfigurationDocsTests
{
    [Fact]
    public void Every_bound_options_key_is_documented()
    {
        string docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "configuration.md"));
        List<string> keys = [.. Keys(typeof(MonitorOptions), MonitorOptions.Section)];

        Assert.Contains("Monitor:Baselines:FalseAlarmRate", keys); // the walk reaches nested sections
        Assert.Contains("Monitor:Delivery:Webhooks:N:Secret", keys); // and list items
        Assert.Contains("Monitor:Detectors:MaxKeysPerRecord", keys); // and Core's settings under their section's key
        Assert.DoesNotContain(keys, key => key.Contains("TextKeys", StringComparison.Ordinal)); // but not their internal ones
        Assert.True(keys.Count > 50, $"only {keys.Count} keys found");
        string[] missing = [.. keys.Where(key => !docs.Contains($"`{key}`", StringComparison.Ordinal))];
        Assert.True(missing.Length == 0, "docs/configuration.md does not document: " + string.Join(", ", missing));
    }

    /// <summary>The configuration keys a type binds: its settable public properties, sections and list items (as N) walked down.</summary>
    private static IEnumerable<string> Keys(Type type, string prefix)
    {
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            // A section can bind to two objects: the sidecar's options and, under the same key, Core's settings.
            string key = $"{prefix}:{property.GetCustomAttribute<Microsoft.Extensions.Configuration.ConfigurationKeyNameAttribute>()?.Name ?? property.Name}";
            Type propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (Leaf(propertyType))
            {
                yield return key;
            }
            else if (propertyType.IsGenericType && typeof(IList).IsAssignableFrom(propertyType))
            {
                foreach (string nested in Keys(propertyType.GetGenericArguments()[0], key + ":N"))
                {
                    yield return nested;
                }
            }
            else
            {
                foreach (string nested in Keys(propertyType, key))
                {
                    yield return nested;
                }
            }
        }
    }

    private static bool Leaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal) || type == typeof(Uri);

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
}
