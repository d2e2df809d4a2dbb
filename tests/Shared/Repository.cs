namespace Monitor.Tests.Shared;

/// <summary>The repository's root (where Monitor.sln is), found from the test binaries.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (string? directory = AppContext.BaseDirectory; directory is not null; directory = Path.GetDirectoryName(directory))
        {
            if (File.Exists(Path.Combine(directory, "Monitor.sln")))
            {
                return directory;
            }
        }

        throw new InvalidOperationException($"no Monitor.sln above {AppContext.BaseDirectory}");
    }
}
