using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Embedding.Tests.Infrastructure;

/// <summary>
/// A stand-in for the Hugging Face hub on loopback, speaking the parts of its API a download uses: the recursive tree
/// listing (LFS files with their SHA-256 and size, small files with their git blob id), /resolve/ answering with a
/// redirect to file storage (as the hub does), and file storage honouring Range requests. Each repository is a local
/// directory. Knobs: a token the listing requires, files served corrupt, a connection cut after some bytes.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, string> _repositories = new(StringComparer.Ordinal);

    /// <summary>Paths as requested from file storage, with the Range header ("" if none).</summary>
    public ConcurrentQueue<(string Path, string Range)> Downloads { get; } = new();

    /// <summary>When set, the listing answers 401 to a request without "Authorization: Bearer {token}".</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Headers file storage saw: the token must not reach it.</summary>
    public ConcurrentQueue<string?> StorageAuthorization { get; } = new();

    /// <summary>Files (by path in the repository) served with one byte flipped.</summary>
    public HashSet<string> Corrupt { get; } = [];

    /// <summary>Files whose next download is cut after this many bytes (once each).</summary>
    public ConcurrentDictionary<string, long> CutAfter { get; } = new();

    public Uri Endpoint { get; private set; } = null!;

    private FakeHub()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _app = builder.Build();
        _app.MapGet("/api/models/{owner}/{name}/tree/{revision}", (HttpContext ctx, string owner, string name) => Listing(ctx, $"{owner}/{name}"));
        _app.MapGet("/{owner}/{name}/resolve/{revision}/{**path}", (string owner, string name, string revision, string path) =>
            Results.Redirect($"/storage/{owner}/{name}/{path}"));
        _app.MapGet("/storage/{owner}/{name}/{**path}", (HttpContext ctx, string owner, string name, string path) => ServeAsync(ctx, $"{owner}/{name}", path));
    }

    public static async Task<FakeHub> StartAsync()
    {
        var hub = new FakeHub();
        await hub._app.StartAsync();
        hub.Endpoint = new Uri(hub._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return hub;
    }

    /// <summary>Serves <paramref name="directory"/> as repository <paramref name="repository"/>; its reference*.json files are left out.</summary>
    public FakeHub Add(string repository, string directory)
    {
        _repositories[repository] = directory;
        return this;
    }

    private IResult Listing(HttpContext ctx, string repository)
    {
        if (RequiredToken is { } token && ctx.Request.Headers.Authorization.ToString() != $"Bearer {token}")
            return Results.StatusCode(401);
        if (!_repositories.TryGetValue(repository, out var root)) return Results.NotFound();
        var entries = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => (Full: f, Path: Path.GetRelativePath(root, f).Replace('\\', '/')))
            .Where(f => !Path.GetFileName(f.Path).StartsWith("reference", StringComparison.Ordinal))
            .Select(f =>
            {
                var bytes = File.ReadAllBytes(f.Full);
                var blob = Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));
                // As on the hub: large files are LFS objects (the top-level size and oid are the pointer's).
                return bytes.Length > 100_000 || f.Path.Contains(".onnx")
                    ? (object)new { type = "file", path = f.Path, size = 134, oid = blob[..40], lfs = new { oid = Convert.ToHexStringLower(SHA256.HashData(bytes)), size = bytes.Length, pointerSize = 134 } }
                    : new { type = "file", path = f.Path, size = bytes.Length, oid = blob };
            })
            .Append(new { type = "directory", path = "onnx", size = 0, oid = "0" })
            .ToList();
        return Results.Json(entries);
    }

    private async Task ServeAsync(HttpContext ctx, string repository, string path)
    {
        Downloads.Enqueue((path, ctx.Request.Headers.Range.ToString()));
        StorageAuthorization.Enqueue(ctx.Request.Headers.Authorization.FirstOrDefault());
        if (!_repositories.TryGetValue(repository, out var root) || !File.Exists(Path.Combine(root, path)))
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        var bytes = await File.ReadAllBytesAsync(Path.Combine(root, path));
        if (Corrupt.Contains(path)) bytes[bytes.Length / 2] ^= 0xFF;
        if (CutAfter.TryRemove(path, out var cut))
        {
            // Headers promise the whole file; the connection dies part way, as a dropped download does.
            ctx.Response.ContentLength = bytes.Length;
            await ctx.Response.Body.WriteAsync(bytes.AsMemory(0, (int)cut));
            await ctx.Response.Body.FlushAsync();
            ctx.Abort();
            return;
        }
        await Results.Bytes(bytes, "application/octet-stream", enableRangeProcessing: true).ExecuteAsync(ctx);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
