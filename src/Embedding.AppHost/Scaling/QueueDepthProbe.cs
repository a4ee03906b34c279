using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Contracts;
using Embedding.Messaging;

namespace Embedding.AppHost.Scaling;

/// <summary>
/// Reads a queue's depth as KEDA's rabbitmq scaler does with <c>protocol: http</c>: the management API's
/// <c>messages</c> counts ready and unacknowledged messages, so a batch a worker holds keeps that worker alive.
/// Those statistics are sampled every few seconds, so locally the probe also asks the broker itself (a passive
/// declare answers the ready count at once) and takes the larger: a request arriving at an idle tier is seen on
/// the next poll, not seconds later. A queue that does not exist yet has depth 0.
/// </summary>
public sealed class QueueDepthProbe(Uri managementUri, string? amqpUri = null) : IAsyncDisposable
{
    private readonly HttpClient _http = CreateClient(managementUri);
    private readonly QueueInspector? _broker = amqpUri is null ? null : new QueueInspector(amqpUri, "embedding-autoscaler");

    public async Task<int> GetDepthAsync(string queue, CancellationToken ct) => (await GetLoadAsync(queue, ct)).Depth;

    /// <summary>Depth, and the publish rate (messages/s) as KEDA's rabbitmq scaler reads it in <c>mode: MessageRate</c>.</summary>
    public async Task<QueueLoad> GetLoadAsync(string queue, CancellationToken ct)
    {
        // Existence is not sampled: a queue is listed as soon as it is declared. Only an existing queue is declared
        // passively (a passive declare of a missing one closes the channel, which the client does not always survive quickly).
        var sampled = await GetSampledAsync(queue, ct);
        if (sampled is null) return new QueueLoad(0, 0);
        var ready = _broker is null ? 0 : (int)((await _broker.PeekAsync(queue, ct))?.Ready ?? 0);
        return new QueueLoad(Math.Max(ready, sampled.Value.Depth), sampled.Value.PublishRate);
    }

    /// <summary>The management API's depth and publish rate, or null where the queue does not exist.</summary>
    private async Task<QueueLoad?> GetSampledAsync(string queue, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        // Right after a queue is declared its statistics are not sampled yet: count what is known.
        var depth = json.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Number ? messages.GetInt32()
            : json.TryGetProperty("messages_ready", out var ready) && ready.ValueKind == JsonValueKind.Number ? ready.GetInt32() : 0;
        var rate = json.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty("publish_details", out var details)
                   && details.TryGetProperty("rate", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetDouble() : 0;
        return new QueueLoad(depth, rate);
    }

    private static HttpClient CreateClient(Uri uri)
    {
        var client = new HttpClient { BaseAddress = new Uri(uri.GetLeftPart(UriPartial.Authority) + "/"), Timeout = TimeSpan.FromSeconds(5) };
        if (uri.UserInfo.Length > 0)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(uri.UserInfo))));
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (_broker is not null) await _broker.DisposeAsync();
    }
}
