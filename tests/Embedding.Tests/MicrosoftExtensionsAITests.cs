using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.AI;
using OpenAI;
using GenerationOptions = Microsoft.Extensions.AI.EmbeddingGenerationOptions;

namespace Embedding.Tests;

/// <summary>
/// The service as .NET apps consume it: Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>
/// over the official OpenAI client (<c>AsIEmbeddingGenerator</c>), pointed at the API and otherwise unchanged.
/// </summary>
public sealed class MicrosoftExtensionsAITests(StackFixture fixture) : IClassFixture<StackFixture>
{
    [Fact]
    public async Task An_IEmbeddingGenerator_over_the_OpenAI_client_gets_the_API_s_vectors_dimensions_and_usage()
    {
        var reference = ReferenceData.Load();
        var texts = reference.Embeddings.Take(3).Select(e => e.Text).ToArray();
        var tokens = reference.Embeddings.Take(3).Sum(e => e.Ids.Length);
        var openai = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions
        {
            Endpoint = new Uri(fixture.Stack.Client.BaseAddress!, "/v1"),
            Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(fixture.Stack.Client),
        });
        IEmbeddingGenerator<string, Embedding<float>> generator = openai.GetEmbeddingClient(fixture.Stack.Model).AsIEmbeddingGenerator();

        var full = await generator.GenerateAsync(texts);
        var shortened = await generator.GenerateAsync(texts, new GenerationOptions { Dimensions = 64 });
        var one = await generator.GenerateVectorAsync(texts[0], new GenerationOptions { Dimensions = 64 });

        // The same vectors as the API's own JSON answer for the same request (the client asks for base64: bit for bit).
        var direct = await DirectAsync(texts, dimensions: null);
        var direct64 = await DirectAsync(texts, dimensions: 64);
        Assert.Equal(texts.Length, full.Count);
        Assert.Equal(texts.Length, shortened.Count);
        for (var i = 0; i < texts.Length; i++)
        {
            Assert.Equal(reference.HiddenSize, full[i].Vector.Length);
            Assert.Equal(direct[i], full[i].Vector.ToArray());
            Assert.True(VectorMath.Cosine(full[i].Vector.Span, reference.Embeddings[i].Embedding) >= 0.9999);
            Assert.Equal(64, shortened[i].Vector.Length);
            Assert.Equal(direct64[i], shortened[i].Vector.ToArray());
            Assert.Equal(1.0, Math.Sqrt(shortened[i].Vector.ToArray().Sum(x => (double)x * x)), 4);  // cut, then renormalised
            Assert.Equal(fixture.Stack.Model, full[i].ModelId);
        }
        Assert.Equal(direct64[0], one.ToArray());

        // Usage as the API reports it: the reference tokenizer's counts, the same whatever the dimensions.
        Assert.Equal(tokens, full.Usage?.InputTokenCount);
        Assert.Equal(tokens, full.Usage?.TotalTokenCount);
        Assert.Equal(tokens, shortened.Usage?.InputTokenCount);
        Assert.Equal(fixture.Stack.Model, generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
    }

    private async Task<float[][]> DirectAsync(string[] texts, int? dimensions)
    {
        var response = await fixture.Stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = fixture.Stack.Model, input = texts, dimensions });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("data").EnumerateArray()
            .Select(d => d.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
    }
}
