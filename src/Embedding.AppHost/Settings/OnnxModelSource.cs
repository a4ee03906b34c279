namespace Embedding.AppHost;

/// <summary>
/// Where a CPU worker's ONNX model comes from: a local directory (relative to the AppHost project), or a hub repository
/// pinned to a revision; and which of its ONNX files to run. The worker's Worker:Onnx section names the same four.
/// </summary>
public sealed record OnnxModelSource(string? LocalPath, string? HubRepository, string? HubRevision, string? OnnxFile)
{
    public static OnnxModelSource? From(string? path, string? hub, string? revision, string? file) =>
        string.IsNullOrWhiteSpace(path) && string.IsNullOrWhiteSpace(hub) ? null : new(path, hub, revision, file);

    public bool FromHub => !string.IsNullOrWhiteSpace(HubRepository);
}
