using System.CommandLine;
using System.Globalization;

namespace Monitor.Cli.Sidecar;

/// <summary>The options every command shares: where the sidecar is and how to prove who is calling.</summary>
internal sealed class ConnectionOptions
{
    public const string AddressVariable = "DRIFT_MONITOR_SIDECAR";
    public const string KeyVariable = "DRIFT_MONITOR_KEY";
    public const string DefaultAddress = "http://127.0.0.1:50051";

    private readonly Option<string?> _address = new("--sidecar")
    {
        Description = $"The sidecar's gRPC address (default: ${AddressVariable}, else {DefaultAddress}).",
        Recursive = true,
    };

    private readonly Option<string?> _key = new("--key")
    {
        Description = $"API key sent as 'authorization: Bearer KEY' (default: ${KeyVariable}). Prefer the variable or --key-file: " +
            "a key on the command line is visible to other users of the machine.",
        Recursive = true,
    };

    private readonly Option<FileInfo?> _keyFile = new("--key-file")
    {
        Description = "A file holding the API key.",
        Recursive = true,
    };

    private readonly Option<FileInfo?> _ca = new("--ca")
    {
        Description = "PEM file of the certificate authority that signed the sidecar's certificate (https:// addresses).",
        Recursive = true,
    };

    private readonly Option<FileInfo?> _certificate = new("--certificate")
    {
        Description = "PEM client certificate, for a sidecar that requires mutual TLS (with --certificate-key).",
        Recursive = true,
    };

    private readonly Option<FileInfo?> _certificateKey = new("--certificate-key")
    {
        Description = "PEM private key of --certificate.",
        Recursive = true,
    };

    private readonly Option<double> _timeout = new("--timeout")
    {
        Description = "Seconds to wait for each answer of the sidecar.",
        DefaultValueFactory = _ => 30,
        Recursive = true,
    };

    public void AddTo(Command root)
    {
        root.Options.Add(_address);
        root.Options.Add(_key);
        root.Options.Add(_keyFile);
        root.Options.Add(_ca);
        root.Options.Add(_certificate);
        root.Options.Add(_certificateKey);
        root.Options.Add(_timeout);
        _timeout.Validators.Add(result =>
        {
            double seconds = result.GetValueOrDefault<double>();
            if (!(seconds > 0) || seconds > 86_400)
            {
                result.AddError($"--timeout: {seconds.ToString(CultureInfo.InvariantCulture)} must be more than 0 and at most 86400 seconds");
            }
        });
    }

    /// <summary>Opens a channel to the sidecar; nothing is sent until the first call.</summary>
    public SidecarConnection Open(ParseResult parsed)
    {
        string address = parsed.GetValue(_address) ?? Environment.GetEnvironmentVariable(AddressVariable) ?? DefaultAddress;
        string? key = parsed.GetValue(_key);
        if (key is null && parsed.GetValue(_keyFile) is { } keyFile)
        {
            key = ReadKey(keyFile);
        }

        key ??= Environment.GetEnvironmentVariable(KeyVariable);
        return SidecarConnection.Open(address, string.IsNullOrWhiteSpace(key) ? null : key.Trim(), parsed.GetValue(_ca),
            parsed.GetValue(_certificate), parsed.GetValue(_certificateKey), TimeSpan.FromSeconds(parsed.GetValue(_timeout)));
    }

    private static string ReadKey(FileInfo file)
    {
        try
        {
            string key = File.ReadAllText(file.FullName).Trim();
            return key.Length > 0 ? key : throw new CliException($"--key-file: {file.FullName} is empty");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--key-file: cannot read {file.FullName}: {e.Message}");
        }
    }
}
