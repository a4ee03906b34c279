using System.Text;
using Embedding.Api;
using Embedding.Api.Services;

namespace Embedding.Tests;

/// <summary>
/// The request parser alone, with no server: every malformed field gets its own 400 naming the field (OpenAI's
/// error shape), an unknown model a 404, and each request shape OpenAI's clients send is read as meant.
/// </summary>
public sealed class EmbeddingRequestParserTests
{
    private static readonly EmbeddingApiOptions Options = new()
    {
        MaxInputs = 3,
        DefaultQueryInstruction = "Find the passage",
        Models =
        [
            new ModelOptions { Name = "tier-a", Aliases = ["Org/Tier-A"], Dimensions = 128 },
            new ModelOptions { Name = "tier-plain", Dimensions = 64, Matryoshka = false },
        ],
    };

    private static (EmbeddingRequest? Request, Embedding.Api.Wire.OpenAIError? Error) Parse(string json) =>
        new EmbeddingRequestParser(Options).Parse(Encoding.UTF8.GetBytes(json));

    private static EmbeddingRequest Accepted(string json)
    {
        var (request, error) = Parse(json);
        Assert.Null(error);
        return request!;
    }

    [Theory]
    [InlineData("""{"input": "x"}""", "model")]
    [InlineData("""{"model": null, "input": "x"}""", "model")]
    [InlineData("""{"model": 5, "input": "x"}""", "model")]
    [InlineData("""{"model": "", "input": "x"}""", "model")]
    [InlineData("""{"model": "tier-a"}""", "input")]
    [InlineData("""{"model": "tier-a", "input": null}""", "input")]
    [InlineData("""{"model": "tier-a", "input": ""}""", "input")]
    [InlineData("""{"model": "tier-a", "input": []}""", "input")]
    [InlineData("""{"model": "tier-a", "input": 5}""", "input")]
    [InlineData("""{"model": "tier-a", "input": {"text": "x"}}""", "input")]
    [InlineData("""{"model": "tier-a", "input": ["a", "b", "c", "d"]}""", "input")]  // over MaxInputs
    [InlineData("""{"model": "tier-a", "input": ["a", 5]}""", "input[1]")]
    [InlineData("""{"model": "tier-a", "input": ["a", "b", ""]}""", "input[2]")]
    [InlineData("""{"model": "tier-a", "input": ["a", null]}""", "input[1]")]
    [InlineData("""{"model": "tier-a", "input": "x", "encoding_format": "int8"}""", "encoding_format")]
    [InlineData("""{"model": "tier-a", "input": "x", "encoding_format": 1}""", "encoding_format")]
    [InlineData("""{"model": "tier-a", "input": "x", "user": 5}""", "user")]
    [InlineData("""{"model": "tier-a", "input": "x", "dimensions": "64"}""", "dimensions")]
    [InlineData("""{"model": "tier-a", "input": "x", "dimensions": 64.5}""", "dimensions")]
    [InlineData("""{"model": "tier-a", "input": "x", "dimensions": 31}""", "dimensions")]
    [InlineData("""{"model": "tier-a", "input": "x", "dimensions": 129}""", "dimensions")]
    [InlineData("""{"model": "tier-plain", "input": "x", "dimensions": 32}""", "dimensions")]  // not Matryoshka-trained
    [InlineData("""{"model": "tier-a", "input": "x", "instruction": ""}""", "instruction")]
    [InlineData("""{"model": "tier-a", "input": "x", "instruction": 3}""", "instruction")]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": "passage"}""", "input_type")]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": "document", "instruction": "Find"}""", "instruction")]
    [InlineData("""{"model": "tier-a", "input": "x", "truncate": "yes"}""", "truncate")]
    // Malformed is 400 whatever the model, as OpenAI answers: the model is looked up after the required fields.
    [InlineData("""{"model": "no-such-model", "input": 5}""", "input")]
    public void A_bad_field_is_a_400_naming_it(string body, string field)
    {
        var (request, error) = Parse(body);

        Assert.Null(request);
        Assert.NotNull(error);
        Assert.Equal(400, error.Status);
        Assert.Equal("invalid_request_error", error.Type);
        Assert.Equal(field, error.Param);
        Assert.Contains(field, error.Message);
    }

    [Theory]
    [InlineData("""[1, 2, 3]""", "input")]
    [InlineData("""{"model": "tier-a", "input": [1, 2, 3]}""", "input")]
    [InlineData("""{"model": "tier-a", "input": [[1, 2], [3]]}""", "input")]
    public void Token_ids_are_refused_with_a_code_of_their_own(string body, string param)
    {
        var (_, error) = Parse(body);

        Assert.NotNull(error);
        Assert.Equal(400, error.Status);
        if (body.StartsWith('['))
        {
            Assert.Null(error.Param);  // not an object at all
            Assert.Contains("JSON object", error.Message);
            return;
        }
        Assert.Equal(param, error.Param);
        Assert.Equal("token_ids_not_supported", error.Code);
    }

    [Fact]
    public void A_body_that_is_not_json_or_not_utf8_is_a_400()
    {
        var (_, notJson) = Parse("{\"model\": \"tier-a\", \"input\": ");
        Assert.Equal(400, notJson!.Status);
        Assert.Contains("not valid JSON", notJson.Message);

        byte[] bytes = [.. Encoding.UTF8.GetBytes("{\"model\": \"tier-a\", \"input\": \"a"), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\"}")];  // 0xC3 0x28: not UTF-8
        var (request, notUtf8) = new EmbeddingRequestParser(Options).Parse(bytes);
        Assert.Null(request);
        Assert.Equal(400, notUtf8!.Status);
        Assert.Null(notUtf8.Param);
    }

    [Fact]
    public void An_unknown_model_is_a_404_model_not_found()
    {
        var (request, error) = Parse("""{"model": "no-such-model", "input": "x"}""");

        Assert.Null(request);
        Assert.Equal(404, error!.Status);
        Assert.Equal("model_not_found", error.Code);
        Assert.Equal("model", error.Param);
        Assert.Contains("'no-such-model'", error.Message);
    }

    [Fact]
    public void A_string_or_an_array_of_strings_is_read_in_order_duplicates_kept()
    {
        var single = Accepted("""{"model": "tier-a", "input": "hello"}""");
        Assert.Equal(["hello"], single.Inputs);
        Assert.Equal("tier-a", single.Model.Name);
        Assert.Null(single.Dimensions);
        Assert.False(single.Base64);
        Assert.False(single.Truncate);
        Assert.Null(single.QueryInstruction);  // a document by default: no instruction

        var many = Accepted("""{"model": "tier-a", "input": ["b", "a", "b"], "user": "u-1", "unknown_extension": {"x": 1}}""");
        Assert.Equal(["b", "a", "b"], many.Inputs);  // the service dedups; the parser keeps what was sent
    }

    [Fact]
    public void A_model_is_found_by_alias_in_any_case_and_the_name_asked_for_is_kept()
    {
        var request = Accepted("""{"model": "org/tier-a", "input": "x"}""");

        Assert.Equal("tier-a", request.Model.Name);
        Assert.Equal("org/tier-a", request.RequestedModel);  // answered back as the caller named it
    }

    [Theory]
    [InlineData("null", null)]
    [InlineData("32", 32)]
    [InlineData("64", 64)]
    [InlineData("128", null)]  // the native length: nothing to cut
    public void Dimensions_from_32_to_native_are_accepted(string dimensions, int? expected)
    {
        Assert.Equal(expected, Accepted($$"""{"model": "tier-a", "input": "x", "dimensions": {{dimensions}}}""").Dimensions);
    }

    [Theory]
    [InlineData("\"float\"", false)]
    [InlineData("\"base64\"", true)]
    [InlineData("null", false)]
    public void Encoding_format_float_or_base64(string format, bool base64)
    {
        Assert.Equal(base64, Accepted($$"""{"model": "tier-a", "input": "x", "encoding_format": {{format}}}""").Base64);
    }

    [Theory]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": "query"}""", "Find the passage")]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": "query", "instruction": "Match the question"}""", "Match the question")]
    [InlineData("""{"model": "tier-a", "input": "x", "instruction": "Match the question"}""", "Match the question")]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": "document"}""", null)]
    [InlineData("""{"model": "tier-a", "input": "x", "input_type": null}""", null)]
    public void Queries_get_an_instruction_and_documents_none(string body, string? instruction)
    {
        Assert.Equal(instruction, Accepted(body).QueryInstruction);
    }

    [Fact]
    public void Truncate_is_read()
    {
        Assert.True(Accepted("""{"model": "tier-a", "input": "x", "truncate": true}""").Truncate);
        Assert.False(Accepted("""{"model": "tier-a", "input": "x", "truncate": false}""").Truncate);
    }
}
