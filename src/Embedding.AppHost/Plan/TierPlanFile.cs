using System.Text.Json;
using System.Text.Json.Nodes;
using Embedding.Scaling;
using Microsoft.Extensions.Configuration;

namespace Embedding.AppHost;

/// <summary>
/// The GPU tiers' plans as infra/ deploys them on Azure Container Apps, one GPU container per tier (the scale unit,
/// engine + worker, deploy/gpu-worker; or the CUDA worker, deploy/cuda-worker): what infra/resources.bicep reads with
/// loadJsonContent instead of reading the AppHost's settings a second time. Written by <c>dotnet run --project src/Embedding.AppHost -- --publisher tier-plan --output-path ../../infra/tier-plan.json</c>
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
            // The card's bf16 decides the engine's dtype, and so the worker's and the listing's: one plan for each, chosen
            // by the tier's workload profile at deployment.
            var plans = new[] { true, false }.Select(bf16 => TierPlan.For(tier, settings, onGpu: true, PlanMode.Publish, appHostDirectory, bf16)).ToList();
            var plan = plans[0];
            var budget = plan.Engine?.StartupBudgetSeconds ?? plan.Scaling.StartupSeconds;
            var period = Math.Min(AcaMaxPeriodSeconds, (budget + AcaMaxFailures - 1) / AcaMaxFailures);
            tiers[tier.Name] = new JsonObject
            {
                ["app"] = $"worker-{tier.ResourceName}",
                ["queue"] = plan.Queue,
                // The tier's own card where Container Apps has it; null: the deployment's default profile.
                ["acaWorkloadProfile"] = tier.GpuType?.AcaWorkloadProfile,
                // The models share: the engine's weights cache, or where a CUDA worker reads (or downloads) its export.
                ["modelMount"] = plan.Engine is null ? plan.Worker.Volumes.Single().Target : SglangEngine.CacheMount,
                ["bf16"] = Unit(plans[0]),
                ["noBf16"] = Unit(plans[1]),
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

    /// <summary>
    /// What one GPU container runs: the worker's options, the tier's model-list entry, and for an SGLang tier the engine's
    /// command line (the scale unit's entrypoint runs `python3 -m sglang.launch_server $ENGINE_ARGS`: the AppHost's own arguments).
    /// </summary>
    private static JsonObject Unit(TierPlan plan)
    {
        var unit = new JsonObject { ["model"] = Pairs(plan.ListingSettings("")), ["worker"] = Pairs(plan.Worker.Settings) };
        if (plan.Engine is { } engine) unit["engineArgs"] = string.Join(' ', engine.Args);
        return unit;
    }

    /// <summary>Configuration keys as Container Apps' name/value pairs, in environment-variable form.</summary>
    private static JsonArray Pairs(IEnumerable<KeyValuePair<string, string>> settings) =>
        new(settings.Select(kv => (JsonNode)new JsonObject { ["name"] = ConfigurationKeys.EnvironmentName(kv.Key), ["value"] = kv.Value }).ToArray());
}
