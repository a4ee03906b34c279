namespace Embedding.Api.Services;

/// <summary>What every parsed model request names: the model it resolved to, and the name the client sent (echoed back).</summary>
public interface IModelRequest
{
    ModelOptions Model { get; }
    string RequestedModel { get; }
}
