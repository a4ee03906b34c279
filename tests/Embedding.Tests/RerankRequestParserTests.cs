using System.Text;
using Embedding.Api;
using Embedding.Api.Services;
using Embedding.Contracts;

namespace Embedding.Tests;

/// <summary>Rerank requests in Cohere's v1 and v2 shapes (and Jina's): what is accepted, and a 400 naming each bad field.</summary>
public sealed class RerankRequestParserTests
{
    private static readonly EmbeddingApiOptions Options = new()
    {
        MaxRerankDocuments = 4,
        MaxTokensPerInput = 8192,
        Models =
        [
            new ModelOptions { Name = "rr", Kind = ModelKind.Reranker, Aliases = ["Org/Reranker"], Dimensions = 1, InputTokenLimit = 4000 },
            new ModelOptions { Name = "emb", Dimensions = 64 },
        ],
    };

    private readonly RerankRequestParser _parser = new(Options);

    private RerankRequest Ok(string json, int version = 1)
    {
        var (request, error) = _parser.Parse(Encoding.UTF8.GetBytes(json), version);
        Assert.True(error is null, error?.Message);
        return request!;
    }

    private (int Status, string? Param, string? Code, string Message) Bad(string json, int version = 1)
    {
        var (request, error) = _parser.Parse(Encoding.UTF8.GetBytes(json), version);
        Assert.Null(request);
        Assert.NotNull(error);
        return (error!.Status, error.Param, error.Code, error.Message);
    }

    [Fact]
    public void A_cohere_v2_request_of_strings_is_read_with_cohere_defaults()
    {
        var request = Ok("""{"model":"Org/Reranker","query":"capital of France","documents":["Paris","Berlin","Paris"],"top_n":2}""", version: 2);

        Assert.Equal("rr", request.Model.Name);
        Assert.Equal("Org/Reranker", request.RequestedModel);
        Assert.Equal(2, request.ApiVersion);
        Assert.Equal("capital of France", request.Query);
        Assert.Equal(["Paris", "Berlin", "Paris"], request.Documents.Select(d => d.Text));
        Assert.All(request.Documents, d => Assert.Null(d.Json));
        Assert.Equal(2, request.TopN);
        Assert.False(request.ReturnDocuments);  // Cohere's default
        Assert.Null(request.Instruction);       // the model's own default
        Assert.Equal(4000, request.MaxTokensPerPair);  // the smaller of the model's limit and Api:MaxTokensPerInput
    }

    [Fact]
    public void Objects_with_text_keep_their_json_and_rank_fields_pick_what_the_model_reads()
    {
        var withText = Ok("""{"model":"rr","query":"q","documents":[{"text":"a doc","id":7},"plain"],"return_documents":true}""");
        Assert.Equal(["a doc", "plain"], withText.Documents.Select(d => d.Text));
        Assert.Equal("""{"text":"a doc","id":7}""", withText.Documents[0].Json);
        Assert.True(withText.ReturnDocuments);

        var ranked = Ok("""{"model":"rr","query":"q","documents":[{"title":"T","body":"B","n":3}],"rank_fields":["title","n","missing"]}""");
        Assert.Equal("title: T\nn: 3", ranked.Documents[0].Text);
    }

    [Fact]
    public void Instruction_max_tokens_per_doc_and_cohere_v1_chunks_are_read()
    {
        var request = Ok("""{"model":"rr","query":"q","documents":["d"],"instruction":"Find the law","max_tokens_per_doc":512,"max_chunks_per_doc":10}""");
        Assert.Equal("Find the law", request.Instruction);
        Assert.Equal(512, request.MaxTokensPerPair);
        // A limit above the model's is cut to the model's: the document is cut to fit either way.
        Assert.Equal(4000, Ok("""{"model":"rr","query":"q","documents":["d"],"max_tokens_per_doc":100000}""").MaxTokensPerPair);
    }

    [Theory]
    [InlineData("""{"query":"q","documents":["d"]}""", "model")]
    [InlineData("""{"model":"","query":"q","documents":["d"]}""", "model")]
    [InlineData("""{"model":3,"query":"q","documents":["d"]}""", "model")]
    [InlineData("""{"model":"rr","documents":["d"]}""", "query")]
    [InlineData("""{"model":"rr","query":"  ","documents":["d"]}""", "query")]
    [InlineData("""{"model":"rr","query":["q"],"documents":["d"]}""", "query")]
    [InlineData("""{"model":"rr","query":"q"}""", "documents")]
    [InlineData("""{"model":"rr","query":"q","documents":"d"}""", "documents")]
    [InlineData("""{"model":"rr","query":"q","documents":[]}""", "documents")]
    [InlineData("""{"model":"rr","query":"q","documents":["1","2","3","4","5"]}""", "documents")]
    [InlineData("""{"model":"rr","query":"q","documents":["d",5]}""", "documents[1]")]
    [InlineData("""{"model":"rr","query":"q","documents":["d",null]}""", "documents[1]")]
    [InlineData("""{"model":"rr","query":"q","documents":[{"title":"no text"}]}""", "documents[0].text")]
    [InlineData("""{"model":"rr","query":"q","documents":[{"text":5}]}""", "documents[0].text")]
    [InlineData("""{"model":"rr","query":"q","documents":[{"a":"x"}],"rank_fields":["b"]}""", "documents[0]")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"rank_fields":"text"}""", "rank_fields")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"rank_fields":[]}""", "rank_fields")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"top_n":0}""", "top_n")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"top_n":-1}""", "top_n")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"top_n":1.5}""", "top_n")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"top_n":"3"}""", "top_n")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"return_documents":"yes"}""", "return_documents")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"max_tokens_per_doc":0}""", "max_tokens_per_doc")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"max_chunks_per_doc":"ten"}""", "max_chunks_per_doc")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"instruction":""}""", "instruction")]
    [InlineData("""{"model":"rr","query":"q","documents":["d"],"instruction":{"task":"x"}}""", "instruction")]
    public void Each_bad_field_is_a_400_that_names_it(string json, string param)
    {
        var (status, named, _, message) = Bad(json);
        Assert.Equal(400, status);
        Assert.Equal(param, named);
        Assert.Contains(param.Split('[', '.')[0], message);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    public void A_body_that_is_not_a_json_object_is_a_400(string body)
    {
        var (status, param, _, _) = Bad(body);
        Assert.Equal(400, status);
        Assert.Null(param);
    }

    [Fact]
    public void An_unknown_model_is_404_and_an_embedding_model_is_a_400_saying_where_it_belongs()
    {
        var unknown = Bad("""{"model":"nope","query":"q","documents":["d"]}""");
        Assert.Equal((404, "model", "model_not_found"), (unknown.Status, unknown.Param, unknown.Code));

        var embedding = Bad("""{"model":"emb","query":"q","documents":["d"]}""", version: 2);
        Assert.Equal((400, "model", "model_not_supported"), (embedding.Status, embedding.Param, embedding.Code));
        Assert.Contains("/v1/embeddings", embedding.Message);

        // A malformed request is 400 whatever its model, as for embeddings.
        Assert.Equal(400, Bad("""{"model":"nope","query":"q","documents":[]}""").Status);
    }

    [Fact]
    public void A_reranker_on_the_embeddings_parser_is_a_400_saying_where_it_belongs()
    {
        var (request, error) = new EmbeddingRequestParser(Options).Parse(Encoding.UTF8.GetBytes("""{"model":"Org/Reranker","input":"text"}"""));
        Assert.Null(request);
        Assert.Equal((400, "model", "model_not_supported"), (error!.Status, error.Param, error.Code));
        Assert.Contains("/v1/rerank", error.Message);
    }
}
