using System.Diagnostics;

namespace Embedding.Worker.Backends;

/// <summary>
/// A wait of a given length, for the backends that stand in for a device (FAKE, SIMULATED). Task.Delay alone rounds up to
/// the timer's ~1 ms ticks and its wake-up (Task.Delay(2) takes 2.2-4.3 ms on a 2-core VM), which would make a "fixed"
/// cost differ by process. All but the last 3 ms are awaited; the rest is slept on the thread in whole milliseconds
/// (Thread.Sleep(2) takes ~2.1 ms), as a blocking device call would hold it, and what is left of the last millisecond is spun.
/// </summary>
internal static class PreciseDelay
{
    private static readonly TimeSpan Tail = TimeSpan.FromMilliseconds(3);

    public static async Task WaitAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        if (delay > Tail) await Task.Delay(delay - Tail, cancellationToken);
        var left = delay - Stopwatch.GetElapsedTime(started);
        if (left.TotalMilliseconds >= 1) Thread.Sleep((int)left.TotalMilliseconds);
        while (Stopwatch.GetElapsedTime(started) < delay) Thread.SpinWait(20);
    }
}
