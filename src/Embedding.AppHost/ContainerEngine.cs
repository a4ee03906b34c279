namespace Embedding.AppHost;

/// <summary>Whether a container engine (Docker or Podman) is reachable, not merely its client installed.</summary>
public static class ContainerEngine
{
    public static bool IsAvailable()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 }) return true;
        string[] sockets = ["/var/run/docker.sock", "/run/podman/podman.sock",
            $"/run/user/{Environment.GetEnvironmentVariable("UID") ?? "0"}/podman/podman.sock"];
        return sockets.Any(File.Exists) || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();
    }
}
