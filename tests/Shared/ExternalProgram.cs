namespace Monitor.Tests.Shared;

/// <summary>
/// Programs from Debian packages that some tests need (Alertmanager, promtool, chromium). Found on PATH; when
/// missing, the test fails under CI=true and is skipped elsewhere with a message saying what to install.
/// </summary>
internal static class ExternalProgram
{
    public static string Require(string package, params string[] names)
    {
        foreach (string name in names)
        {
            foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                string candidate = Path.Combine(directory, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        string message = $"{string.Join(" or ", names)} is not on PATH: install Debian's {package} package (apt-get install {package})";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + " — CI=true, so this test must run");
        }

        Assert.Skip(message);
        return "";
    }
}
