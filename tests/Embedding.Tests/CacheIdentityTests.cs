using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Api.Services;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests;

/// <summary>Vectors say what made them: the cache answers a tier's lookups only with vectors of the tier's numerics.</summary>
public sealed class CacheIdentityTests
{
    private static float[] Vector(JsonElement response) =>
        response.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    private static async Task<float[]> EmbedAsync(EmbeddingStack stack, string text)
    {
        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input = text });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Vector(await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    /// <summary>
    /// A vector cached under identity A (an 8-bit standby's) is never the answer to a lookup under identity B (the tier's
    /// bf16 engine): the worker computes the text instead. A vector cached under B is.
    /// </summary>
    [Fact]
    public async Task A_vector_made_under_one_identity_never_answers_a_lookup_under_another()
    {
        const string tierNumerics = "engine:Qwen/Qwen3-Embedding-4B:bfloat16";
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, api: new() { ["Api:Models:0:Numerics"] = tierNumerics });
        var cache = stack.ApiServices.GetRequiredService<EmbeddingCache>();
        var standbys = new float[stack.Dimensions];
        standbys[0] = 1;
        var engines = new float[stack.Dimensions];
        engines[1] = 1;
        cache.Store([EmbeddingCache.Key(stack.Model, "onnx:qwen3-embedding-4b/model_quantized.onnx", "made by the standby")], [new(standbys, 3)]);
        cache.Store([EmbeddingCache.Key(stack.Model, tierNumerics, "made by the engine")], [new(engines, 3)]);

        Assert.Equal(FakeBackend.VectorFor("made by the standby", stack.Dimensions), await EmbedAsync(stack, "made by the standby"));
        Assert.Equal(engines, await EmbedAsync(stack, "made by the engine"));
    }

    /// <summary>Where the tier names no numerics, the API takes its workers' (here the FAKE backend's) and caches under it.</summary>
    [Fact]
    public async Task Without_configured_numerics_the_api_caches_under_its_workers_identity_and_answers_from_it()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, requestTimeoutSeconds: 3);
        var first = await EmbedAsync(stack, "learned once");

        await stack.StopWorkersAsync();
        var again = await EmbedAsync(stack, "learned once");

        Assert.Equal(first, again);
        var found = new CachedEmbedding?[1];
        await stack.ApiServices.GetRequiredService<EmbeddingCache>().LookupAsync(
            [EmbeddingCache.Key(stack.Model, BackendNumerics.Fake, "learned once")], found, CancellationToken.None);
        Assert.NotNull(found[0]);
    }

    /// <summary>/v1/models lists a tier's usable input length where it is stated (the tier plan states it for SGLang tiers: TierTests).</summary>
    [Fact]
    public async Task The_api_lists_a_tiers_input_limit_where_stated()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", redis: null, workers: 0, api: new() { ["Api:Models:0:InputTokenLimit"] = "32767" });
        var listed = await stack.Client.GetFromJsonAsync<JsonElement>($"/v1/models/{stack.Model}");
        var plain = await stack.Client.GetFromJsonAsync<JsonElement>($"/v1/models/{stack.Model}-plain");

        Assert.Equal(32767, listed.GetProperty("max_input_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, plain.GetProperty("max_input_tokens").ValueKind);  // not stated for that tier
    }
}
