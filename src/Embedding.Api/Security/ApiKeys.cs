using System.Security.Claims;
using System.Text.Encodings.Web;
using Embedding.Api.Apis;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Embedding.Api.Security;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> checked against the SHA-256 hashes in <c>Api:Auth:Keys</c> (keys are never
/// stored in clear). The caller becomes a principal named after the key's <c>Name</c>, which is all that logs,
/// traces, rate limits and quotas ever see of it. With no keys configured the API is open (development), and says so at start.
/// </summary>
public sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions, ILoggerFactory logger, UrlEncoder encoder,
                                  ApiKeyRing keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ModelsClaim = "embedding:models";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (keys.IsOpen)
            return Task.FromResult(AuthenticateResult.Success(Ticket(new ApiKeyOptions { Name = "anonymous" })));

        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0) return Task.FromResult(AuthenticateResult.NoResult());
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 512)
            return Task.FromResult(AuthenticateResult.Fail("malformed Authorization header"));

        // A dictionary lookup by hash: comparing hashes reveals nothing usable about the keys themselves.
        var hash = ApiKeyOptions.Hash(header["Bearer ".Length..].Trim());
        return Task.FromResult(keys.ByHash.TryGetValue(hash, out var key)
            ? AuthenticateResult.Success(Ticket(key))
            : AuthenticateResult.Fail("unknown API key"));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var provided = Request.Headers.Authorization.Count > 0;
        await new OpenAIError(StatusCodes.Status401Unauthorized,
            provided
                ? "Incorrect API key provided. Send a key issued for this service as 'Authorization: Bearer <key>'."
                : "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            "invalid_request_error", null, "invalid_api_key").WriteAsync(Response);
    }

    private AuthenticationTicket Ticket(ApiKeyOptions key)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, key.Name) };
        claims.AddRange(key.Models.Select(m => new Claim(ModelsClaim, m)));
        return new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName);
    }
}

/// <summary>The configured keys by hash, built once (authentication handlers are created per request).</summary>
public sealed class ApiKeyRing(IOptions<EmbeddingApiOptions> api)
{
    public IReadOnlyDictionary<string, ApiKeyOptions> ByHash { get; } = api.Value.Auth.Keys
        .ToDictionary(k => ApiKeyOptions.NormaliseHash(k.Sha256), StringComparer.Ordinal);

    /// <summary>No keys configured: every caller is let in (development).</summary>
    public bool IsOpen => ByHash.Count == 0;
}

public static class ApiKeyPrincipal
{
    /// <summary>The key's name (never the key), the partition for rate limits and quotas.</summary>
    public static string KeyName(this ClaimsPrincipal user) => user.Identity?.Name ?? "anonymous";

    /// <summary>Keys restricted to some models may use only those; a key with no list may use all.</summary>
    public static bool MayUse(this ClaimsPrincipal user, ModelOptions model)
    {
        var allowed = user.FindAll(ApiKeyHandler.ModelsClaim).Select(c => c.Value).ToList();
        return allowed.Count == 0 || allowed.Any(model.IsCalled);
    }
}
