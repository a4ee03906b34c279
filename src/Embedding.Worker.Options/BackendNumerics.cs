namespace Embedding.Worker;

/// <summary>
/// What makes a backend's numbers: the model, its revision or file, and the precision it runs in. Two backends with
/// different identities give different vectors for the same text (an 8-bit ONNX standby beside a bf16 engine: cosine
/// about 0.99, not 1), so the worker sends its identity with every answer and the API caches vectors under it: vectors
/// of one identity never answer for another's. Stable across replicas and restarts of one configuration.
/// </summary>
public static class BackendNumerics
{
    /// <summary>An ONNX export: the hub repository at its revision (or the local directory's name) and the file run (its precision).</summary>
    public static string Onnx(OnnxBackendOptions options, string directory, string modelFile) =>
        string.IsNullOrWhiteSpace(options.ModelPath) && !string.IsNullOrWhiteSpace(options.HubRepository)
            ? $"onnx:{options.HubRepository}@{options.HubRevision}/{modelFile}"
            : $"onnx:{Path.GetFileName(Path.TrimEndingDirectorySeparator(directory))}/{modelFile}";

    /// <summary>
    /// An ONNX file whose MatMulNBits nodes run at another accuracy level than the file says (int8 arithmetic at level
    /// 4): its vectors differ from the file's own in the last digits, so it is another identity.
    /// </summary>
    public static string WithMatMulNBitsAccuracy(string onnx, int level) => $"{onnx}+matmulnbits-accuracy-{level}";

    /// <summary>
    /// An 8-bit ONNX file rewritten into the dynamic int8 form (uint8 activations per tensor, int8 weights per column of
    /// <paramref name="weightBits"/> bits): its vectors differ from the file's own and from each other's range.
    /// </summary>
    public static string WithDynamicInt8(string onnx, int weightBits) => $"{onnx}+dynamic-u8s{weightBits}";

    /// <summary>An engine: the model it serves and the dtype it runs it in.</summary>
    public static string Engine(OpenAIBackendOptions options) => $"engine:{options.Model}:{options.Dtype}";

    public const string Fake = "fake";
    public const string SimulatedGpu = "simulated-gpu";
}
