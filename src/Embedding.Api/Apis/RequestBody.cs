using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace Embedding.Api.Apis;

/// <summary>
/// The one cap on a request body: a body declared or read past its endpoint's limit is refused with that endpoint's
/// 413, and the server-wide cap is raised to just above the limit so that this check, with its clear error, runs first.
/// </summary>
public static class RequestBody
{
    /// <summary>Sets the cap to <paramref name="limit"/>; false where the declared length is already past it.</summary>
    public static bool Admit(HttpContext http, long limit)
    {
        if (http.Request.ContentLength > limit) return false;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit + 1;
        return true;
    }

    /// <summary>The server's own cap stopped the read (the body grew past the limit after an honest or absent length).</summary>
    public static bool IsTooLarge(Exception ex) => ex is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge };

    /// <summary>Reads the body into memory, stopping at <paramref name="limit"/> bytes.</summary>
    public static async Task<(ArrayBufferWriter<byte> Body, bool TooLarge)> ReadAsync(HttpContext http, long limit)
    {
        var body = new ArrayBufferWriter<byte>(4096);
        if (!Admit(http, limit)) return (body, true);
        try
        {
            var stream = http.Request.Body;
            while (true)
            {
                var memory = body.GetMemory(16 * 1024);
                var read = await stream.ReadAsync(memory, http.RequestAborted);
                if (read == 0) break;
                body.Advance(read);
                if (body.WrittenCount > limit) return (body, true);
            }
        }
        catch (Exception ex) when (IsTooLarge(ex))
        {
            return (body, true);
        }
        return (body, false);
    }
}
