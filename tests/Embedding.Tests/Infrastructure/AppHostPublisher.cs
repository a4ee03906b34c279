using System.Diagnostics;

namespace Embedding.Tests.Infrastructure;

/// <summary>Runs the built AppHost in publish mode, as the README's publish commands do.</summary>
public static class AppHostPublisher
{
    public static async Task PublishAsync(string publisher, string outputPath, params string[] settings)
    {
        var start = new ProcessStartInfo("dotnet",
            ["run", "--project", "src/Embedding.AppHost", "--no-build", "-c", TestEnvironment.Configuration, "--no-launch-profile",
             "--", "--publisher", publisher, "--output-path", outputPath, .. settings])
        { WorkingDirectory = TestEnvironment.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        var (code, output) = await RunAsync(start, TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"publish ({publisher}) failed: {output}");
    }

    /// <summary>Runs a process to its end; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await output + await errors);
    }
}
