using System.Runtime.CompilerServices;

namespace Embedding.Tests.Infrastructure;

internal static class TestAssemblySetup
{
    /// <summary>
    /// Test classes run in parallel and each starts real hosts (WebApplicationFactory starts them synchronously).
    /// On a 2-core CI machine the thread pool would otherwise add threads one at a time and starve everything.
    /// </summary>
    [ModuleInitializer]
    internal static void RaiseThreadPoolMinimum()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
    }
}
