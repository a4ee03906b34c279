using System.Diagnostics;
using Embedding.Worker;
using Embedding.Worker.Backends;

// bare <url> <response-file>: an ASP.NET Core endpoint that answers POST /v1/embeddings with fixed bytes,
//                              the ceiling for any endpoint on this machine.
// stub <seconds> <dimensions>: calls the FAKE backend directly, one text per call, and prints calls/s.
switch (args.FirstOrDefault())
{
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

    default:
        Console.Error.WriteLine("usage: Embedding.Bench bare <url> <response-file> | stub <seconds> <dimensions>");
        return 2;
}
return 0;
