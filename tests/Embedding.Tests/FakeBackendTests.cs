using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Embedding.Worker;
using Embedding.Worker.Backends;

namespace Embedding.Tests;

/// <summary>The FAKE backend is the yardstick of bench/load.sh: its delay is a floor every call pays, and its vectors are its hashes.</summary>
public class FakeBackendTests
{
    [Theory]
    [InlineData(2)]   // slept on the thread and spun
    [InlineData(20)]  // mostly Task.Delay, the last milliseconds slept
    public async Task Each_call_takes_at_least_its_delay_and_answers_the_texts_hashes(int milliseconds)
    {
        var backend = new FakeBackend(new FakeBackendOptions { Dimensions = 16, DelayMilliseconds = milliseconds });
        var texts = new[] { backend.Tokenize("a", truncate: false), backend.Tokenize("b", truncate: false) };

        for (var call = 0; call < 3; call++)
        {
            var started = Stopwatch.GetTimestamp();
            var vectors = await backend.EmbedAsync(texts, CancellationToken.None);
            Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(milliseconds));
            Assert.Equal(FakeBackend.VectorFor("a", 16), vectors[0]);
            Assert.Equal(FakeBackend.VectorFor("b", 16), vectors[1]);
            Assert.Equal(1.0, Math.Sqrt(vectors[0].Sum(x => (double)x * x)), 5);
        }
    }

    /// <summary>The stand-ins are not values of the production backend setting: a worker told Backend=Fake does not start.</summary>
    [Fact]
    public void Stand_ins_are_chosen_apart_from_the_backend()
    {
        static WorkerOptions Bind(string key, string value) => new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build()
            .GetSection(WorkerOptions.SectionName).Get<WorkerOptions>()!;

        Assert.Throws<InvalidOperationException>(() => Bind("Worker:Backend", "Fake"));
        var standIn = Bind("Worker:StandIn", "Fake");
        Assert.Equal((StandInKind.Fake, "Fake"), (standIn.StandIn, standIn.BackendName));
        Assert.Equal((null, "Onnx"), (new WorkerOptions().StandIn, new WorkerOptions().BackendName));
    }
}
