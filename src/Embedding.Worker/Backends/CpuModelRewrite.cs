namespace Embedding.Worker.Backends;

/// <summary>
/// What the CPU runs of an ONNX file, rewritten in memory at load: weight-only 8-bit MatMulNBits nodes into the dynamic
/// int8 form (<see cref="DynamicInt8"/>, Worker:Onnx:Int8Form), and the MatMulNBits nodes left at
/// Worker:Onnx:MatMulNBitsAccuracyLevel (<see cref="MatMulNBitsAccuracy"/>). <see cref="Model"/> is null when nothing
/// changed (the file is loaded as it is); <see cref="Numerics"/> names every change, so vectors of one form never answer
/// for another's.
/// </summary>
public sealed record CpuModelRewrite(byte[]? Model, string Numerics, int DynamicInt8Nodes, int DynamicInt8WeightBits, int MatMulNBitsNodes,
                                     IReadOnlyList<string> LeftAsIs)
{
    /// <summary>The form <paramref name="configured"/> means on a CPU whose u8s8 kernel does or does not sum in int32.</summary>
    public static Int8Form FormFor(Int8Form configured, bool sumsInInt32) => configured switch
    {
        Int8Form.Auto => sumsInInt32 ? Int8Form.DynamicInt8 : Int8Form.MatMulNBits,
        var form => form,
    };

    public static CpuModelRewrite For(string path, OnnxBackendOptions options, string numerics)
    {
        if (options.Device != OnnxDevice.Cpu) return new(null, numerics, 0, 0, 0, []);
        var wantsDynamic = FormFor(options.Int8Form, Int8Kernels.SumsInInt32) == Int8Form.DynamicInt8;
        if (!wantsDynamic && options.MatMulNBitsAccuracyLevel < 0) return new(null, numerics, 0, 0, 0, []);

        var model = File.ReadAllBytes(path);
        byte[]? rewritten = null;
        int dynamicNodes = 0, bits = 0;
        IReadOnlyList<string> left = [];
        if (wantsDynamic)
        {
            var limit = Int8Kernels.WeightLimit(options.DynamicInt8WeightRange);
            var result = DynamicInt8.Rewrite(model, limit);
            left = result.LeftAsIs;
            if (result.Model is not null)
            {
                (rewritten, dynamicNodes, bits) = (result.Model, result.Rewritten, limit == 127 ? 8 : 7);
                numerics = BackendNumerics.WithDynamicInt8(numerics, bits);
            }
        }
        var levelNodes = 0;
        if (options.MatMulNBitsAccuracyLevel >= 0 &&
            MatMulNBitsAccuracy.Rewrite(rewritten ?? model, options.MatMulNBitsAccuracyLevel, out levelNodes) is { } leveled)
        {
            rewritten = leveled;
            numerics = BackendNumerics.WithMatMulNBitsAccuracy(numerics, options.MatMulNBitsAccuracyLevel);
        }
        return new(rewritten, numerics, dynamicNodes, bits, levelNodes, left);
    }
}
