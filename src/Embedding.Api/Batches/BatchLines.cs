using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Embedding.Api.Batches;

/// <summary>The lines of a batch job: what makes an input line runnable, and OpenAI's shape of an output or error line.</summary>
public static class BatchLines
{
    /// <summary>Whether a line can run: a JSON object with a unique custom_id, POST to the batch's endpoint, and a body.</summary>
    public static BatchLineError? Check(JsonlLine line, string endpoint, HashSet<string> ids)
    {
        BatchLineError Error(string code, string message, string? param) => new(code, message, param, line.Number);
        try
        {
            using var doc = JsonDocument.Parse(line.Bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Error("invalid_json_line", "Each line must be a JSON object.", null);
            if (!root.TryGetProperty("custom_id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString()!.Length == 0)
                return Error("missing_required_parameter", "Each line needs a custom_id (a non-empty string).", "custom_id");
            if (!ids.Add(id.GetString()!))
                return Error("duplicate_custom_id", $"The custom_id '{id.GetString()}' is used more than once in this file.", "custom_id");
            if (!root.TryGetProperty("method", out var method) || method.ValueKind != JsonValueKind.String || method.GetString() != "POST")
                return Error("invalid_method", "The method must be \"POST\".", "method");
            if (!root.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String || url.GetString() != endpoint)
                return Error("mismatched_endpoint", $"The url must be the batch's endpoint, \"{endpoint}\".", "url");
            if (!root.TryGetProperty("body", out var body) || body.ValueKind != JsonValueKind.Object)
                return Error("missing_required_parameter", "Each line needs a body: the request as it would be sent to the endpoint.", "body");
            return null;
        }
        catch (JsonException ex)
        {
            return Error("invalid_json_line", $"The line is not valid JSON ({ex.Message}).", null);
        }
    }

    /// <summary>
    /// OpenAI's output line: <c>{"id","custom_id","response":{"status_code","request_id","body"},"error":null}</c> for a line
    /// that was answered, <c>"response":null,"error":{"code","message"}</c> for one that never ran.
    /// </summary>
    public static async Task<byte[]> OutputAsync(BatchJob job, string customId, (int Status, Func<Utf8JsonWriter, Task> WriteBody)? response,
                                                      (string Code, string Message)? notRun = null)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        await using (var w = new Utf8JsonWriter(buffer))
        {
            var id = RequestId(job, customId);
            w.WriteStartObject();
            w.WriteString("id", $"batch_req_{id}");
            w.WriteString("custom_id", customId);
            if (response is { } r)
            {
                w.WriteStartObject("response");
                w.WriteNumber("status_code", r.Status);
                w.WriteString("request_id", $"req_{id}");
                w.WritePropertyName("body");
                await r.WriteBody(w);
                w.WriteEndObject();
            }
            else w.WriteNull("response");
            if (notRun is { } e)
            {
                w.WriteStartObject("error");
                w.WriteString("code", e.Code);
                w.WriteString("message", e.Message);
                w.WriteEndObject();
            }
            else w.WriteNull("error");
            w.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The custom_id of a line <see cref="Check"/> passed.</summary>
    public static string CustomIdOf(JsonDocument line) => line.RootElement.GetProperty("custom_id").GetString()!;

    /// <summary>The same id for the same line however often the job is resumed.</summary>
    public static string RequestId(BatchJob job, string customId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{job.Id}\n{customId}")))[..24];
}
