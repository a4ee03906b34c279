using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Embedding.Contracts;

/// <summary>Vector helpers used by every backend and by the API: one definition of "normalised".</summary>
public static class VectorMath
{
    /// <summary>L2-normalises in place. A zero vector stays zero rather than becoming NaN.</summary>
    public static void Normalize(Span<float> v)
    {
        var norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, v);
    }

    /// <summary>
    /// Matryoshka truncation: the first <paramref name="dimensions"/> values, L2-renormalised (a copy).
    /// Asking for the native length returns a normalised copy of the whole vector.
    /// </summary>
    public static float[] Truncate(ReadOnlySpan<float> full, int dimensions)
    {
        if (dimensions <= 0 || dimensions > full.Length) throw new ArgumentOutOfRangeException(nameof(dimensions));
        var result = full[..dimensions].ToArray();
        Normalize(result);
        return result;
    }

    /// <summary>True when every value is finite: NaN/Inf vectors are backend errors, never answers.</summary>
    public static bool IsFinite(ReadOnlySpan<float> v)
    {
        foreach (var x in v) if (!float.IsFinite(x)) return false;
        return true;
    }

    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.CosineSimilarity(a, b);

    /// <summary>Packs vectors as little-endian float32 bytes, the wire and cache format.</summary>
    public static byte[] Pack(IReadOnlyList<float[]> vectors, int dimensions)
    {
        var bytes = new byte[vectors.Count * dimensions * sizeof(float)];
        for (var i = 0; i < vectors.Count; i++)
        {
            if (vectors[i].Length != dimensions) throw new ArgumentException($"vector {i} has {vectors[i].Length} values, expected {dimensions}");
            WriteLittleEndian(vectors[i], bytes.AsSpan(i * dimensions * sizeof(float)));
        }
        return bytes;
    }

    public static float[] Unpack(ReadOnlySpan<byte> bytes)
    {
        var v = new float[bytes.Length / sizeof(float)];
        if (BitConverter.IsLittleEndian) bytes[..(v.Length * sizeof(float))].CopyTo(MemoryMarshal.AsBytes(v.AsSpan()));
        else for (var i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        return v;
    }

    public static void WriteLittleEndian(ReadOnlySpan<float> v, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(v).CopyTo(destination);
        else for (var i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], v[i]);
    }
}
