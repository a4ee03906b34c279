namespace Embedding.Worker;

/// <summary>The range of the int8 weights <see cref="Int8Form.DynamicInt8"/> writes.</summary>
public enum DynamicInt8WeightRange
{
    /// <summary>
    /// Full where ONNX Runtime's u8s8 kernel sums in int32 on this CPU (x86-64 with AVX-VNNI or AVX-512 VNNI; not x86),
    /// Reduced where it sums pairs of products in int16 and would saturate (x86-64 with AVX2 or AVX-512 but no VNNI).
    /// </summary>
    Auto,

    /// <summary>8-bit weights, [-127, 127].</summary>
    Full,

    /// <summary>7-bit weights, [-63, 63]: 2 x 255 x 63 fits int16, so no kernel saturates; about twice the rounding error.</summary>
    Reduced,
}
