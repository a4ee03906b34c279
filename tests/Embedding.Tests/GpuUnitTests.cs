using System.Diagnostics;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>deploy/gpu-worker/entrypoint.sh (Linux containers), with stand-ins for SGLang and the worker that log what happens to them.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class GpuUnitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gpu-unit-").FullName;
    private readonly List<Process> _units = [];
    private string Log => Path.Combine(_dir, "log");

    /// <summary>A unit a failed test left running is stopped with its stand-ins, so no process outlives the test.</summary>
    public void Dispose()
    {
        foreach (var unit in _units)
        {
            if (!unit.HasExited) unit.Kill(entireProcessTree: true);
            unit.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A stand-in process: logs its start, and on SIGTERM takes <paramref name="stopSeconds"/> to stop (or exits by itself).</summary>
    private string Fake(string name, double stopSeconds, double? exitAfterSeconds = null, int exitCode = 0)
    {
        var path = Path.Combine(_dir, name + ".sh");
        var body = exitAfterSeconds is { } after
            ? $"sleep {after}; echo {name}-exited >> {Log}; exit {exitCode}"
            : "while true; do sleep 0.05; done";
        File.WriteAllText(path, $"#!/usr/bin/env bash\ntrap 'sleep {stopSeconds}; echo {name}-stopped >> {Log}; exit 0' TERM\necho {name}-started >> {Log}\n{body}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private Process Start(string engine, string worker)
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(TestEnvironment.RepoRoot, "deploy", "gpu-worker", "entrypoint.sh")])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["ENGINE_CMD"] = engine;
        start.Environment["WORKER_CMD"] = worker;
        start.Environment["ENGINE_MODEL"] = "Qwen/Qwen3-Embedding-4B";
        var unit = Process.Start(start)!;
        _units.Add(unit);
        return unit;
    }

    /// <summary>Waits until the stand-ins have logged <paramref name="count"/> lines; fails, showing the log, if they do not in time.</summary>
    private async Task WaitForLinesAsync(int count)
    {
        string[] Lines() => File.Exists(Log) ? File.ReadAllLines(Log) : [];
        try
        {
            await TestEnvironment.WaitUntilAsync(() => Lines().Length >= count, TimeSpan.FromSeconds(20), pollMilliseconds: 25);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Expected {count} lines from the stand-ins within 20 s; the log has: [{string.Join(", ", Lines())}]");
        }
    }

    [Fact]
    public async Task Sigterm_drains_the_worker_before_the_engine_stops()
    {
        // If both were stopped at once, the quick engine would log first; the worker's drain takes longer.
        var unit = Start(Fake("engine", stopSeconds: 0.05), Fake("worker", stopSeconds: 0.8));
        await WaitForLinesAsync(2);

        Process.Start("kill", ["-TERM", unit.Id.ToString()])!.WaitForExit();
        await unit.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));

        var lines = await File.ReadAllLinesAsync(Log);
        Assert.Equal(["engine-started", "worker-started"], lines[..2].Order());
        Assert.Equal(["worker-stopped", "engine-stopped"], lines[2..]);
        Assert.Equal(0, unit.ExitCode);
    }

    [Fact]
    public async Task An_engine_that_dies_takes_the_unit_down_with_its_status()
    {
        var unit = Start(Fake("engine", stopSeconds: 0, exitAfterSeconds: 0.5, exitCode: 3), Fake("worker", stopSeconds: 0.1));

        await unit.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));

        var lines = await File.ReadAllLinesAsync(Log);
        Assert.Contains("engine-exited", lines);
        Assert.Contains("worker-stopped", lines);  // not left running without its engine
        Assert.Equal(3, unit.ExitCode);
    }
}
