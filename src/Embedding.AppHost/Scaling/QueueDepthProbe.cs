using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Embedding.Contracts;
using RabbitMQ.Client;

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
    private IConnection? _connection;

    public async Task<int> GetDepthAsync(string queue, CancellationToken ct)
    {
        // Existence is not sampled: a queue is listed as soon as it is declared. Only an existing queue is declared
        // passively (a passive declare of a missing one closes the channel, which the client does not always survive quickly).
        var sampled = await GetSampledDepthAsync(queue, ct);
        if (sampled is null) return 0;
        var ready = amqpUri is null ? 0 : await GetReadyNowAsync(queue, ct);
        return Math.Max(ready, sampled.Value);
    }

    private async Task<int> GetReadyNowAsync(string queue, CancellationToken ct)
    {
        if (_connection is not { IsOpen: true })
        {
            if (_connection is not null) await _connection.DisposeAsync();
            _connection = await QueueInspection.ConnectAsync(amqpUri!, "embedding-autoscaler", ct);
        }
        return (int)((await _connection.PeekAsync(queue, ct))?.Ready ?? 0);  // not declared yet: nothing was ever sent to it
    }

    /// <summary>The management API's depth, or null where the queue does not exist.</summary>
    private async Task<int?> GetSampledDepthAsync(string queue, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}", ct);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        // Right after a queue is declared its statistics are not sampled yet: count what is known.
        if (json.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Number) return messages.GetInt32();
        return json.TryGetProperty("messages_ready", out var ready) && ready.ValueKind == JsonValueKind.Number ? ready.GetInt32() : 0;
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
        if (_connection is not null) await _connection.DisposeAsync();
    }
}
