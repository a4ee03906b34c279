using System.ClientModel;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using OpenAI;
using OpenAI.Batch;
using OpenAI.Embeddings;
using OpenAI.Files;

namespace Embedding.Tests;

/// <summary>The official OpenAI .NET SDK works unchanged (it always asks for base64).</summary>
public sealed class OpenAISdkTests(StackFixture fixture) : IClassFixture<StackFixture>
{
    [Fact]
    public async Task Official_sdk_gets_the_reference_vectors_and_dimensions()
    {
        var reference = ReferenceData.Load();
        var client = new EmbeddingClient(fixture.Stack.Model, new ApiKeyCredential("unused"), Options());

        var texts = reference.Embeddings.Take(4).Select(e => e.Text).ToList();
        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(texts);
        OpenAIEmbedding shortened = await client.GenerateEmbeddingAsync(texts[0], new EmbeddingGenerationOptions { Dimensions = 64 });

        Assert.Equal(texts.Count, result.Count);
        for (var i = 0; i < texts.Count; i++)
            Assert.True(VectorMath.Cosine(result[i].ToFloats().Span, reference.Embeddings[i].Embedding) >= 0.9999);
        Assert.Equal(64, shortened.ToFloats().Length);
        Assert.Equal(reference.Embeddings.Take(4).Sum(e => e.Ids.Length), result.Usage.InputTokenCount);
    }

    [Fact]
    public async Task Official_sdk_batch_helpers_upload_run_and_download_a_job()
    {
        var reference = ReferenceData.Load();
        var openai = new OpenAIClient(new ApiKeyCredential("unused"), Options());
        var files = openai.GetOpenAIFileClient();
#pragma warning disable OPENAI001 // the SDK marks its Batch client experimental
        var batches = openai.GetBatchClient();
        var jsonl = string.Join("\n", reference.Embeddings.Take(5).Select((e, i) => BatchTests.Line($"sdk-{i}", fixture.Stack.Model, e.Text)));

        OpenAIFile input = await files.UploadFileAsync(BinaryData.FromString(jsonl), "input.jsonl", FileUploadPurpose.Batch);
        var operation = await batches.CreateBatchAsync(BinaryContent.Create(BinaryData.FromObjectAsJson(
            new { input_file_id = input.Id, endpoint = "/v1/embeddings", completion_window = "24h" })), waitUntilCompleted: true);
        using var batch = JsonDocument.Parse((await operation.GetBatchAsync(options: null)).GetRawResponse().Content);
#pragma warning restore OPENAI001

        Assert.Equal("completed", batch.RootElement.GetProperty("status").GetString());
        var output = (await files.DownloadFileAsync(batch.RootElement.GetProperty("output_file_id").GetString()!)).Value.ToString()
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(5, output.Count);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal($"sdk-{i}", output[i].GetProperty("custom_id").GetString());
            var vector = output[i].GetProperty("response").GetProperty("body").GetProperty("data")[0].GetProperty("embedding")
                .EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.True(VectorMath.Cosine(vector, reference.Embeddings[i].Embedding) >= 0.9999);
        }
    }

    private OpenAIClientOptions Options() => new()
    {
        Endpoint = new Uri(fixture.Stack.Client.BaseAddress!, "/v1"),
        Transport = new System.ClientModel.Primitives.HttpClientPipelineTransport(fixture.Stack.Client),
    };
}
