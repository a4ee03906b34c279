using System.Runtime.Intrinsics.X86;

namespace Embedding.Worker.Backends;

/// <summary>
/// Which weight range is safe for ONNX Runtime's u8s8 integer GEMM (MLAS) on this CPU. On x86-64 MLAS picks its kernel
/// from CPUID (core/mlas/lib/platform.cpp): AVX2 and AVX-512 Core kernels multiply uint8 x int8 with vpmaddubsw, which
/// adds each pair of products in int16 and saturates (2 x 255 x 127 = 64,770 &gt; 32,767); the AVX-VNNI and AVX-512 VNNI
/// kernels (and AMX, which comes with AVX-512 VNNI) accumulate in int32. Where the pair sum can saturate, 7-bit weights
/// (|w| &lt;= 63: 2 x 255 x 63 = 32,130) keep it exact. Other architectures' kernels widen before adding.
/// </summary>
public static class Int8Kernels
{
    /// <summary>Whether ONNX Runtime's u8s8 kernel on this CPU sums in int32 (no int16 saturation).</summary>
    public static bool SumsInInt32 { get; } = Detect();

    /// <summary>The largest weight magnitude <paramref name="range"/> allows here: 127 (8-bit) or 63 (7-bit).</summary>
    public static int WeightLimit(DynamicInt8WeightRange range) => range switch
    {
        DynamicInt8WeightRange.Full => 127,
        DynamicInt8WeightRange.Reduced => 63,
        _ => SumsInInt32 ? 127 : 63,
    };

    private static bool Detect()
    {
        if (!X86Base.IsSupported) return true;
        if (AvxVnni.IsSupported) return true;
        // AVX-512 VNNI: CPUID leaf 7, ECX bit 11, used by MLAS only with AVX-512 F/BW/DQ/VL enabled by the OS.
        var (_, _, ecx, _) = X86Base.CpuId(7, 0);
        return (ecx & (1 << 11)) != 0 && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported;
    }
}
