namespace Embedding.AppHost;

/// <summary>
/// A CPU standby: the tier's own model as an ONNX export, on the tier's queue with a lower consumer priority, so RabbitMQ
/// hands it messages only while no GPU worker can take them: it serves nights and lulls, and the first seconds of a GPU's
/// cold start. Its vectors are the export's (an 8-bit export's differ slightly from the engine's bf16 ones). Give the
/// tier's scaling an activation threshold above what the CPU serves (tools/Embedding.Simulator measures the trade).
/// </summary>
public sealed class StandbySettings
{
    /// <summary>The standby's own ONNX export (<see cref="OnnxModelSource"/>); unset: the tier's (<see cref="TierSettings.CpuModel"/>).</summary>
    public string? OnnxModelPath { get; set; }
    public string? HubRepository { get; set; }
    public string? HubRevision { get; set; }
    public string? OnnxFile { get; set; }
    public int Replicas { get; set; } = 1;

    public OnnxModelSource? ModelOf(TierSettings tier) => OnnxModelSource.From(OnnxModelPath, HubRepository, HubRevision, OnnxFile) ?? tier.CpuModel;
}
