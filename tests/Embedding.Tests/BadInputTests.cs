using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Tests.Infrastructure;

namespace Embedding.Tests;

/// <summary>Every malformed request gets an OpenAI-shaped 4xx naming the problem; never a 500, never a worker's time.</summary>
public sealed class BadInputTests(StackFixture fixture) : IClassFixture<StackFixture>
{
    private const string M = "{MODEL}";

    public static TheoryData<string, string, int, string?> Cases() => new()
    {
        // name, body, expected status, expected param
        { "not json", "this is not json", 400, null },
        { "truncated json", "{\"model\": \"" + M + "\", \"input\": [\"a\"", 400, null },
        { "empty body", "", 400, null },
        { "array body", "[\"a\"]", 400, null },
        { "string body", "\"hello\"", 400, null },
        { "missing model", "{\"input\": \"a\"}", 400, "model" },
        { "null model", "{\"model\": null, \"input\": \"a\"}", 400, "model" },
        { "numeric model", "{\"model\": 5, \"input\": \"a\"}", 400, "model" },
        { "empty model", "{\"model\": \"\", \"input\": \"a\"}", 400, "model" },
        { "missing input", "{\"model\": \"" + M + "\"}", 400, "input" },
        { "null input", "{\"model\": \"" + M + "\", \"input\": null}", 400, "input" },
        { "empty string", "{\"model\": \"" + M + "\", \"input\": \"\"}", 400, "input" },
        { "empty array", "{\"model\": \"" + M + "\", \"input\": []}", 400, "input" },
        { "null item", "{\"model\": \"" + M + "\", \"input\": [\"a\", null]}", 400, "input[1]" },
        { "empty item", "{\"model\": \"" + M + "\", \"input\": [\"a\", \"\"]}", 400, "input[1]" },
        { "number item", "{\"model\": \"" + M + "\", \"input\": [\"a\", 3]}", 400, "input[1]" },
        { "object item", "{\"model\": \"" + M + "\", \"input\": [{\"text\": \"a\"}]}", 400, "input[0]" },
        { "nested string array", "{\"model\": \"" + M + "\", \"input\": [[\"a\"]]}", 400, "input[0]" },
        { "token ids", "{\"model\": \"" + M + "\", \"input\": [1, 2, 3]}", 400, "input" },
        { "token id arrays", "{\"model\": \"" + M + "\", \"input\": [[1, 2], [3]]}", 400, "input" },
        { "number input", "{\"model\": \"" + M + "\", \"input\": 42}", 400, "input" },
        { "boolean input", "{\"model\": \"" + M + "\", \"input\": true}", 400, "input" },
        { "object input", "{\"model\": \"" + M + "\", \"input\": {\"a\": 1}}", 400, "input" },
        { "too many inputs", "{\"model\": \"" + M + "\", \"input\": [" + string.Join(",", Enumerable.Repeat("\"a\"", 2049)) + "]}", 400, "input" },
        { "bad encoding_format", "{\"model\": \"" + M + "\", \"input\": \"a\", \"encoding_format\": \"int8\"}", 400, "encoding_format" },
        { "numeric encoding_format", "{\"model\": \"" + M + "\", \"input\": \"a\", \"encoding_format\": 1}", 400, "encoding_format" },
        { "dimensions too small", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 31}", 400, "dimensions" },
        { "dimensions zero", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 0}", 400, "dimensions" },
        { "dimensions negative", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": -5}", 400, "dimensions" },
        { "dimensions too large", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 4097}", 400, "dimensions" },
        { "dimensions fractional", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 64.5}", 400, "dimensions" },
        { "dimensions huge", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 1e300}", 400, "dimensions" },
        { "dimensions string", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": \"64\"}", 400, "dimensions" },
        { "dimensions on non-matryoshka", "{\"model\": \"" + M + "-plain\", \"input\": \"a\", \"dimensions\": 64}", 400, "dimensions" },
        { "user not a string", "{\"model\": \"" + M + "\", \"input\": \"a\", \"user\": 7}", 400, "user" },
        { "bad input_type", "{\"model\": \"" + M + "\", \"input\": \"a\", \"input_type\": \"passage\"}", 400, "input_type" },
        { "instruction on document", "{\"model\": \"" + M + "\", \"input\": \"a\", \"input_type\": \"document\", \"instruction\": \"x\"}", 400, "instruction" },
        { "empty instruction", "{\"model\": \"" + M + "\", \"input\": \"a\", \"instruction\": \"\"}", 400, "instruction" },
        { "truncate not boolean", "{\"model\": \"" + M + "\", \"input\": \"a\", \"truncate\": \"yes\"}", 400, "truncate" },
        { "deep json", "{\"model\": \"" + M + "\", \"input\": \"a\", \"x\": " + new string('[', 100) + new string(']', 100) + "}", 400, null },
        { "unknown model", "{\"model\": \"no-such-model\", \"input\": \"a\"}", 404, "model" },
        // Hostile shapes and values.
        { "empty object", "{}", 400, "model" },
        { "model array", "{\"model\": [\"" + M + "\"], \"input\": \"a\"}", 400, "model" },
        { "model object", "{\"model\": {\"id\": \"" + M + "\"}, \"input\": \"a\"}", 400, "model" },
        { "very long model", "{\"model\": \"" + new string('m', 20_000) + "\", \"input\": \"a\"}", 404, "model" },
        { "model with NUL", "{\"model\": \"" + M + "\\u0000\", \"input\": \"a\"}", 404, "model" },
        { "deeply nested input", "{\"model\": \"" + M + "\", \"input\": [[[[\"a\"]]]]}", 400, "input[0]" },
        { "lone surrogate escape", "{\"model\": \"" + M + "\", \"input\": \"a\\ud800b\"}", 400, null },
        { "lone surrogate in array", "{\"model\": \"" + M + "\", \"input\": [\"ok\", \"\\udfff\"]}", 400, null },
        { "dimensions beyond long", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": 99999999999999999999999}", 400, "dimensions" },
        { "dimensions NaN literal", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": NaN}", 400, null },
        { "dimensions boolean", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": true}", 400, "dimensions" },
        { "dimensions array", "{\"model\": \"" + M + "\", \"input\": \"a\", \"dimensions\": [64]}", 400, "dimensions" },
        { "empty encoding_format", "{\"model\": \"" + M + "\", \"input\": \"a\", \"encoding_format\": \"\"}", 400, "encoding_format" },
        { "instruction not a string", "{\"model\": \"" + M + "\", \"input\": \"a\", \"instruction\": 5}", 400, "instruction" },
        { "input_type number", "{\"model\": \"" + M + "\", \"input\": \"a\", \"input_type\": 1}", 400, "input_type" },
        { "truncate number", "{\"model\": \"" + M + "\", \"input\": \"a\", \"truncate\": 1}", 400, "truncate" },
        { "trailing garbage", "{\"model\": \"" + M + "\", \"input\": \"a\"} trailing", 400, null },
        { "two documents", "{\"model\": \"" + M + "\", \"input\": \"a\"}{\"model\": \"x\"}", 400, null },
        { "comment in json", "{/* hi */ \"model\": \"" + M + "\", \"input\": \"a\"}", 400, null },
        { "single quotes", "{'model': '" + M + "', 'input': 'a'}", 400, null },
        { "trailing comma", "{\"model\": \"" + M + "\", \"input\": [\"a\",],}", 400, null },
        { "unterminated string", "{\"model\": \"" + M + "\", \"input\": \"a}", 400, null },
        { "deep object", "{\"model\": \"" + M + "\", \"input\": \"a\", \"x\": " + string.Concat(Enumerable.Repeat("{\"a\":", 5000)) + "1" + new string('}', 5000) + "}", 400, null },
        { "huge array of empties", "{\"model\": \"" + M + "\", \"input\": [" + string.Join(",", Enumerable.Repeat("\"\"", 2000)) + "]}", 400, "input[0]" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Malformed_request_gets_an_openai_error(string name, string body, int status, string? param)
    {
        var response = await fixture.Stack.Client.PostAsync("/v1/embeddings",
            new StringContent(body.Replace(M, fixture.Stack.Model), Encoding.UTF8, "application/json"));

        var error = await AssertOpenAIError(response, status, name);
        Assert.Equal(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString());
        await AssertStillServing();
    }

    [Fact]
    public async Task Invalid_utf8_is_400()
    {
        var bytes = Encoding.UTF8.GetBytes($"{{\"model\": \"{fixture.Stack.Model}\", \"input\": \"ab\"}}").ToList();
        bytes.InsertRange(bytes.Count - 3, new byte[] { 0xC3, 0x28, 0xFF });
        var content = new ByteArrayContent(bytes.ToArray());
        content.Headers.ContentType = new("application/json");

        await AssertOpenAIError(await fixture.Stack.Client.PostAsync("/v1/embeddings", content), 400, "invalid utf-8");
        await AssertStillServing();
    }

    /// <summary>Bytes that are not UTF-8 JSON, whatever the headers claim.</summary>
    [Theory]
    [InlineData("utf-16 body", "application/json; charset=utf-16")]
    [InlineData("utf-16 body, no charset", "application/json")]
    [InlineData("latin-1 body", "application/json; charset=iso-8859-1")]
    [InlineData("overlong utf-8", "application/json")]
    [InlineData("xml body", "application/xml")]
    public async Task Other_encodings_are_400(string name, string contentType)
    {
        var json = $"{{\"model\": \"{fixture.Stack.Model}\", \"input\": \"caf\u00e9\"}}";
        var bytes = name switch
        {
            "utf-16 body" or "utf-16 body, no charset" => Encoding.Unicode.GetBytes(json),
            "latin-1 body" => Encoding.Latin1.GetBytes(json),
            "overlong utf-8" => Encoding.UTF8.GetBytes(json).Concat(Array.Empty<byte>()).ToArray() is var b
                ? [.. b[..^3], 0xC0, 0xAF, .. b[^3..]] : [],
            _ => Encoding.UTF8.GetBytes("<request><model>m</model></request>"),
        };
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);

        await AssertOpenAIError(await fixture.Stack.Client.PostAsync("/v1/embeddings", content), 400, name);
        await AssertStillServing();
    }

    [Fact]
    public async Task Header_abuse_gets_an_openai_error_or_is_ignored_never_a_5xx()
    {
        // A thousand junk headers, a huge one, and a lying Content-Length-free chunked body: still a clean answer.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings")
        {
            Content = new StringContent("{\"model\": 7}", Encoding.UTF8, "application/json"),
        };
        for (var i = 0; i < 1000; i++) request.Headers.TryAddWithoutValidation($"X-Junk-{i}", new string('j', 50));
        request.Headers.TryAddWithoutValidation("X-Huge", new string('h', 60_000));
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + new string('k', 10_000));
        var error = await AssertOpenAIError(await fixture.Stack.Client.SendAsync(request), 400, "header abuse");
        Assert.Equal("model", error.GetProperty("param").GetString());
        await AssertStillServing();
    }

    [Fact]
    public async Task Oversized_body_is_413()
    {
        var huge = new string('x', 17 * 1024 * 1024);
        var response = await fixture.Stack.Client.PostAsync("/v1/embeddings",
            new StringContent($"{{\"model\": \"{fixture.Stack.Model}\", \"input\": \"{huge}\"}}", Encoding.UTF8, "application/json"));

        var error = await AssertOpenAIError(response, 413, "oversized");
        Assert.Equal("request_too_large", error.GetProperty("code").GetString());
        await AssertStillServing();
    }

    [Theory]
    [InlineData("GET", "/v1/embeddings", 405)]
    [InlineData("POST", "/v1/nothing-here", 404)]
    public async Task Wrong_route_or_method_is_an_openai_error(string method, string path, int status)
    {
        var response = await fixture.Stack.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await AssertOpenAIError(response, status, path);
    }

    private static async Task<JsonElement> AssertOpenAIError(HttpResponseMessage response, int status, string name)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{name}: expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()));
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        return error;
    }

    private async Task AssertStillServing()
    {
        var ok = await fixture.Stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = fixture.Stack.Model, input = "still serving" });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
