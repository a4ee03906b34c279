using System.Globalization;
using Embedding.Api.Batches;
using Embedding.Api.Wire;

namespace Embedding.Api.Apis;

/// <summary>
/// OpenAI's <c>expires_after</c> (<c>anchor</c> "created_at", <c>seconds</c> from an hour to 30 days), on an upload's
/// form and on a batch's <c>output_expires_after</c>.
/// </summary>
public static class ExpiresAfter
{
    /// <summary>The seconds, or a 400 naming the field. Neither part given: no expiry.</summary>
    public static OpenAIError? Parse(string field, string? anchor, string? seconds, out int? expiresAfter)
    {
        expiresAfter = null;
        if (anchor is null && seconds is null) return null;
        if (anchor != "created_at")
            return OpenAIError.Invalid($"{field}.anchor must be \"created_at\".", $"{field}.anchor", "invalid_value");
        if (!int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            || value is < StoredFile.MinExpirySeconds or > StoredFile.MaxExpirySeconds)
            return OpenAIError.Invalid($"{field}.seconds must be a whole number from {StoredFile.MinExpirySeconds} (one hour) to {StoredFile.MaxExpirySeconds} (30 days).",
                $"{field}.seconds", "invalid_value");
        expiresAfter = value;
        return null;
    }
}
