using System.Globalization;

namespace Embedding.Simulator;

/// <summary>
/// The cold starts a run can assume (--cold-start): seconds, or the name of a measured path. A name bills the figure
/// measured for that path; what its measurement leaves out (a container's start, an image pull) is not in it.
/// </summary>
public static class ColdStarts
{
    /// <summary>
    /// The worker's ONNX backend on ONNX Runtime's CUDA provider, Qwen3-Embedding-4B: a new process to its first vector
    /// with the page cache dropped, on one H200: 6.98 s and 7.85 s in two runs with the default settings; the slower
    /// (bench/results/cuda-onnx-2026-12-02.md).
    /// </summary>
    public const double OnnxCuda4B = 7.85;

    public static readonly IReadOnlyDictionary<string, double> Named = new Dictionary<string, double>
    {
        ["onnx-cuda"] = OnnxCuda4B,
    };

    public static double Parse(string value) =>
        Named.TryGetValue(value, out var seconds) ? seconds
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) ? seconds
        : throw new ArgumentException($"--cold-start {value}: seconds, or one of {string.Join(", ", Named.Keys)}.");
}
