namespace Embedding.AppHost;

/// <summary>A volume a worker's model lives on when deployed.</summary>
public sealed record ModelVolume(string Name, string Target, bool ReadOnly);
