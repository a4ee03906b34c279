using Embedding.Worker.Backends;

/// <summary>
/// The reranking benchmarks' documents: words of a fixed list, added until a document's share of the pair is exactly
/// <c>tokens</c> tokens of the model's own tokenizer (a word of several tokens that overshoots starts another document).
/// The same seed gives the same documents, so runs and machines compare.
/// </summary>
public static class RerankPassages
{
    public const string Query = "How do elastic GPU workers keep the cost of a reranking service low?";

    private static readonly string[] Words =
        "the workers scale to zero when idle and come back in seconds when work arrives queue batch token model cost GPU CPU rerank passage query document score cache"
            .Split(' ');

    public static List<string> Make(OnnxQwen3Reranker reranker, int count, int tokens, string query = Query, int seed = 42)
    {
        var random = new Random(seed);
        var bare = reranker.TokensWithoutDocument(null, query);
        var documents = new List<string>();
        while (documents.Count < count)
        {
            var text = new System.Text.StringBuilder();
            int documentTokens;
            do
            {
                text.Append(Words[random.Next(Words.Length)]).Append(' ');
                documentTokens = reranker.Tokenize(null, query, text.ToString().TrimEnd()).TokenCount - bare;
            } while (documentTokens < tokens);
            if (documentTokens == tokens) documents.Add(text.ToString().TrimEnd());
        }
        return documents;
    }
}
