namespace Embedding.Api.Batches;

/// <summary>
/// Where the bytes of files and of running jobs' output live: <c>files/</c> (uploads and published outputs, named by
/// file id) and <c>work/</c> (uploads being received, jobs' output being written), under
/// <see cref="BatchOptions.StoragePath"/>. Every API replica sharing a database must reach the same directory (a
/// ReadWriteMany volume in Kubernetes, an Azure Files share on Container Apps).
/// </summary>
public sealed class BatchStorageDirectory(string root)
{
    public string Root { get; } = Path.GetFullPath(root);
    public string FilesDirectory => Path.Combine(Root, "files");
    public string WorkDirectory => Path.Combine(Root, "work");
    public string PathOf(string fileId) => Path.Combine(FilesDirectory, fileId);
    public string NewTempPath() => Path.Combine(WorkDirectory, $"upload-{Guid.NewGuid():N}.tmp");

    public void Create()
    {
        System.IO.Directory.CreateDirectory(FilesDirectory);
        System.IO.Directory.CreateDirectory(WorkDirectory);
    }

    /// <summary>Moves an upload or a job's output into <c>files/</c> under <paramref name="id"/>; its length.</summary>
    public long Keep(string tempPath, string id)
    {
        if (File.Exists(tempPath)) File.Move(tempPath, PathOf(id), overwrite: true);
        return new FileInfo(PathOf(id)).Length;
    }
}
