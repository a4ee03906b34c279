using System.Collections.Concurrent;

namespace Embedding.Api.Services;

/// <summary>
/// Which vectors of a tier the cache may answer with: those made by the tier's configured numerics
/// (<see cref="Contracts.ModelIdentity.Numerics"/>, <c>Api:Models:N:Numerics</c>); where none is configured, by the
/// identity its workers last answered with (learned in process; "" until the first answer, which its own request then
/// stores under). Answers are always stored under the identity that made them, so a lookup never returns a vector
/// another backend made.
/// </summary>
public sealed class TierNumerics
{
    private readonly ConcurrentDictionary<string, string> _learned = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The identity lookups for <paramref name="model"/> use.</summary>
    public string ForLookup(ModelOptions model) =>
        !string.IsNullOrEmpty(model.Numerics) ? model.Numerics : _learned.GetValueOrDefault(model.Name, "");

    /// <summary>Notes the identity a worker answered for <paramref name="model"/> with; configured identities are not replaced.</summary>
    public void Learn(ModelOptions model, string? numerics)
    {
        if (string.IsNullOrEmpty(model.Numerics) && !string.IsNullOrEmpty(numerics)) _learned[model.Name] = numerics;
    }
}
