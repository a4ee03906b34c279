using System.Diagnostics;
using Embedding.Worker;
using Embedding.Worker.Backends;

// bare <url> <response-file>: an ASP.NET Core endpoint that answers POST /v1/embeddings with fixed bytes,
//                              the ceiling for any endpoint on this machine.
// stub <seconds> <dimensions>: calls the FAKE backend directly, one text per call, and prints calls/s.
// batching <output.md>:         the worker's batcher against the SIMULATED GPU under open-loop load.
// direct <url> <model-dir|simulated|fake>: the ONNX backend (or the SIMULATED GPU, or the FAKE backend with a fixed
//                              2 ms per call: our own overhead only) behind a plain OpenAI-compatible
//                              /v1/embeddings (no cache, no queue, no batching across requests): "the backend called
//                              directly", for the load tool to compare with the whole stack.
// neardup <model-dir> <output.md>: near-duplicate reuse, error and work saved per threshold (NearDuplicateBench.cs).
// padding <model-dir> <output.md>: what mixing lengths in a padded CPU batch costs, arrival order vs grouped (PaddingBench.cs).
// roundtrip <amqp-uri> <output.md>: one request at a time through RabbitMQ to a server process that holds it 2 ms, bare
//                              RabbitMQ.Client vs MassTransit: the broker round trip's floor (RoundTripBench.cs).
// peer <model-dir> <onnx-file> <texts.json> <threads> <out.json>: the worker's ONNX path on bench/cpu/peer_bench.py's texts.
// rerank <model-dir> <onnx-file|""> <threads> <runs> <out.json> [Cpu|Cuda]: the reranker backend called directly, 1 query x 100
//                              passages of 200 tokens (RerankBench.cs).
// rerankstack --api URL --model NAME --model-dir DIR [--device Cpu|Cuda ...]: /v1/rerank through the stack against the
//                              same model in this process, side by side (RerankStackBench.cs; bench/rerank-stack.sh).
// opoverhead <onnx-file> <operators> <shape, e.g. 1x16x1024> <threads, e.g. 1,2> <runs>: one operator's cost apart from
//                              its work, from a chain of elementwise operators (OpOverheadBench.cs; bench/cpu/op_overhead.sh).
// cpuform <model-dir> <onnx-file> <accuracy-level> <threads> <reference.json> <single-calls> <batch-passes> <out.json> [<int8-form> [<weight-range>]]:
//                              one file in one form (Int8Form MatMulNBits (default) or DynamicInt8; DynamicInt8WeightRange Auto,
//                              Full or Reduced) at one MatMulNBits accuracy level: fidelity, one 16-token text, 32 x 128 (CpuFormBench.cs).
switch (args.FirstOrDefault())
{
    case "rerank":
        await RerankBench.RunAsync(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), args[5],
            args.Length > 6 ? Enum.Parse<OnnxDevice>(args[6], ignoreCase: true) : OnnxDevice.Cpu);
        break;

    case "rerankstack":
        return await RerankStackBench.RunAsync(args[1..]);

    case "roundtrip":
        await RoundTripBench.RunAsync(args[1], args[2]);
        break;

    case "roundtrip-server":
        await RoundTripBench.ServeAsync(args[1], args[2]);
        break;

    case "opoverhead":
        OpOverheadBench.Run(args[1], int.Parse(args[2]), args[3].Split('x').Select(int.Parse).ToArray(), args[4].Split(',').Select(int.Parse).ToArray(), int.Parse(args[5]));
        break;

    case "cpuform":
        await CpuFormBench.RunAsync(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), args[5], int.Parse(args[6]), int.Parse(args[7]), args[8],
            args.Length > 9 ? Enum.Parse<Int8Form>(args[9], ignoreCase: true) : Int8Form.MatMulNBits,
            args.Length > 10 ? Enum.Parse<DynamicInt8WeightRange>(args[10], ignoreCase: true) : DynamicInt8WeightRange.Auto);
        break;

    case "peer":
        await PeerBench.RunAsync(args[1], args[2], args[3], int.Parse(args[4]), args[5]);
        break;

    case "padding":
        await PaddingBench.RunAsync(args[1], args[2]);
        break;

    case "neardup":
        await NearDuplicateBench.RunAsync(args[1], args[2]);
        break;

    case "direct":
        IEmbeddingBackend onnx = args[2] switch
        {
            "simulated" => new SimulatedGpuBackend(new SimulatedGpuOptions()),
            "fake" => new FakeBackend(new FakeBackendOptions { Dimensions = 128, DelayMilliseconds = 2 }),
            _ => new OnnxQwen3Backend(args[2], new OnnxBackendOptions()),  // threads as the worker's default
        };
        var direct = WebApplication.CreateSlimBuilder();
        direct.Logging.ClearProviders();
        direct.WebHost.UseUrls(args[1]);
        var server = direct.Build();
        var gate = new SemaphoreSlim(1);  // one session run at a time, as one worker does
        server.MapPost("/v1/embeddings", async (HttpContext ctx) =>
        {
            using var doc = await System.Text.Json.JsonDocument.ParseAsync(ctx.Request.Body);
            var input = doc.RootElement.GetProperty("input");
            var texts = input.ValueKind == System.Text.Json.JsonValueKind.Array ? input.EnumerateArray().Select(e => e.GetString()!).ToArray() : [input.GetString()!];
            var tokenized = texts.Select(t => onnx.Tokenize(t, truncate: true)).ToList();
            float[][] vectors;
            await gate.WaitAsync();
            try { vectors = await onnx.EmbedAsync(tokenized, CancellationToken.None); }
            finally { gate.Release(); }
            await ctx.Response.WriteAsJsonAsync(new
            {
                @object = "list",
                data = vectors.Select((v, i) => new { @object = "embedding", index = i, embedding = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan())) }),
                model = "direct",
                usage = new { prompt_tokens = tokenized.Sum(t => t.TokenCount), total_tokens = tokenized.Sum(t => t.TokenCount) },
            });
        });
        await server.RunAsync();
        break;

    case "bare":
        var body = await File.ReadAllBytesAsync(args[2]);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(args[1]);
        var app = builder.Build();
        app.MapPost("/v1/embeddings", async (HttpContext ctx) =>
        {
            await ctx.Request.Body.CopyToAsync(Stream.Null);  // read the request, as the real endpoint does
            ctx.Response.ContentType = "application/json";
            await ctx.Response.Body.WriteAsync(body);
        });
        await app.RunAsync();
        break;

    case "stub":
        var seconds = double.Parse(args[1]);
        var backend = new FakeBackend(new FakeBackendOptions { Dimensions = int.Parse(args[2]) });
        long calls = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            var text = backend.Tokenize($"hello world {calls}", false);
            await backend.EmbedAsync([text], CancellationToken.None);
            calls++;
        }
        Console.WriteLine($"{calls / clock.Elapsed.TotalSeconds:F0}");
        break;

    case "batching":
        var gpu = new SimulatedGpuOptions();
        WorkerOptions Tuned(int budget = 8192, int wait = 5, int inFlight = 2) =>
            new() { MaxBatchTokens = budget, MaxWaitMilliseconds = wait, MaxConcurrentBatches = inFlight, MaxBatchSize = 1024 };
        var runSeconds = double.Parse(Environment.GetEnvironmentVariable("SECONDS_PER_RUN") ?? "6");
        BatchingBench.Scenario Fixed(string name, double rate, int length) => new(name, rate, _ => length, runSeconds);
        var mixed = new BatchingBench.Scenario("mixed 16-1024 tokens, at capacity", 200, r => (int)Math.Exp(r.NextDouble() * Math.Log(1024 / 16.0)) * 16, runSeconds);
        var runs = new List<(BatchingBench.Scenario, WorkerOptions)>
        {
            (Fixed("16 tokens, low load", 10, 16), Tuned()),
            (Fixed("128 tokens, low load", 10, 128), Tuned()),
            (Fixed("16 tokens, low load, no wait", 10, 16), Tuned(wait: 0)),
            (Fixed("128 tokens, half load", 190, 128), Tuned()),
            (Fixed("16 tokens, saturated", 4000, 16), Tuned()),
            (Fixed("128 tokens, saturated", 600, 128), Tuned()),
            (Fixed("512 tokens, saturated", 150, 512), Tuned()),
            (mixed, Tuned()),
            (Fixed("128 tokens, saturated", 600, 128), Tuned(inFlight: 1)),
            (Fixed("128 tokens, saturated", 600, 128), Tuned(budget: 2048)),
            (Fixed("128 tokens, saturated", 600, 128), Tuned(budget: 32768)),
            (Fixed("16 tokens, saturated", 4000, 16), Tuned(budget: 2048)),
            (Fixed("16 tokens, saturated", 4000, 16), Tuned(budget: 4096)),
            (Fixed("128 tokens, saturated", 600, 128), Tuned(budget: 4096)),
            (mixed, Tuned(budget: 4096)),
        };
        var results = new List<BatchingBench.Result>();
        foreach (var (scenario, options) in runs)
        {
            var result = await BatchingBench.RunAsync(scenario, options, gpu);
            Console.Error.WriteLine($"{scenario.Name}: {result.PeakShare:P0} of peak, p50 {result.P50Ms:F1} ms");
            results.Add(result);
        }
        await File.WriteAllTextAsync(args[1], BatchingBench.Table(results));
        break;

    default:
        Console.Error.WriteLine("usage: Embedding.Bench bare <url> <response-file> | stub <seconds> <dimensions> | batching <output.md>");
        return 2;
}
return 0;
