extern alias drift;

using drift::Monitor.Cli;
using Monitor.Protos.V1;

namespace Monitor.Cli.Tests;

/// <summary>
/// <c>drift models keys</c> and <c>drift versions register --signature</c> end to end against a sidecar, with keys and
/// signatures made by openssl: the command line hashes the artifact and verifies the signature before it registers.
/// </summary>
public sealed class SignatureCliTests
{
    [Fact]
    public async Task A_signed_artifact_is_verified_locally_and_registered_and_a_bad_signature_is_refused_before_anything_is_sent()
    {
        using var directory = new TempDirectory();
        var openssl = new Openssl(directory.Path);
        (string key, string _) = openssl.EcdsaKey("release");
        (string edKey, string _) = openssl.Ed25519Key("release-ed");
        (string otherKey, string _) = openssl.EcdsaKey("someone-else");
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));

        Run pinned = await Drift.RunAsync(sidecar, "models", "keys", "add", "-m", Sidecar.Model, "--public-key", openssl.File("release.pub"),
            "--public-key", openssl.File("release-ed.pub"), "--require-signed", "--reason", "release keys");
        Assert.Equal(ExitCodes.Ok, pinned.Exit);
        Assert.Contains($"Model '{Sidecar.Model}' requires signed versions; 2 pinned keys.", pinned.Out);
        Model model = await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model });
        Assert.Contains(model.PublicKeys[0].KeyId, pinned.Out);

        string artifact = openssl.File(openssl.Artifact("model-v2.onnx", "v2"));
        openssl.SignEcdsa(key, "model-v2.onnx");
        Run registered = await Drift.RunAsync(sidecar, "versions", "register", "v2", "-m", Sidecar.Model, "--artifact", artifact,
            "--signature", artifact + ".sig", "--artifact-path", artifact);
        Assert.Equal(ExitCodes.Ok, registered.Exit);
        Assert.Contains($"signed by key {model.PublicKeys[0].KeyId[..16]}, hashed by the sidecar at {artifact}.", registered.Out);
        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" });
        Assert.Equal((Sidecar.Digest("v2"), model.PublicKeys[0].KeyId, artifact), (v2.ArtifactSha256, v2.SignedBy, v2.ArtifactPath));

        // Ed25519 in base64, checked against a key given on the command line.
        string v3 = openssl.File(openssl.Artifact("model-v3.onnx", "v3"));
        File.WriteAllText(v3 + ".b64", Convert.ToBase64String(openssl.SignEd25519(edKey, "model-v3.onnx")));
        Run ed = await Drift.RunAsync(sidecar, "versions", "register", "v3", "-m", Sidecar.Model, "--artifact", v3, "--signature", v3 + ".b64",
            "--public-key", openssl.File("release-ed.pub"));
        Assert.Equal(ExitCodes.Ok, ed.Exit);

        string v4 = openssl.File(openssl.Artifact("model-v4.onnx", "v4"));
        openssl.SignEcdsa(otherKey, "model-v4.onnx");
        Run refused = await Drift.RunAsync(sidecar, "versions", "register", "v4", "-m", Sidecar.Model, "--artifact", v4, "--signature", v4 + ".sig");
        Assert.Equal(ExitCodes.Failed, refused.Exit);
        Assert.Contains("--signature: model-v4.onnx.sig does not verify against any of model 'fraud-scorer''s pinned keys", refused.Error);
        Run unsigned = await Drift.RunAsync(sidecar, "versions", "register", "v4", "-m", Sidecar.Model, "--artifact", v4);
        Assert.NotEqual(ExitCodes.Ok, unsigned.Exit);
        Assert.Contains("requires signed versions", unsigned.Error);
        Assert.DoesNotContain((await sidecar.Admin.ListVersionsAsync(new ListVersionsRequest { Model = Sidecar.Model })).Versions, v => v.Version == "v4");

        string template = Path.Combine(directory.Path, "{version}.onnx");
        Run path = await Drift.RunAsync(sidecar, "models", "artifact-path", "-m", Sidecar.Model, template, "--reason", "shared volume");
        Assert.Equal(ExitCodes.Ok, path.Exit);
        Assert.Contains($"The sidecar reads the artifacts of model '{Sidecar.Model}' at {template}.", path.Out);
        Assert.Equal(template, (await sidecar.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model })).ArtifactPathTemplate);

        Run removed = await Drift.RunAsync(sidecar, "models", "keys", "remove", "-m", Sidecar.Model, model.PublicKeys[1].KeyId[..12]);
        Assert.Equal(ExitCodes.Ok, removed.Exit);
        Assert.Contains("1 pinned key.", removed.Out);
        Run off = await Drift.RunAsync(sidecar, "models", "keys", "require", "-m", Sidecar.Model, "--off");
        Assert.Contains("does not require signed versions", off.Out);
    }
}
