using System.Runtime.CompilerServices;

namespace Monitor.Functional.Tests;

/// <summary>
/// Fixes the detectors' hash key for this test process before anything hashes, as `evaluate` does: the evaluation tests
/// then give the findings the command gives for the same seed, whichever test ran first (the key is per process, and an
/// in-process sidecar adopts it for its new database).
/// </summary>
internal static class HashKey
{
    [ModuleInitializer]
    internal static void Fix()
    {
        if (!Monitor.Core.Detectors.KeyHash.Adopt(Monitor.Tools.Scenarios.EvaluateCommand.HashSecret))
        {
            throw new InvalidOperationException("the detectors' hash key was in use before the test assembly loaded");
        }
    }
}
