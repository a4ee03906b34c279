using System.Security.Claims;

namespace Embedding.Api.Security;

/// <summary>What the rest of the API reads of the authenticated caller.</summary>
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
