using System.Diagnostics;
using System.Text.Json.Nodes;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

public sealed class AppHostTests
{
    /// <summary>aspire-manifest.json must be what the AppHost publishes now: regenerate it when this fails.</summary>
    [Fact]
    public async Task Committed_manifest_matches_what_the_apphost_publishes()
    {
        var root = TestEnvironment.RepoRoot;
        // Written next to the committed one: project paths in a manifest are relative to its folder.
        var fresh = Path.Combine(root, $".manifest-check-{Guid.NewGuid():N}.json");
        try
        {
            var start = new ProcessStartInfo("dotnet",
                ["run", "--project", "src/Embedding.AppHost", "--no-build", "-c", TestEnvironment.Configuration, "--no-launch-profile",
                 "--", "--publisher", "manifest", "--output-path", fresh])
            { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(process.ExitCode == 0, $"publish failed: {await output}{await errors}");

            var expected = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(root, "aspire-manifest.json")));
            var actual = JsonNode.Parse(await File.ReadAllTextAsync(fresh));
            Assert.True(JsonNode.DeepEquals(expected, actual),
                "aspire-manifest.json is stale. Regenerate it: dotnet run --project src/Embedding.AppHost -- --publisher manifest --output-path ../../aspire-manifest.json");
        }
        finally
        {
            File.Delete(fresh);
        }
    }
}
