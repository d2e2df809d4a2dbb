using System.Diagnostics;

namespace Monitor.Tests.Shared;

/// <summary>Keys and signatures made by openssl in a temporary directory.</summary>
internal sealed class Openssl(string directory)
{
    private readonly string _program = ExternalProgram.Require("openssl", "openssl");

    public string File(string name) => Path.Combine(directory, name);

    public void Run(params string[] args)
    {
        var start = new ProcessStartInfo(_program) { WorkingDirectory = directory, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', args)}: {errors}");
    }

    /// <summary>An ECDSA P-256 key pair: the private key's file and the public key's PEM.</summary>
    public (string Private, string PublicPem) EcdsaKey(string name)
    {
        Run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".pem");
        Run("ec", "-in", name + ".pem", "-pubout", "-out", name + ".pub");
        return (name + ".pem", System.IO.File.ReadAllText(File(name + ".pub")));
    }

    public (string Private, string PublicPem) Ed25519Key(string name)
    {
        Run("genpkey", "-algorithm", "ed25519", "-out", name + ".pem");
        Run("pkey", "-in", name + ".pem", "-pubout", "-out", name + ".pub");
        return (name + ".pem", System.IO.File.ReadAllText(File(name + ".pub")));
    }

    /// <summary><c>openssl dgst -sha256 -sign</c>: ECDSA over the file's SHA-256, DER (what cosign sign-blob writes, in base64).</summary>
    public byte[] SignEcdsa(string key, string artifact)
    {
        Run("dgst", "-sha256", "-sign", key, "-out", artifact + ".sig", artifact);
        return System.IO.File.ReadAllBytes(File(artifact + ".sig"));
    }

    /// <summary>Ed25519 over the file's 32-byte SHA-256: <c>openssl dgst -sha256 -binary</c>, then <c>openssl pkeyutl -sign -rawin</c>.</summary>
    public byte[] SignEd25519(string key, string artifact)
    {
        Run("dgst", "-sha256", "-binary", "-out", artifact + ".sha256", artifact);
        Run("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", artifact + ".sha256", "-out", artifact + ".ed.sig");
        return System.IO.File.ReadAllBytes(File(artifact + ".ed.sig"));
    }

    /// <summary>An artifact file whose SHA-256 is <see cref="Sidecar.Digest"/> of <paramref name="content"/>.</summary>
    public string Artifact(string name, string content)
    {
        System.IO.File.WriteAllText(File(name), content);
        return name;
    }
}
