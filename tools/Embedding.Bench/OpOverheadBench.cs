using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

/// <summary>
/// What one ONNX Runtime operator costs on this machine apart from its work: a chain of N identical elementwise
/// operators (bench/cpu/op_overhead.py writes it) run without graph optimizations, at each thread count; the p50 of the
/// timed runs divided by N is the cost of one operator of that size. Run as the worker's session runs operators.
/// </summary>
public static class OpOverheadBench
{
    public static void Run(string onnxFile, int operators, int[] shape, int[] threadCounts, int runs)
    {
        foreach (var threads in threadCounts)
        {
            using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = threads };
            using var session = new InferenceSession(onnxFile, options);
            var inputs = new[] { NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.Single(), new DenseTensor<float>(shape)) };
            for (var i = 0; i < 20; i++) session.Run(inputs).Dispose();
            var times = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var clock = Stopwatch.StartNew();
                session.Run(inputs).Dispose();
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            Console.WriteLine($"| {Path.GetFileName(onnxFile)} | [{string.Join(", ", shape)}] | {threads} | {times[runs / 2]:F2} ms | {times[runs / 2] * 1000 / operators:F1} µs |");
        }
    }
}
