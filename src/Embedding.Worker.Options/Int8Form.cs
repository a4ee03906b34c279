namespace Embedding.Worker;

/// <summary>How the CPU runs a weight-only 8-bit ONNX file (com.microsoft MatMulNBits, bits 8: the public model_quantized.onnx).</summary>
public enum Int8Form
{
    /// <summary>
    /// <see cref="DynamicInt8"/> with 8-bit weights where ONNX Runtime's u8s8 kernel sums in int32 (x86-64 with VNNI;
    /// other architectures), <see cref="MatMulNBits"/> where it would need 7-bit weights (x86-64 without VNNI): 7-bit
    /// weights measured min cosine 0.992 to FP32 on the 0.6B shape, below the 0.995 INT8 must keep
    /// (bench/results/cpu-forms-2026-12-07.md).
    /// </summary>
    Auto,

    /// <summary>The file's MatMulNBits nodes, at <see cref="OnnxBackendOptions.MatMulNBitsAccuracyLevel"/>.</summary>
    MatMulNBits,

    /// <summary>
    /// Rewritten at load into ONNX Runtime's dynamic int8 form (DynamicQuantizeMatMul: activations quantized to uint8 per
    /// call, one scale per tensor; int8 weights, one scale per output column), range per
    /// <see cref="OnnxBackendOptions.DynamicInt8WeightRange"/>. Faster for short texts and batches; see docs/models.md.
    /// </summary>
    DynamicInt8,
}
