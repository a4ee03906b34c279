using Microsoft.Extensions.Options;

namespace Embedding.Api.Security;

/// <summary>The configured keys by hash, built once (authentication handlers are created per request).</summary>
public sealed class ApiKeyRing(IOptions<EmbeddingApiOptions> api)
{
    public IReadOnlyDictionary<string, ApiKeyOptions> ByHash { get; } = api.Value.Auth.Keys
        .ToDictionary(k => ApiKeyOptions.NormaliseHash(k.Sha256), StringComparer.Ordinal);

    /// <summary>No keys configured: every caller is let in (development).</summary>
    public bool IsOpen => ByHash.Count == 0;
}
