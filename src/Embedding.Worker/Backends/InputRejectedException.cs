namespace Embedding.Worker.Backends;

/// <summary>
/// The engine refused an input as invalid (an HTTP 4xx other than 408 and 429): asking again cannot help, unlike a
/// <see cref="BackendException"/>. The batcher embeds a refused batch's texts one by one, so only the text the engine
/// refuses fails, and its request is answered with a 400 naming <see cref="Reason"/>.
/// </summary>
public sealed class InputRejectedException(string reason, int index = -1) : Exception($"The model engine refused the input: {reason}")
{
    /// <summary>What the engine said, e.g. SGLang's "Input at index 0 cannot be empty or whitespace only".</summary>
    public string Reason { get; } = reason;

    /// <summary>Which text of the caller's texts was refused, or -1 where it is not known.</summary>
    public int Index { get; } = index;

    /// <summary>The same refusal, pointed at the caller's text <paramref name="index"/>.</summary>
    public InputRejectedException At(int index) => new(Reason, index);
}
