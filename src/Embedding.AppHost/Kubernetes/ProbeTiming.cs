namespace Embedding.AppHost.Kubernetes;

/// <summary>How a slow health endpoint is probed: every <see cref="PeriodSeconds"/>, each try allowed <see cref="TimeoutSeconds"/>, and <see cref="StartupSeconds"/> in all to come up.</summary>
public sealed record ProbeTiming(int PeriodSeconds, int TimeoutSeconds, int StartupSeconds)
{
    public int StartupFailureThreshold => Math.Max(1, (StartupSeconds + PeriodSeconds - 1) / PeriodSeconds);
}
