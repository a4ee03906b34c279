using System.Diagnostics;
using System.Text;
using Embedding.Contracts;
using Embedding.Worker;
using Embedding.Worker.Backends;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

/// <summary>
/// The floor of one request through RabbitMQ on this machine, without our API or worker: a client sends one message at
/// a time to a queue; a server process takes it, holds it for the FAKE backend's 2 ms (as an idle worker would), and
/// answers. Measured twice: with the bare RabbitMQ.Client (publish to the queue, answer to an exclusive reply queue)
/// and with MassTransit request/response (our messages, no telemetry, no host). Reported: the round trip minus the
/// server's 2 ms, i.e. the two legs through the broker that the stack adds to every cache miss.
/// Server and client are separate processes, as API and worker are: a hop wakes another process.
/// </summary>
public static class RoundTripBench
{
    private const string RawQueue = "bench-roundtrip-raw", MassTransitQueue = "bench-roundtrip-mt";
    private const string HeldHeader = "held-ticks";
    private static readonly FakeBackend Hold = new(new FakeBackendOptions { Dimensions = 128, DelayMilliseconds = 2 });

    /// <summary>Client: alternates the two kinds, each against a server process of its own, and writes the table.</summary>
    public static async Task RunAsync(string amqp, string outputMarkdown, int requests = 1500, int rounds = 3)
    {
        var legs = new Dictionary<string, List<double>> { ["raw"] = [], ["masstransit"] = [] };
        for (var round = 0; round < rounds; round++)
            foreach (var kind in legs.Keys)
            {
                using var server = StartServer(amqp, kind);
                try
                {
                    var times = kind == "raw" ? await RawClientAsync(amqp, requests) : await MassTransitClientAsync(amqp, requests);
                    legs[kind].Add(Percentile(times, 0.5));
                    Console.Error.WriteLine($"round {round + 1}: {kind} p50 {legs[kind][^1]:F2} ms");
                }
                finally
                {
                    server.Kill();
                    await server.WaitForExitAsync();
                }
            }

        var sb = new StringBuilder();
        sb.AppendLine($"One request at a time, {requests} per run ({requests / 10} warm-up requests first, not counted), {rounds} alternated runs per kind; " +
                      $"the server holds each message 2 ms (FAKE backend); {Environment.ProcessorCount} cores.");
        sb.AppendLine();
        sb.AppendLine("| path | round trip minus the 2 ms hold, p50 of each run | median |");
        sb.AppendLine("|---|---|---|");
        foreach (var (kind, values) in legs)
            sb.AppendLine($"| {(kind == "raw" ? "RabbitMQ.Client, bare" : "MassTransit request/response")} | {string.Join(" / ", values.Select(v => v.ToString("F2")))} ms | {Percentile(values, 0.5):F2} ms |");
        Console.Write(sb);
        await File.WriteAllTextAsync(outputMarkdown, sb.ToString());
    }

    /// <summary>Server: answers until killed.</summary>
    public static async Task ServeAsync(string amqp, string kind)
    {
        if (kind == "raw")
        {
            await using var connection = await new ConnectionFactory { Uri = new Uri(amqp) }.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeclareAsync(RawQueue, durable: false, exclusive: false, autoDelete: true);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += async (_, delivery) =>
            {
                var held = await HoldAsync();
                var properties = new BasicProperties
                {
                    CorrelationId = delivery.BasicProperties.CorrelationId,
                    Headers = new Dictionary<string, object?> { [HeldHeader] = held.ToString() },
                };
                await channel.BasicPublishAsync("", delivery.BasicProperties.ReplyTo!, false, properties, delivery.Body);
                await channel.BasicAckAsync(delivery.DeliveryTag, false);
            };
            await channel.BasicConsumeAsync(RawQueue, autoAck: false, consumer);
            Console.WriteLine("ready");
            await Task.Delay(Timeout.Infinite);
        }
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(amqp));
            cfg.ReceiveEndpoint(MassTransitQueue, e =>
            {
                // Durable, as the worker's queue is (and as MassTransit's send expects the exchange to be).
                e.Handler<EmbedTexts>(async context =>
                {
                        var held = await HoldAsync();
                    await context.RespondAsync(new TextsEmbedded(128, new byte[128 * sizeof(float)], [context.Message.Texts.Count]),
                        x => x.Headers.Set(HeldHeader, held.ToString()));
                });
            });
        });
        await bus.StartAsync();
        Console.WriteLine("ready");
        await Task.Delay(Timeout.Infinite);
    }

    private static async Task<long> HoldAsync()
    {
        var started = Stopwatch.GetTimestamp();
        await Hold.EmbedAsync([new TokenizedText("x", [], 1)], CancellationToken.None);
        return Stopwatch.GetTimestamp() - started;
    }

    private static Process StartServer(string amqp, string kind)
    {
        var self = typeof(RoundTripBench).Assembly.Location;
        var server = Process.Start(new ProcessStartInfo("dotnet", [self, "roundtrip-server", amqp, kind]) { RedirectStandardOutput = true })!;
        if (server.StandardOutput.ReadLine() != "ready") throw new InvalidOperationException($"The {kind} server did not start.");
        return server;
    }

    private static async Task<List<double>> RawClientAsync(string amqp, int requests)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(amqp) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var replies = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        TaskCompletionSource<long> answered = new();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            answered.TrySetResult(long.Parse(Encoding.UTF8.GetString((byte[])delivery.BasicProperties.Headers![HeldHeader]!)));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(replies, autoAck: true, consumer);
        var body = Encoding.UTF8.GetBytes(new string('x', 400));
        return await TimeAsync(requests, async () =>
        {
            answered = new(TaskCreationOptions.RunContinuationsAsynchronously);
            await channel.BasicPublishAsync("", RawQueue, false, new BasicProperties { ReplyTo = replies }, body);
            return await answered.Task;
        });
    }

    private static async Task<List<double>> MassTransitClientAsync(string amqp, int requests)
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(amqp)));
        await bus.StartAsync();
        try
        {
            var client = bus.CreateRequestClient<EmbedTexts>(new Uri($"queue:{MassTransitQueue}?bind=false"));
            var texts = new[] { new string('x', 400) };
            return await TimeAsync(requests, async () =>
            {
                var response = await client.GetResponse<TextsEmbedded>(new EmbedTexts("bench", texts));
                return long.Parse(response.Headers.Get<string>(HeldHeader)!);
            });
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>Milliseconds per round trip minus the server's hold, after a warm-up of a tenth of the count.</summary>
    private static async Task<List<double>> TimeAsync(int requests, Func<Task<long>> roundTrip)
    {
        var times = new List<double>(requests);
        for (var i = 0; i < requests / 10 + requests; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var held = await roundTrip();
            if (i >= requests / 10) times.Add((Stopwatch.GetTimestamp() - started - held) * 1000.0 / Stopwatch.Frequency);
        }
        return times;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)(p * (sorted.Count - 1))];
    }
}
