namespace Embedding.Worker;

/// <summary>How the CPU runs a weight-only 8-bit ONNX file (com.microsoft MatMulNBits, bits 8: the public model_quantized.onnx).</summary>
public enum Int8Form
{
    /// <summary>The file's MatMulNBits nodes, at <see cref="OnnxBackendOptions.MatMulNBitsAccuracyLevel"/>.</summary>
    MatMulNBits,

    /// <summary>
    /// Rewritten at load into ONNX Runtime's dynamic int8 form (DynamicQuantizeMatMul: activations quantized to uint8 per
    /// call, one scale per tensor; int8 weights, one scale per output column), range per
    /// <see cref="OnnxBackendOptions.DynamicInt8WeightRange"/>. Faster for short texts and batches; see docs/models.md.
    /// </summary>
    DynamicInt8,
}
