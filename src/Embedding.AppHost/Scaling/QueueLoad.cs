namespace Embedding.AppHost.Scaling;

/// <summary>What an autoscaler reads from a queue: its depth (ready + unacknowledged) and the rate messages are published at.</summary>
public readonly record struct QueueLoad(int Depth, double PublishRate);
