using System.Security.Cryptography;
using Grpc.Core;
using Monitor.Protos.V1;

namespace Monitor.Server.Tests;

/// <summary>
/// The sidecar scans an artifact it can read before anyone may trust its version: a pickle that would run a command
/// when loaded is registered (its traffic is still watched) but can never be promoted or registered as known-good.
/// </summary>
public sealed class UnsafeArtifactTests
{
    private static string Fixture(string name) => Path.Combine(Repository.Root, "tests", "Monitor.Core.Tests", "Provenance", "Fixtures", name);

    [Fact]
    public async Task A_version_whose_artifact_would_run_code_when_loaded_is_never_trusted_and_a_safe_one_is()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        string poisoned = directory.File("model-v2.pkl");
        File.Copy(Fixture("mal_reduce_ex_subprocess_popen.pkl"), poisoned);
        string safe = directory.File("model-v3.pkl");
        File.Copy(Fixture("ok_sklearn_logreg.pkl"), safe);

        RpcException known = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.RegisterVersionAsync(Register("v2", poisoned,
            VersionState.KnownGood)));
        Assert.Equal(StatusCode.FailedPrecondition, known.StatusCode);
        Assert.Contains("cannot be registered as known-good: the scan of", known.Status.Detail);
        Assert.Contains("subprocess.Popen", known.Status.Detail);

        ModelVersion v2 = await sidecar.Admin.RegisterVersionAsync(Register("v2", poisoned, VersionState.Candidate));
        Assert.StartsWith("Unsafe: ", v2.UnsafeArtifact);
        RpcException promote = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.PromoteVersionAsync(
            new PromoteVersionRequest { Model = Sidecar.Model, Version = "v2", Actor = "alice", Reason = "looks fine" }));
        Assert.Equal(StatusCode.FailedPrecondition, promote.StatusCode);
        Assert.Contains("cannot be trusted: the scan of its artifact found it unsafe to load", promote.Status.Detail);

        ModelVersion v3 = await sidecar.Admin.RegisterVersionAsync(Register("v3", safe, VersionState.Candidate));
        Assert.Equal("", v3.UnsafeArtifact);
        Assert.Equal(VersionState.KnownGood, (await sidecar.Admin.PromoteVersionAsync(
            new PromoteVersionRequest { Model = Sidecar.Model, Version = "v3", Actor = "alice", Reason = "reviewed" })).State);

        // Kept across a restart.
        await sidecar.DisposeAsync();
        await using Sidecar restarted = await Sidecar.StartAsync(directory.File("monitor.db"));
        Assert.StartsWith("Unsafe: ", (await restarted.Admin.GetVersionAsync(new GetVersionRequest { Model = Sidecar.Model, Version = "v2" })).UnsafeArtifact);
    }

    [Fact]
    public async Task An_artifact_the_scan_does_not_inspect_is_said_so_in_the_audit_and_the_log_and_a_savedmodel_is_never_trusted()
    {
        using var directory = new TempDirectory();
        await using Sidecar sidecar = await Sidecar.StartAsync(await FraudModel.DatabaseAsync(directory.File("monitor.db")));
        string onnx = directory.File("model-v2.onnx");
        File.Copy(Fixture("ok_identity.onnx"), onnx);
        string savedModel = directory.File("saved_model.pb");
        File.Copy(Fixture(Path.Combine("tf_savedmodel", "saved_model.pb")), savedModel);

        // ONNX: no pickle, its graph not inspected; registered and trustable, and the audit says the scan did not look inside.
        ModelVersion v2 = await sidecar.Admin.RegisterVersionAsync(Register("v2", onnx, VersionState.Candidate));
        Assert.Equal("", v2.UnsafeArtifact);
        var audit = ((Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Models.IModelStore>(sidecar.App.Services))
            .LoadAudit(Sidecar.Model)).Where(e => e.Version == "v2").ToList();
        var entry = Assert.Single(audit);
        Assert.Equal(("sidecar", "scan-not-inspected"), (entry.Actor, entry.Action));
        Assert.Contains("NotInspected", entry.Reason);

        // A SavedModel's graph is a program the scan does not read: blocks trust like an unsafe pickle.
        ModelVersion v3 = await sidecar.Admin.RegisterVersionAsync(Register("v3", savedModel, VersionState.Candidate));
        Assert.StartsWith("Unsafe: ", v3.UnsafeArtifact);
        RpcException promote = await Assert.ThrowsAsync<RpcException>(async () => await sidecar.Admin.PromoteVersionAsync(
            new PromoteVersionRequest { Model = Sidecar.Model, Version = "v3", Actor = "alice", Reason = "looks fine" }));
        Assert.Equal(StatusCode.FailedPrecondition, promote.StatusCode);
    }

    private static RegisterVersionRequest Register(string version, string path, VersionState state) => new()
    {
        Model = Sidecar.Model,
        Version = version,
        ArtifactSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))),
        ArtifactPath = path,
        InitialState = state,
    };
}
