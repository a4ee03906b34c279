using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// The built Embedding.Api as a real OS process on a free 127.0.0.1 port: a replica a test can kill by its PID
/// (SIGKILL: no shutdown, no checkpoint, no lease freed), as a node failure or an OOM kill would.
/// </summary>
public sealed partial class ApiProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    public int Port { get; }
    public int Pid => _process.Id;
    public HttpClient Client { get; }
    public bool HasExited => _process.HasExited;

    /// <summary>What the process wrote so far (stdout and stderr), for a failure's message.</summary>
    public string Output => string.Join('\n', _output);

    private ApiProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 2000) _output.TryDequeue(out _);
    }

    /// <summary>Starts the API with <paramref name="settings"/> (configuration keys, as for <see cref="EmbeddingStack"/>), and returns once it answers.</summary>
    public static async Task<ApiProcess> StartAsync(IReadOnlyDictionary<string, string?> settings)
    {
        var dll = Path.Combine(TestEnvironment.RepoRoot, "src", "Embedding.Api", "bin", TestEnvironment.Configuration, "net10.0", "Embedding.Api.dll");
        var port = TestEnvironment.ClosedPort();
        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var (key, value) in settings) start.Environment[key.Replace(":", "__")] = value;
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        var api = new ApiProcess(Process.Start(start)!, port);
        try
        {
            await TestEnvironment.WaitUntilAsync(async () =>
            {
                if (api.HasExited) throw new InvalidOperationException($"The API exited at start:\n{api.Output}");
                try { return (await api.Client.GetAsync("/alive")).IsSuccessStatusCode; }
                catch (HttpRequestException) { return false; }
            }, TimeSpan.FromSeconds(90), 200);
        }
        catch
        {
            await api.DisposeAsync();
            throw;
        }
        return api;
    }

    /// <summary>The PID inside a batch runner's lease name (machine/pid/start).</summary>
    public static int PidOfRunner(string runner) => int.Parse(RunnerPid().Match(runner).Groups[1].Value);

    [GeneratedRegex("^[^/]*/([0-9]+)/")]
    private static partial Regex RunnerPid();

    /// <summary>kill -9, and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
