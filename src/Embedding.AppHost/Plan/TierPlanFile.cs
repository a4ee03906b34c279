using System.Text.Json;
using System.Text.Json.Nodes;
using Embedding.Scaling;
using Microsoft.Extensions.Configuration;

namespace Embedding.AppHost;

/// <summary>
/// The GPU tiers' plans as infra/ deploys them on Azure Container Apps, one scale unit (engine + worker, deploy/gpu-worker)
/// per tier: what infra/resources.bicep reads with loadJsonContent instead of reading the AppHost's settings a second
/// time. Written by <c>dotnet run --project src/Embedding.AppHost -- --publisher tier-plan --output-path ../../infra/tier-plan.json</c>
/// and checked against the AppHost by a test, like aspire-manifest.json.
/// </summary>
public static class TierPlanFile
{
    public const string Publisher = "tier-plan";

    /// <summary>Azure Container Apps' limits on a startup probe: at most 10 failures, at most 240 s apart.</summary>
    private const int AcaMaxFailures = 10, AcaMaxPeriodSeconds = 240;

    public static JsonObject Build(EmbeddingSettings settings, string appHostDirectory)
    {
        var tiers = new JsonObject();
        foreach (var tier in settings.Tiers.Where(t => t.IsGpuTier))
        {
            var plan = TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, appHostDirectory);
            var engine = plan.Engine!;
            var period = Math.Min(AcaMaxPeriodSeconds, (engine.StartupBudgetSeconds + AcaMaxFailures - 1) / AcaMaxFailures);
            tiers[tier.Name] = new JsonObject
            {
                ["app"] = $"worker-{tier.ResourceName}",
                ["queue"] = plan.Queue,
                // The tier's own card where Container Apps has it; null: the deployment's default profile.
                ["acaWorkloadProfile"] = tier.GpuType?.AcaWorkloadProfile,
                ["model"] = Pairs(plan.ListingSettings("")),
                ["worker"] = Pairs(plan.Worker.Settings),
                // The scale unit's entrypoint runs `python3 -m sglang.launch_server $ENGINE_ARGS`: the AppHost's own arguments.
                ["engineArgs"] = new JsonObject
                {
                    ["bf16"] = string.Join(' ', SglangEngine.Arguments(tier, settings.Gpu, bf16: true)),
                    ["noBf16"] = string.Join(' ', SglangEngine.Arguments(tier, settings.Gpu, bf16: false)),
                },
                ["startupProbe"] = new JsonObject
                {
                    ["periodSeconds"] = period, ["failureThreshold"] = AcaMaxFailures, ["timeoutSeconds"] = SglangEngine.ProbeTimeoutSeconds,
                },
                ["scaling"] = JsonSerializer.SerializeToNode(plan.Scaling),
            };
        }
        var profiles = new JsonObject();
        foreach (var card in GpuCards.All.Where(c => c.AcaWorkloadProfile is not null).DistinctBy(c => c.AcaWorkloadProfile))
            profiles[card.AcaWorkloadProfile!] = new JsonObject { ["bf16"] = card.Bf16 };
        return new JsonObject
        {
            ["engineImage"] = settings.Gpu.ImageReference,
            ["probeTimeoutSeconds"] = SglangEngine.ProbeTimeoutSeconds,
            ["acaProfiles"] = profiles,
            ["tiers"] = tiers,
        };
    }

    /// <summary>Writes the file where `--publisher tier-plan --output-path FILE` asks; returns whether it was asked.</summary>
    public static async Task<bool> WriteIfAskedAsync(IConfiguration configuration, EmbeddingSettings settings, string appHostDirectory)
    {
        if (!string.Equals(configuration["Publishing:Publisher"], Publisher, StringComparison.OrdinalIgnoreCase)) return false;
        var path = Path.GetFullPath(configuration["Pipeline:OutputPath"] ?? "tier-plan.json");
        var json = Build(settings, appHostDirectory).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        await File.WriteAllTextAsync(path, json + "\n");
        return true;
    }

    /// <summary>Configuration keys as Container Apps' name/value pairs, in environment-variable form.</summary>
    private static JsonArray Pairs(IEnumerable<KeyValuePair<string, string>> settings) =>
        new(settings.Select(kv => (JsonNode)new JsonObject { ["name"] = ConfigurationKeys.EnvironmentName(kv.Key), ["value"] = kv.Value }).ToArray());
}
