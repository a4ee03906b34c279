namespace Embedding.Worker;

/// <summary>Where an ONNX model runs (Worker:Onnx:Device).</summary>
public enum OnnxDevice
{
    /// <summary>ONNX Runtime's CPU provider: every build of the worker has it.</summary>
    Cpu,

    /// <summary>ONNX Runtime's CUDA provider on the GPU Worker:Onnx:DeviceId: a worker built with -p:OnnxRuntimeGpu=true.</summary>
    Cuda,
}
