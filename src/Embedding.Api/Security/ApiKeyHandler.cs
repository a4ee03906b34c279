using System.Security.Claims;
using System.Text.Encodings.Web;
using Embedding.Api.Wire;
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
        await OpenAIError.InvalidApiKey(provided: Request.Headers.Authorization.Count > 0).WriteAsync(Response);
    }

    private AuthenticationTicket Ticket(ApiKeyOptions key)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, key.Name) };
        claims.AddRange(key.Models.Select(m => new Claim(ModelsClaim, m)));
        return new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName);
    }
}
