using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Embedding.Worker.Model;

/// <summary>
/// Finds the model directory: a configured local directory, or a copy downloaded once from a
/// Hugging Face-style hub into the cache directory, each file checked against the hub's hashes
/// (SHA-256 for LFS files, the git blob id for small ones) before it is used.
/// </summary>
public sealed class ModelFiles(HttpClient http, ILogger<ModelFiles> logger)
{
    /// <summary>Files an ONNX export of Qwen3-Embedding needs (others in the repository are skipped).</summary>
    private static readonly string[] Wanted =
        ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
         "model.onnx", "model.onnx_data", "onnx/model.onnx", "onnx/model.onnx_data"];

    public async Task<string> ResolveAsync(OnnxBackendOptions options, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(options.ModelPath))
        {
            if (!Directory.Exists(options.ModelPath))
                throw new DirectoryNotFoundException($"Worker:Onnx:ModelPath '{options.ModelPath}' does not exist.");
            return options.ModelPath;
        }
        if (string.IsNullOrWhiteSpace(options.HubRepository))
            throw new InvalidOperationException("Set Worker:Onnx:ModelPath (a local model directory) or Worker:Onnx:HubRepository (to download one).");

        var target = Path.Combine(options.CacheDirectory, options.HubRepository.Replace('/', '_'), options.HubRevision);
        var complete = Path.Combine(target, ".complete");
        if (File.Exists(complete)) return target;

        var endpoint = options.HubEndpoint.TrimEnd('/');
        var listing = await http.GetFromJsonAsync<List<HubEntry>>(
            $"{endpoint}/api/models/{options.HubRepository}/tree/{options.HubRevision}?recursive=true", ct)
            ?? throw new InvalidDataException("The hub returned an empty file listing.");
        var files = listing.Where(e => e.Type == "file" && Wanted.Contains(e.Path)).ToList();
        if (!files.Any(f => f.Path.EndsWith("model.onnx", StringComparison.Ordinal)))
            throw new InvalidDataException($"'{options.HubRepository}' has no model.onnx; choose an ONNX export of the model.");

        Directory.CreateDirectory(target);
        var total = files.Sum(f => f.Lfs?.Size ?? f.Size);
        long done = 0;
        foreach (var file in files)
        {
            var url = $"{endpoint}/{options.HubRepository}/resolve/{options.HubRevision}/{file.Path}";
            var destination = Path.Combine(target, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            await DownloadAsync(url, destination, file, done, total, ct);
            done += file.Lfs?.Size ?? file.Size;
        }
        await File.WriteAllTextAsync(complete, DateTimeOffset.UtcNow.ToString("O"), ct);
        logger.LogInformation("Model {Repository}@{Revision} is ready in {Directory}", options.HubRepository, options.HubRevision, target);
        return target;
    }

    private async Task DownloadAsync(string url, string destination, HubEntry file, long doneBefore, long total, CancellationToken ct)
    {
        var partial = destination + ".partial";
        using (var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct))
        {
            response.EnsureSuccessStatusCode();
            await using var source = await response.Content.ReadAsStreamAsync(ct);
            await using var sink = File.Create(partial);
            var buffer = new byte[1 << 20];
            long written = 0;
            var lastReport = Stopwatch.StartNew();
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                await sink.WriteAsync(buffer.AsMemory(0, read), ct);
                written += read;
                if (lastReport.Elapsed > TimeSpan.FromSeconds(2))
                {
                    logger.LogInformation("Downloading {File}: {Percent:F0}% of {TotalMiB:F0} MiB",
                        file.Path, 100.0 * (doneBefore + written) / Math.Max(1, total), total / 1048576.0);
                    lastReport.Restart();
                }
            }
        }
        Verify(partial, file);
        File.Move(partial, destination, overwrite: true);
    }

    /// <summary>Checks a downloaded file against the hub's listing; a mismatch deletes it and fails.</summary>
    public static void Verify(string path, HubEntry file)
    {
        string expected, actual;
        if (file.Lfs is { } lfs)
        {
            expected = lfs.Oid;
            using var stream = File.OpenRead(path);
            actual = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        else
        {
            // Git's blob id: SHA-1 over "blob <size>\0" followed by the content.
            expected = file.Oid;
            var content = File.ReadAllBytes(path);
            var header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
            actual = Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
        }
        if (!string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(path);
            throw new InvalidDataException($"Integrity check failed for {file.Path}: expected {expected}, got {actual}.");
        }
    }

    public sealed record HubEntry(
        [property: JsonPropertyName("type")] string Type,
        [property: JsonPropertyName("path")] string Path,
        [property: JsonPropertyName("size")] long Size,
        [property: JsonPropertyName("oid")] string Oid,
        [property: JsonPropertyName("lfs")] HubLfs? Lfs);

    public sealed record HubLfs(
        [property: JsonPropertyName("oid")] string Oid,
        [property: JsonPropertyName("size")] long Size);
}
