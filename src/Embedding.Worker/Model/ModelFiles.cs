using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Embedding.Worker.Model;

/// <summary>What could not be had, and how to provide it: the worker answers its tier's requests with this reason.</summary>
public sealed class ModelUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>
    /// Whether <paramref name="ex"/> means the model's files cannot be had or read (not a bug): what a worker answers with
    /// model_unavailable and the download resource reports as its failure.
    /// </summary>
    public static bool Explains(Exception ex) => ex is ModelUnavailableException or InvalidDataException or IOException or UnauthorizedAccessException;
}

/// <summary>
/// Finds a model's files: a configured local directory, or a copy downloaded once from a Hugging Face-style hub (or a
/// mirror: HF_ENDPOINT; private repositories: HF_TOKEN) into the cache directory, pinned to a revision. Only the files
/// needed are fetched: config and tokenizer, and the chosen ONNX file with its external weights. Each file is checked
/// against the hub's listing (SHA-256 for LFS files, the git blob id for small ones) before it is used; a broken
/// download resumes where it stopped (HTTP Range); processes sharing the cache take turns (a lock file), so the AppHost's
/// download resource and a worker never fetch the same file twice.
/// </summary>
public sealed class ModelFiles(HttpClient http, ILogger<ModelFiles> logger)
{
    private static readonly TimeSpan ListingTimeout = TimeSpan.FromSeconds(30);

    /// <summary>No byte for this long: the connection is treated as broken (and the download resumed).</summary>
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);

    private const int Attempts = 4;

    /// <summary>The model directory for an ONNX backend: its local path, or its hub copy with the chosen ONNX file.</summary>
    public Task<string> ResolveAsync(OnnxBackendOptions onnx, HubOptions hub, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(onnx.ModelPath))
        {
            if (!Directory.Exists(onnx.ModelPath))
                throw new ModelUnavailableException($"Worker:Onnx:ModelPath '{onnx.ModelPath}' does not exist.");
            return Task.FromResult(onnx.ModelPath);
        }
        if (string.IsNullOrWhiteSpace(onnx.HubRepository))
            throw new ModelUnavailableException("Set Worker:Onnx:ModelPath (a local model directory) or Worker:Onnx:HubRepository (to download one).");
        return DownloadAsync(onnx.HubRepository, onnx.HubRevision, hub, onnx.OnnxFile ?? "", ct);
    }

    /// <summary>Just the tokenizer (and config) of a hub repository, e.g. for the GPU engine's model: a few MB.</summary>
    public Task<string> ResolveTokenizerAsync(string repository, string revision, HubOptions hub, CancellationToken ct) =>
        DownloadAsync(repository, revision, hub, onnxFile: null, ct);

    /// <param name="onnxFile">The ONNX file to fetch ("" = model.onnx or onnx/model.onnx, whichever the repository has); null for none.</param>
    private async Task<string> DownloadAsync(string repository, string revision, HubOptions hub, string? onnxFile, CancellationToken ct)
    {
        var target = Path.Combine(hub.CacheDirectory, repository.Replace('/', '_'), revision);
        // One marker per file set: a tier may switch from the 8-bit file to fp32 and fetch only what is new.
        var complete = Path.Combine(target, $".complete-{(onnxFile is null ? "tokenizer" : onnxFile == "" ? "default" : onnxFile.Replace('/', '_'))}");
        if (File.Exists(complete)) return target;

        Directory.CreateDirectory(target);
        await using var turn = await TakeTurnAsync(Path.Combine(target, ".lock"), repository, ct);
        if (File.Exists(complete)) return target;  // another process fetched it while this one waited

        var endpoint = hub.Endpoint.TrimEnd('/');
        var listing = await ListAsync(endpoint, repository, revision, hub.Token, ct);
        var files = Choose(listing, onnxFile, repository);
        var total = files.Sum(f => f.Bytes);
        long done = 0;
        logger.LogInformation("Fetching {Repository}@{Revision} from {Endpoint}: {Files} ({TotalMiB:F0} MiB)",
            repository, revision, endpoint, string.Join(", ", files.Select(f => f.Path)), total / 1048576.0);
        foreach (var file in files)
        {
            var destination = Path.Combine(target, file.Path);
            if (!(File.Exists(destination) && new FileInfo(destination).Length == file.Bytes))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                var url = $"{endpoint}/{repository}/resolve/{revision}/{file.Path}";
                await FetchAsync(url, destination, file, hub.Token, done, total, ct);
            }
            done += file.Bytes;
        }
        await File.WriteAllTextAsync(complete, DateTimeOffset.UtcNow.ToString("O"), ct);
        logger.LogInformation("Model files of {Repository}@{Revision} are ready in {Directory}", repository, revision, target);
        return target;
    }

    private async Task<List<HubEntry>> ListAsync(string endpoint, string repository, string revision, string? token, CancellationToken ct)
    {
        var url = $"{endpoint}/api/models/{repository}/tree/{revision}?recursive=true";
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ListingTimeout);
            using var request = Request(HttpMethod.Get, url, token);
            using var response = await http.SendAsync(request, timeout.Token);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new ModelUnavailableException($"{endpoint} refused the listing of {repository} ({(int)response.StatusCode}): set HF_TOKEN to a token that may read it.");
            if (response.StatusCode == HttpStatusCode.NotFound)
                throw new ModelUnavailableException($"{endpoint} has no repository {repository} at revision {revision}.");
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadFromJsonAsync<List<HubEntry>>(timeout.Token)
                ?? throw new ModelUnavailableException($"{endpoint} returned an empty file listing for {repository}.");
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            throw new ModelUnavailableException(
                $"Could not reach {endpoint} to fetch {repository}@{revision} ({ex.Message}). Without internet, copy the model's files " +
                "(config.json, tokenizer.json, the ONNX file) into a directory and set the tier's OnnxModelPath (Worker:Onnx:ModelPath) to it, " +
                "or point HF_ENDPOINT at a hub mirror you can reach.", ex);
        }
    }

    /// <summary>Config, tokenizer and the ONNX file with its external weights (model.onnx_data, model.onnx.data, ...).</summary>
    private static List<HubEntry> Choose(List<HubEntry> listing, string? onnxFile, string repository)
    {
        var files = listing.Where(e => e.Type == "file").ToList();
        var chosen = files.Where(f => f.Path == "config.json" || Qwen3Tokenizer.Files.Contains(f.Path)).ToList();
        if (!chosen.Any(f => f.Path is "tokenizer.json" or "vocab.json"))
            throw new ModelUnavailableException($"{repository} has no tokenizer.json (or vocab.json + merges.txt).");
        if (onnxFile is null) return chosen;

        var present = files.Where(f => f.Path.EndsWith(".onnx", StringComparison.Ordinal)).Select(f => f.Path).ToList();
        var model = onnxFile != "" ? onnxFile : new[] { "model.onnx", "onnx/model.onnx" }.FirstOrDefault(present.Contains);
        if (model is null || !present.Contains(model))
            throw new ModelUnavailableException($"{repository} has no {(onnxFile == "" ? "model.onnx or onnx/model.onnx" : onnxFile)}" +
                (present.Count > 0 ? $"; its ONNX files: {string.Join(", ", present)} (choose one with OnnxFile)." : "; choose an ONNX export of the model."));
        if (!chosen.Any(f => f.Path == "config.json"))
            throw new ModelUnavailableException($"{repository} has no config.json.");
        chosen.AddRange(files.Where(f => f.Path == model
            || f.Path.StartsWith(model + "_data", StringComparison.Ordinal) || f.Path.StartsWith(model + ".data", StringComparison.Ordinal)));
        return chosen;
    }

    /// <summary>Downloads into a .partial file, resuming it where a broken attempt stopped, then verifies and moves it in place.</summary>
    private async Task FetchAsync(string url, string destination, HubEntry file, string? token, long doneBefore, long total, CancellationToken ct)
    {
        var partial = destination + ".partial";
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await FetchOnceAsync(url, partial, file, token, doneBefore, total, ct);
                break;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
            {
                if (attempt == Attempts)
                    throw new ModelUnavailableException($"Could not download {file.Path} from {url} ({ex.Message}); what arrived is kept and the next start resumes it.", ex);
                var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
                logger.LogWarning("Download of {File} broke off at {MiB:F1} MiB ({Error}); resuming (attempt {Attempt} of {Attempts})",
                    file.Path, have / 1048576.0, ex.Message, attempt + 1, Attempts);
                await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
            }
        }
        Verify(partial, file);
        File.Move(partial, destination, overwrite: true);
    }

    private async Task FetchOnceAsync(string url, string partial, HubEntry file, string? token, long doneBefore, long total, CancellationToken ct)
    {
        var have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (have > file.Bytes) { File.Delete(partial); have = 0; }
        using var request = Request(HttpMethod.Get, url, token);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) { File.Delete(partial); have = 0; }
        response.EnsureSuccessStatusCode();
        var resumed = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        if (have > 0)
            logger.LogInformation(resumed ? "Resuming {File} at {MiB:F1} MiB" : "{File}: the server cannot resume; starting over", file.Path, have / 1048576.0);
        if (!resumed) have = 0;

        await using var source = await response.Content.ReadAsStreamAsync(ct);
        await using var sink = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
        var buffer = new byte[1 << 20];
        var written = have;
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        while (true)
        {
            stall.CancelAfter(StallTimeout);
            var read = await source.ReadAsync(buffer, stall.Token);
            if (read == 0) break;
            await sink.WriteAsync(buffer.AsMemory(0, read), ct);
            written += read;
            if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(2))
            {
                lastReport = clock.Elapsed;
                logger.LogInformation("Downloading {File}: {Percent:F0}% of {TotalMiB:F0} MiB, {Rate:F1} MiB/s",
                    file.Path, 100.0 * (doneBefore + written) / Math.Max(1, total), total / 1048576.0, (written - have) / 1048576.0 / clock.Elapsed.TotalSeconds);
            }
        }
        if (written < file.Bytes) throw new IOException($"the connection closed after {written} of {file.Bytes} bytes");
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, string? token)
    {
        var request = new HttpRequestMessage(method, url);
        // HttpClient drops this header on a redirect to another host (the hub's file storage), as it should.
        if (!string.IsNullOrEmpty(token)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>An exclusive lock on the copy's directory; logs once while another process holds it (downloading).</summary>
    private async Task<FileStream> TakeTurnAsync(string path, string repository, CancellationToken ct)
    {
        var logged = false;
        while (true)
        {
            try
            {
                // The file stays: deleting it on close would let a waiter lock the old file while a newcomer locks a new one.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
            }
            catch (IOException)
            {
                if (!logged) logger.LogInformation("Another process is fetching {Repository}; waiting for it", repository);
                logged = true;
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
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
        [property: JsonPropertyName("lfs")] HubLfs? Lfs)
    {
        /// <summary>The file's real size: for LFS files the listing's top-level size may be the pointer's.</summary>
        public long Bytes => Lfs?.Size ?? Size;
    }

    public sealed record HubLfs(
        [property: JsonPropertyName("oid")] string Oid,
        [property: JsonPropertyName("size")] long Size);
}
