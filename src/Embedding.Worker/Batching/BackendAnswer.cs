using Embedding.Contracts;

namespace Embedding.Worker.Batching;

/// <summary>Backends' answers are checked in one place, the batcher: a wrong count, length or a NaN is an error, never an answer.</summary>
public static class BackendAnswer
{
    /// <summary>What is wrong with <paramref name="vectors"/> for <paramref name="expected"/> texts; null when nothing.</summary>
    public static string? Problem(float[][] vectors, int expected, int dimensions)
    {
        if (vectors.Length != expected) return $"Backend returned {vectors.Length} vectors for {expected} texts.";
        foreach (var v in vectors)
        {
            if (v is null || v.Length != dimensions) return $"Backend returned a vector of {v?.Length ?? 0} values, expected {dimensions}.";
            if (!VectorMath.IsFinite(v)) return "Backend returned a vector with NaN or infinite values.";
        }
        return null;
    }
}
