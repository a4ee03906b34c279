using System.Text.Json;

namespace Embedding.Api.Apis;

/// <summary>A 200 with a JSON body written straight to the response, and OpenAI's list object around a page of items.</summary>
public static class JsonResponse
{
    public static async Task WriteAsync(HttpContext http, Func<Utf8JsonWriter, Task> write)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(http.Response.BodyWriter);
        await write(writer);
    }

    public static Task WriteAsync(HttpContext http, Action<Utf8JsonWriter> write) =>
        WriteAsync(http, w =>
        {
            write(w);
            return Task.CompletedTask;
        });

    /// <summary><c>{"object":"list","data":[...],"first_id","last_id","has_more"}</c>.</summary>
    public static Task WriteListAsync<T>(HttpContext http, List<T> items, Func<T, string> id, Action<Utf8JsonWriter, T> write, bool hasMore) =>
        WriteAsync(http, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var item in items) write(w, item);
            w.WriteEndArray();
            if (items.Count > 0) { w.WriteString("first_id", id(items[0])); w.WriteString("last_id", id(items[^1])); }
            else { w.WriteNull("first_id"); w.WriteNull("last_id"); }
            w.WriteBoolean("has_more", hasMore);
            w.WriteEndObject();
        });
}
