using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>
/// infra/*.bicep (what `azd up` provisions) compiled with the real Bicep CLI (NuGet Azure.Bicep.CommandLine.linux-x64):
/// a serverless GPU workload profile, GPU tiers on it with a KEDA rabbitmq rule on their queue, and min replicas 0,
/// all taken from the AppHost's own configuration.
/// </summary>
public sealed class AzureContainerAppsTests
{
    [Fact]
    public async Task Bicep_compiles_to_a_gpu_environment_whose_workers_scale_from_their_queue_to_zero()
    {
        var arm = await CompileAsync("infra/main.bicep");

        var gpuProfile = arm["parameters"]!["gpuProfileType"]!;
        // The default holds the 4B and 8B tiers (16-bit weights); a T4 would need fp32 weights that do not fit in its 16 GB.
        Assert.Equal("Consumption-GPU-NC24-A100", gpuProfile["defaultValue"]!.GetValue<string>());
        Assert.Contains("Consumption-GPU-NC8as-T4", gpuProfile["allowedValues"]!.AsArray().Select(v => v!.GetValue<string>()));

        var module = Resources(arm).Single(r => Type(r) == "Microsoft.Resources/deployments");
        Assert.Equal("[parameters('gpuProfileType')]", module["properties"]!["parameters"]!["gpuProfileType"]!["value"]!.GetValue<string>());
        var template = module["properties"]!["template"]!;

        // Every GPU profile a tier uses exists when the environment is created: the default, and each tier's own `Gpu`
        // where Container Apps offers that card (a map over the tiers, resolved at deployment).
        var environment = Resources(template).Single(r => Type(r) == "Microsoft.App/managedEnvironments");
        var profiles = environment["properties"]!["workloadProfiles"]!.GetValue<string>();
        Assert.Contains("'Consumption'", profiles);
        Assert.Contains("variables('gpuProfiles')", profiles);
        Assert.Contains("parameters('gpuProfileType')", template["variables"]!["gpuProfiles"]!.GetValue<string>());
        Assert.Contains("variables('tierProfiles')", template["variables"]!["gpuProfiles"]!.GetValue<string>());
        Assert.Contains("Consumption-GPU-NC8as-T4", template.ToJsonString());  // a tier with Gpu T4 gets the T4 profile

        var worker = Resources(template).Single(r => Type(r) == "Microsoft.App/containerApps" && r["copy"] is not null);
        var properties = worker["properties"]!;
        // Each tier's profile, by its GPU type: T4 profiles run the engine in float32 (no bf16).
        Assert.Contains("variables('tierProfiles')[copyIndex()]", properties["workloadProfileName"]!.GetValue<string>());
        Assert.Contains("engineDtype", properties["template"]!["containers"]![0]!["env"]!.ToJsonString());
        var app = properties["template"]!;
        Assert.Single(app["containers"]!.AsArray());  // one GPU container per app, and it is the first
        Assert.True(app["terminationGracePeriodSeconds"]!.GetValue<int>() >= 60, "scale-in must leave time to drain");
        Assert.Equal("AzureFile", app["volumes"]![0]!["storageType"]!.GetValue<string>());  // weights from storage, not the image

        var scale = app["scale"]!;
        foreach (var (property, setting) in new[] { ("minReplicas", "MinReplicas"), ("maxReplicas", "MaxReplicas"), ("pollingInterval", "PollingIntervalSeconds"), ("cooldownPeriod", "CooldownSeconds") })
            Assert.EndsWith($".{setting}]", scale[property]!.GetValue<string>());
        // Rules: the queue-depth rule, and for tiers with a target publish rate a second one: concat(...) resolved at deployment.
        var rules = scale["rules"]!.GetValue<string>();
        foreach (var expected in new[] { "'rabbitmq'", "'http'", "'QueueLength'", "'MessageRate'", "TargetMessageRate", "embed-", "'host'" })
            Assert.Contains(expected, rules);

        // Batch jobs: the API keeps them on a file share (rollback journal, not WAL) and runs as one replica, so every
        // request sees the same jobs and one runner works them.
        var api = Resources(template).Single(r => Type(r) == "Microsoft.App/containerApps" && r["name"]!.GetValue<string>() == "api")["properties"]!["template"]!;
        Assert.Equal(1, api["scale"]!["maxReplicas"]!.GetValue<int>());
        Assert.Equal("AzureFile", api["volumes"]![0]!["storageType"]!.GetValue<string>());
        var apiContainer = api["containers"]![0]!;
        Assert.Equal("/data/batches", apiContainer["volumeMounts"]![0]!["mountPath"]!.GetValue<string>());
        // The environment list is a concat(...) expression (shared settings plus one pair per tier), resolved at deployment.
        var env = apiContainer["env"]!.GetValue<string>();
        Assert.Contains("createObject('name', 'Api__Batches__StoragePath', 'value', '/data/batches')", env);
        Assert.Contains("createObject('name', 'Api__Batches__JournalMode', 'value', 'DELETE')", env);

        // The values behind those expressions are the AppHost's configuration, inlined at compile time: the 4B tier scales to zero.
        var settings = template["variables"]!.AsObject().Select(v => v.Value).OfType<JsonObject>().Single(v => v.ContainsKey("Embedding"))["Embedding"]!;
        var shared = settings["Scaling"]!.AsObject();
        var tier = settings["Tiers"]!.AsArray().Single(t => t!["Name"]!.GetValue<string>() == "qwen3-embedding-4b")!;
        int Effective(string name) => (tier["Scaling"]?[name] ?? shared[name])!.GetValue<int>();
        Assert.Equal(0, Effective("MinReplicas"));
        Assert.True(Effective("MaxReplicas") >= 1);
        Assert.Equal(300, Effective("CooldownSeconds"));
    }

    [Fact]
    public void Azd_project_points_at_the_infra_and_the_gpu_scale_unit()
    {
        var azure = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "azure.yaml"));
        Assert.Contains("path: infra", azure);
        Assert.Contains("path: ./deploy/gpu-worker/Dockerfile", azure);
        Assert.Contains("worker-qwen3-embedding-4b:", azure);
        var parameters = JsonNode.Parse(File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "infra", "main.parameters.json")))!;
        Assert.NotNull(parameters["parameters"]!["gpuProfileType"]);
    }

    private static async Task<JsonNode> CompileAsync(string file)
    {
        var package = typeof(AzureContainerAppsTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepPackage").Value!;
        var bicep = Path.Combine(package, "tools", "bicep");
        Assert.True(File.Exists(bicep), $"Bicep CLI not found at {bicep}");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(bicep, File.GetUnixFileMode(bicep) | UnixFileMode.UserExecute);
        var start = new ProcessStartInfo(bicep, ["build", file, "--stdout"])
        { WorkingDirectory = TestEnvironment.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, "bicep build failed:\n" + errors);
        Assert.True(errors.Trim().Length == 0, "bicep build warned:\n" + errors);
        return JsonNode.Parse(await output)!;
    }

    private static IEnumerable<JsonNode> Resources(JsonNode template) => template["resources"] switch
    {
        JsonArray array => array.Select(r => r!),
        JsonObject map => map.Select(kv => kv.Value!),  // language version 2.0 keys resources by symbolic name
        _ => [],
    };

    private static string Type(JsonNode resource) => resource["type"]!.GetValue<string>();
}
