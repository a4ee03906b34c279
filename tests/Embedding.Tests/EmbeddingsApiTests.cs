using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>The OpenAI contract of POST /v1/embeddings, through the real queue, worker and ONNX model.</summary>
public sealed class EmbeddingsApiTests(StackFixture fixture) : IClassFixture<StackFixture>
{
    private static readonly ReferenceData Reference = ReferenceData.Load();
    private EmbeddingStack Stack => fixture.Stack;

    [Fact]
    public async Task Single_string_returns_the_reference_vector_with_real_token_usage()
    {
        var (text, ids, expected) = Reference.Embeddings[1];

        using var json = await PostOk(new { model = Stack.Model, input = text });

        var root = json.RootElement;
        Assert.Equal("list", root.GetProperty("object").GetString());
        Assert.Equal(Stack.Model, root.GetProperty("model").GetString());
        var item = Assert.Single(root.GetProperty("data").EnumerateArray());
        Assert.Equal("embedding", item.GetProperty("object").GetString());
        Assert.Equal(0, item.GetProperty("index").GetInt32());
        var vector = item.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(Reference.HiddenSize, vector.Length);
        Assert.True(VectorMath.Cosine(vector, expected) >= 0.9999);
        Assert.Equal(ids.Length, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(ids.Length, root.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Array_input_keeps_input_order_and_counts_every_input_in_usage()
    {
        var refs = Reference.Embeddings.Take(6).ToList();
        var inputs = refs.Select(r => r.Text).Append(refs[0].Text).ToArray();  // a duplicate too

        using var json = await PostOk(new { model = Stack.Model, input = inputs });

        var data = json.RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(inputs.Length, data.Count);
        for (var i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(i, data[i].GetProperty("index").GetInt32());
            var expected = refs[i % refs.Count].Embedding;
            var vector = data[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.True(VectorMath.Cosine(vector, expected) >= 0.9999, $"input {i}");
        }
        var tokens = refs.Sum(r => r.Ids.Length) + refs[0].Ids.Length;
        Assert.Equal(tokens, json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Base64_is_little_endian_float32_of_the_same_vector()
    {
        var text = Reference.Embeddings[3].Text;
        using var floats = await PostOk(new { model = Stack.Model, input = text });
        using var base64 = await PostOk(new { model = Stack.Model, input = text, encoding_format = "base64" });

        var expected = floats.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        var bytes = Convert.FromBase64String(base64.RootElement.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        Assert.Equal(expected, VectorMath.Unpack(bytes));
    }

    [Fact]
    public async Task Dimensions_is_the_renormalised_prefix_of_the_full_vector()
    {
        var text = "dimensions come from one cached vector " + Guid.NewGuid();
        using var full = await PostOk(new { model = Stack.Model, input = text });
        using var cut = await PostOk(new { model = Stack.Model, input = text, dimensions = 48 });

        var fullVector = full.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        var cutVector = cut.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(48, cutVector.Length);
        var expected = VectorMath.Truncate(fullVector, 48);
        for (var i = 0; i < 48; i++) Assert.Equal(expected[i], cutVector[i], 1e-6f);
    }

    [Fact]
    public async Task Query_input_type_applies_the_qwen3_instruction_and_documents_get_none()
    {
        // reference.json holds the vector of this exact instruction-applied text.
        var reference = Reference.Embeddings.Single(e => e.Text.StartsWith("Instruct: ", StringComparison.Ordinal));
        var query = reference.Text[(reference.Text.IndexOf("\nQuery:", StringComparison.Ordinal) + 7)..];

        using var asQuery = await PostOk(new { model = Stack.Model, input = query, input_type = "query" });
        using var asDocument = await PostOk(new { model = Stack.Model, input = query, input_type = "document" });
        using var custom = await PostOk(new { model = Stack.Model, input = query, instruction = "Given a web search query, retrieve relevant passages that answer the query" });

        float[] Vector(JsonDocument d) => d.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.True(VectorMath.Cosine(Vector(asQuery), reference.Embedding) >= 0.9999);
        Assert.True(VectorMath.Cosine(Vector(custom), reference.Embedding) >= 0.9999);
        Assert.True(VectorMath.Cosine(Vector(asDocument), reference.Embedding) < 0.999);
        Assert.Equal(reference.Ids.Length, asQuery.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Alias_names_the_same_model_and_is_echoed_back()
    {
        using var json = await PostOk(new { model = Stack.Model + "-alias", input = "alias" });
        Assert.Equal(Stack.Model + "-alias", json.RootElement.GetProperty("model").GetString());
    }

    [Fact]
    public async Task Too_long_input_is_400_naming_the_input_unless_truncate_is_asked()
    {
        var longText = string.Join(' ', Enumerable.Repeat("vector", 700));

        var rejected = await Stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = Stack.Model, input = new[] { "short", longText } });
        using var truncated = await PostOk(new { model = Stack.Model, input = new[] { "short", longText }, truncate = true });

        Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
        var error = (await rejected.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("input[1]", error.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("512", error.GetProperty("message").GetString());
        Assert.Equal(2, truncated.RootElement.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Models_lists_the_configured_models_in_openai_shape()
    {
        var list = await Stack.Client.GetFromJsonAsync<JsonElement>("/v1/models");
        var one = await Stack.Client.GetFromJsonAsync<JsonElement>($"/v1/models/{Stack.Model}");
        var missing = await Stack.Client.GetAsync("/v1/models/nope");

        Assert.Equal("list", list.GetProperty("object").GetString());
        var ids = list.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Contains(Stack.Model, ids);
        Assert.Equal("model", one.GetProperty("object").GetString());
        Assert.Equal(Reference.HiddenSize, one.GetProperty("dimensions").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Hundred_concurrent_requests_each_get_their_own_vectors()
    {
        var texts = Enumerable.Range(0, 100).Select(i => $"concurrent request {i} {Guid.NewGuid()}").ToArray();
        using var backend = new Worker.Backends.OnnxQwen3Backend(TestEnvironment.TinyModel, new Worker.OnnxBackendOptions());
        var expected = await backend.EmbedAsync(texts.Select(t => backend.Tokenize(t, false)).ToList(), CancellationToken.None);

        var responses = await Task.WhenAll(texts.Select(t => PostOk(new { model = Stack.Model, input = t })));

        for (var i = 0; i < texts.Length; i++)
        {
            var vector = responses[i].RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.True(VectorMath.Cosine(vector, expected[i]) >= 0.9999, $"request {i} got someone else's vector");
            responses[i].Dispose();
        }
    }

    private async Task<JsonDocument> PostOk(object body)
    {
        using var response = await Stack.Client.PostAsync("/v1/embeddings",
            new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text);
    }
}

/// <summary>One API + one ONNX worker shared by a test class.</summary>
public sealed class StackFixture : IAsyncLifetime
{
    public EmbeddingStack Stack { get; private set; } = null!;
    public Task InitializeAsync() { Stack = new EmbeddingStack(); return Task.CompletedTask; }
    public async Task DisposeAsync() => await Stack.DisposeAsync();
}
