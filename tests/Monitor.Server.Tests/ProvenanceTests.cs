using System.Diagnostics;
using System.Formats.Asn1;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Monitor.Protos.V1;
using Monitor.Simulation;

namespace Monitor.Server.Tests;

/// <summary>
/// Artifact signatures made with openssl (ECDSA P-256 DER, raw r||s and base64; Ed25519 over the 32-byte digest) verified
/// against a model's pinned keys at registration, and the sidecar's own hash of an artifact it can read: a mismatch at
/// registration is refused, a file swapped on disk while the version runs is a verified swap.
/// </summary>
public sealed class ProvenanceTests
{
    /// <summary>A DER ECDSA signature as raw r||s, 32 bytes each.</summary>
    private static byte[] Raw(byte[] der)
    {
        var reader = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        byte[] raw = new byte[64];
        foreach (int offset in new[] { 0, 32 })
        {
            ReadOnlySpan<byte> integer = reader.ReadIntegerBytes().Span.TrimStart((byte)0);
            integer.CopyTo(raw.AsSpan(offset + 32 - integer.Length));
        }

        return raw;
    }

    private static ByteString Base64(byte[] signature) => ByteString.CopyFromUtf8(Convert.ToBase64String(signature) + "\n");

    private static RegisterVersionRequest Version(string version, ByteString? signature = null, string path = "") => new()
    {
        Model = Sidecar.Model,
        Version = version,
        ArtifactSha256 = Sidecar.Digest(version),
        Source = "test",
        Signature = signature ?? ByteString.Empty,
        ArtifactPath = path,
    };

    private static Task<Model> PinAsync(Sidecar sidecar, bool? require, params string[] keys)
    {
        var request = new SetModelSigningRequest { Model = Sidecar.Model, AddPublicKeys = { keys }, Actor = "release-bot", Reason = "test" };
        if (require is { } value)
        {
            request.RequireSignedVersions = value;
        }

        return sidecar.Admin.SetModelSigningAsync(request).ResponseAsync;
    }

    [Fact]
    public async Task Ecdsa_der_raw_and_base64_and_ed25519_signatures_over_the_digest_verify_and_name_their_key()
    {
        using var directory = new TempDirectory();
        var openssl = new Openssl(directory.Path);
        (string ecKey, string ecPem) = openssl.EcdsaKey("release");
        (string edKey, string edPem) = openssl.Ed25519Key("release-ed");
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        Model model = await PinAsync(sidecar, require: true, ecPem, edPem);
        Assert.True(model.RequireSignedVersions);
        Assert.Equal(["ecdsa-p256", "ed25519"], model.PublicKeys.Select(k => k.Algorithm));
        string ecId = model.PublicKeys[0].KeyId;
        string edId = model.PublicKeys[1].KeyId;

        byte[] der = openssl.SignEcdsa(ecKey, openssl.Artifact("v2", "v2"));
        byte[] raw = Raw(openssl.SignEcdsa(ecKey, openssl.Artifact("v3", "v3")));
        byte[] cosign = openssl.SignEcdsa(ecKey, openssl.Artifact("v4", "v4"));
        byte[] ed = openssl.SignEd25519(edKey, openssl.Artifact("v5", "v5"));
        byte[] edText = openssl.SignEd25519(edKey, openssl.Artifact("v6", "v6"));
        foreach ((string version, ByteString signature, string key) in new[]
        {
            ("v2", ByteString.CopyFrom(der), ecId), ("v3", ByteString.CopyFrom(raw), ecId), ("v4", Base64(cosign), ecId),
            ("v5", ByteString.CopyFrom(ed), edId), ("v6", Base64(edText), edId),
        })
        {
            ModelVersion registered = await sidecar.Admin.RegisterVersionAsync(Version(version, signature));
            Assert.Equal(key, registered.SignedBy);
            Assert.Equal(key, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = version })).SignedBy);
        }

        // Pinned keys and signers survive a restart.
        string database = directory.File("monitor.db");
        await sidecar.DisposeAsync();
        await using Sidecar restarted = await Sidecar.StartAsync(database);
        Model reloaded = await restarted.Admin.GetModelAsync(new GetModelRequest { Name = Sidecar.Model });
        Assert.True(reloaded.RequireSignedVersions);
        Assert.Equal([ecId, edId], reloaded.PublicKeys.Select(k => k.KeyId));
        Assert.Equal(edId, (await restarted.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v5" })).SignedBy);
    }

    [Fact]
    public async Task An_unsigned_version_of_a_model_that_requires_signatures_and_a_signature_by_an_unpinned_key_or_of_another_file_are_refused()
    {
        using var directory = new TempDirectory();
        var openssl = new Openssl(directory.Path);
        (string _, string pinnedPem) = openssl.EcdsaKey("release");
        (string otherKey, string _) = openssl.EcdsaKey("someone-else");
        (string edKey, string edPem) = openssl.Ed25519Key("release-ed");
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));

        // Nothing pinned: a signature has nothing to verify against, and requiring signatures needs a key.
        var unpinned = await Assert.ThrowsAsync<RpcException>(() =>
            sidecar.Admin.RegisterVersionAsync(Version("v2", ByteString.CopyFrom(openssl.SignEcdsa(otherKey, openssl.Artifact("v2", "v2"))))).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, unpinned.StatusCode);
        Assert.Contains("no pinned public key", unpinned.Status.Detail);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => PinAsync(sidecar, require: true))).StatusCode);

        Model model = await PinAsync(sidecar, require: true, pinnedPem, edPem);
        var unsigned = await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.RegisterVersionAsync(Version("v2")).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, unsigned.StatusCode);
        Assert.Contains("requires signed versions", unsigned.Status.Detail);

        var wrongKey = await Assert.ThrowsAsync<RpcException>(() =>
            sidecar.Admin.RegisterVersionAsync(Version("v2", ByteString.CopyFrom(openssl.SignEcdsa(otherKey, "v2")))).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, wrongKey.StatusCode);
        Assert.Contains("does not verify against any of the model's pinned keys", wrongKey.Status.Detail);
        Assert.Contains($"ecdsa-p256 {model.PublicKeys[0].KeyId[..16]}", wrongKey.Status.Detail);

        // The same in raw r||s, and bytes that are no signature at all: refused the same way, never an internal error.
        foreach (byte[] bad in new[] { Raw(openssl.SignEcdsa(otherKey, "v2")), [0x30, 0x02, 0x02, 0x00], Enumerable.Repeat((byte)7, 64).ToArray() })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.RegisterVersionAsync(Version("v2", ByteString.CopyFrom(bad))).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        }

        // A pinned key's signature of another artifact (v3's) does not vouch for v2.
        byte[] ofV3 = openssl.SignEd25519(edKey, openssl.Artifact("v3", "v3"));
        var otherFile = await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.RegisterVersionAsync(Version("v2", ByteString.CopyFrom(ofV3))).ResponseAsync);
        Assert.Contains("does not verify", otherFile.Status.Detail);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" }).ResponseAsync)).StatusCode);

        // A private key or garbage is no public key to pin.
        var privateKey = await Assert.ThrowsAsync<RpcException>(() => PinAsync(sidecar, null, File.ReadAllText(openssl.File("someone-else.pem"))));
        Assert.Equal(StatusCode.InvalidArgument, privateKey.StatusCode);
        Assert.Contains("add_public_keys[0]", privateKey.Status.Detail);
    }

    [Fact]
    public async Task An_artifact_path_is_hashed_at_registration_and_a_file_swapped_while_the_version_runs_quarantines_it_with_a_rollback_signal()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 161);
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Provenance:ArtifactCheckInterval=00:00:00.200");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        string artifact = directory.File("model-v2.onnx");
        File.WriteAllText(artifact, "not v2");
        var mismatch = await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.RegisterVersionAsync(Version("v2", path: artifact)).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, mismatch.StatusCode);
        Assert.Contains($"the file the sidecar read at {artifact} does not hash to artifact_sha256 {Sidecar.Digest("v2")}", mismatch.Status.Detail);
        Assert.DoesNotContain(Sidecar.Digest("not v2"), mismatch.Status.Detail);
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            sidecar.Admin.RegisterVersionAsync(Version("v2", path: directory.File("absent.onnx"))).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, missing.StatusCode);

        File.WriteAllText(artifact, "v2");
        ModelVersion registered = await sidecar.Admin.RegisterVersionAsync(Version("v2", path: artifact));
        Assert.Equal(artifact, registered.ArtifactPath);
        Assert.NotNull(registered.ArtifactVerifiedAt);
        await sidecar.MirrorWindowsAsync(traffic, "v2", 1);
        Assert.Equal(VersionState.Candidate, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);

        // Someone replaces the file on the shared volume: the sidecar's own hash is a verified swap, not a claim.
        File.WriteAllText(artifact, "poisoned v2");
        RollbackSignal signal = await EventuallyAsync(async () =>
            (await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals.SingleOrDefault());
        Assert.Equal(("v2", "v1", "policy"), (signal.FromVersion, signal.ToVersion, signal.Actor));
        Assert.Contains($"the sidecar hashed {artifact}: {Sidecar.Digest("poisoned v2")} differs from the registered {Sidecar.Digest("v2")}", signal.Reason);
        Assert.Equal(VersionState.Quarantined, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);
        Assert.Equal("Failed", (await sidecar.VerdictAsync("v2")).GetProperty("verdict").GetString());
        Assert.Contains((await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model })).Alerts,
            a => a.Version == "v2" && a.Kind == "artifact-digest" && a.Severity == AlertSeverity.Critical);
    }

    [Fact]
    public async Task A_models_artifact_path_template_gives_the_path_of_versions_registered_without_one()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.SetModelArtifactPathAsync(
            new SetModelArtifactPathRequest { Model = Sidecar.Model, ArtifactPathTemplate = "models/{version}.onnx", Actor = "ops" }).ResponseAsync)).StatusCode);
        string template = Path.Combine(directory.Path, "{version}", "model.onnx");
        Model model = await sidecar.Admin.SetModelArtifactPathAsync(new SetModelArtifactPathRequest
        {
            Model = Sidecar.Model, ArtifactPathTemplate = template, Actor = "ops", Reason = "shared volume",
        });
        Assert.Equal(template, model.ArtifactPathTemplate);
        foreach (string version in new[] { "v2", "v3" })
        {
            Directory.CreateDirectory(directory.File(version));
            File.WriteAllText(directory.File(Path.Combine(version, "model.onnx")), version == "v2" ? "v2" : "not v3");
        }

        ModelVersion v2 = await sidecar.Admin.RegisterVersionAsync(Version("v2"));
        Assert.Equal(directory.File(Path.Combine("v2", "model.onnx")), v2.ArtifactPath);
        var v3 = await Assert.ThrowsAsync<RpcException>(() => sidecar.Admin.RegisterVersionAsync(Version("v3")).ResponseAsync);
        Assert.Contains($"the file the sidecar read at {directory.File(Path.Combine("v3", "model.onnx"))} does not hash to", v3.Status.Detail);
    }

    [Fact]
    public async Task The_same_artifact_copied_over_itself_slowly_is_not_a_swap()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 164);
        // Checks every 50 ms, so many of them read the file while it is being written.
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Provenance:ArtifactCheckInterval=00:00:00.050");
        await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
        string artifact = directory.File("model-v2.onnx");
        byte[] content = new byte[4 << 20];
        new Random(5).NextBytes(content);
        await File.WriteAllBytesAsync(artifact, content, TestContext.Current.CancellationToken);
        await sidecar.Admin.RegisterVersionAsync(new RegisterVersionRequest
        {
            Model = Sidecar.Model, Version = "v2", ArtifactSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)), ArtifactPath = artifact,
        }, cancellationToken: TestContext.Current.CancellationToken);

        // A deploy tool copies the same bytes over the file in 64 chunks, 30 ms apart: truncated, then growing for 2 s.
        await using (var stream = new FileStream(artifact, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            for (int chunk = 0; chunk < 64; chunk++)
            {
                await stream.WriteAsync(content.AsMemory(chunk * (content.Length / 64), content.Length / 64), TestContext.Current.CancellationToken);
                await stream.FlushAsync(TestContext.Current.CancellationToken);
                await Task.Delay(30, TestContext.Current.CancellationToken);
            }
        }

        await Task.Delay(500, TestContext.Current.CancellationToken);
        ModelVersion v2 = await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" },
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(VersionState.Candidate, v2.State);
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest(),
            cancellationToken: TestContext.Current.CancellationToken)).Signals);
    }

    [Fact]
    public async Task An_artifact_swapped_while_the_sidecar_was_down_is_found_at_start()
    {
        using var directory = new TempDirectory();
        var traffic = new FraudTraffic(seed: 163);
        string database = await FraudModel.DatabaseAsync(directory.File("monitor.db"));
        string artifact = directory.File("model-v2.onnx");
        File.WriteAllText(artifact, "v2");
        await using (Sidecar sidecar = await Sidecar.StartAsync(database))
        {
            await sidecar.MirrorWindowsAsync(traffic, "v1", 1);
            await sidecar.Admin.RegisterVersionAsync(Version("v2", path: artifact));
        }

        File.WriteAllText(artifact, "poisoned v2");
        // The interval is long: only the check at start can find it.
        await using Sidecar restarted = await Sidecar.StartAsync(database, "--Monitor:Provenance:ArtifactCheckInterval=01:00:00");
        RollbackSignal signal = await EventuallyAsync(async () =>
            (await restarted.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals.SingleOrDefault());
        Assert.Equal(("v2", "v1"), (signal.FromVersion, signal.ToVersion));
        Assert.Contains($"the sidecar hashed {artifact}", signal.Reason);
        Assert.Equal(artifact, (await restarted.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).ArtifactPath);
    }

    [Fact]
    public async Task An_unreadable_artifact_raises_a_warning_not_a_swap_and_it_resolves_once_the_file_is_back()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Provenance:ArtifactCheckInterval=00:00:00.200");
        string artifact = directory.File("model-v2.onnx");
        File.WriteAllText(artifact, "v2");
        await sidecar.Admin.RegisterVersionAsync(Version("v2", path: artifact));
        File.Move(artifact, artifact + ".moved");
        Protos.V1.Alert warning = await EventuallyAsync(async () => (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model }))
            .Alerts.SingleOrDefault(a => a.Kind == "artifact-unreadable" && a.State == AlertState.Firing));
        Assert.Equal(AlertSeverity.Warning, warning.Severity);
        Assert.Equal(VersionState.Candidate, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);
        File.Move(artifact + ".moved", artifact);
        await EventuallyAsync(async () => (await sidecar.Alerts.ListAlertsAsync(new ListAlertsRequest { Model = Sidecar.Model }))
            .Alerts.SingleOrDefault(a => a.Kind == "artifact-unreadable" && a.State == AlertState.Resolved));
        Assert.Empty((await sidecar.Rollbacks.ListRollbackSignalsAsync(new ListRollbackSignalsRequest())).Signals);
    }

    [Fact]
    public async Task A_signed_version_becomes_known_good_after_its_clean_run_and_an_unsigned_one_only_observed_clean()
    {
        using var directory = new TempDirectory();
        var openssl = new Openssl(directory.Path);
        var traffic = new FraudTraffic(seed: 162);
        (string key, string pem) = openssl.EcdsaKey("release");
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")),
            "--Monitor:Versions:PromoteAfterCleanWindows=3", "--Monitor:Versions:PromoteAfterRecords=1500");
        await PinAsync(sidecar, require: false, pem);
        await sidecar.Admin.RegisterVersionAsync(Version("v2", ByteString.CopyFrom(openssl.SignEcdsa(key, openssl.Artifact("v2", "v2")))));
        await sidecar.Admin.RegisterVersionAsync(Version("v3"));
        await sidecar.MirrorWindowsAsync(traffic, "v2", 3);
        await sidecar.MirrorWindowsAsync(traffic, "v3", 3);
        Assert.Equal(VersionState.KnownGood, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).State);
        Assert.Equal(VersionState.ObservedClean, (await sidecar.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v3" })).State);
        await sidecar.Pipeline(Sidecar.Model).FlushAsync(CancellationToken.None);
        Assert.Contains(sidecar.App.Services.GetRequiredService<Monitor.Server.Models.IModelStore>().LoadAudit(Sidecar.Model),
            e => e.Version == "v2" && e.Action == "signed-known-good" && e.Actor == "policy");
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe) where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "not within 20 s");
            await Task.Delay(50);
        }
    }
}
