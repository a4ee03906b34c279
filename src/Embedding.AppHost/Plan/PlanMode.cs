namespace Embedding.AppHost;

/// <summary>Whether the plan is for processes run here (`dotnet run`) or for a deployment (a manifest, Kubernetes, Azure).</summary>
public enum PlanMode { Run, Publish }
