using System.ClientModel;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using OpenAI;
using OpenAI.Embeddings;

namespace Embedding.Tests;

/// <summary>The official OpenAI .NET SDK works unchanged (it always asks for base64).</summary>
public sealed class OpenAISdkTests(StackFixture fixture) : IClassFixture<StackFixture>
{
    [Fact]
    public async Task Official_sdk_gets_the_reference_vectors_and_dimensions()
    {
        var reference = ReferenceData.Load();
        var client = new EmbeddingClient(fixture.Stack.Model, new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(fixture.Stack.Client.BaseAddress!, "/v1"), Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(fixture.Stack.Client) });

        var texts = reference.Embeddings.Take(4).Select(e => e.Text).ToList();
        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(texts);
        OpenAIEmbedding shortened = await client.GenerateEmbeddingAsync(texts[0], new EmbeddingGenerationOptions { Dimensions = 64 });

        Assert.Equal(texts.Count, result.Count);
        for (var i = 0; i < texts.Count; i++)
            Assert.True(VectorMath.Cosine(result[i].ToFloats().Span, reference.Embeddings[i].Embedding) >= 0.9999);
        Assert.Equal(64, shortened.ToFloats().Length);
        Assert.Equal(reference.Embeddings.Take(4).Sum(e => e.Ids.Length), result.Usage.InputTokenCount);
    }
}
