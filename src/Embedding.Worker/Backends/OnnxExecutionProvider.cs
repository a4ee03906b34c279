using Embedding.Worker.Model;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Embedding.Worker.Backends;

/// <summary>
/// The ONNX Runtime session settings for where a tier's model runs (Worker:Onnx:Device, DeviceId). CUDA needs a worker
/// built with <c>-p:OnnxRuntimeGpu=true</c> (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux) and the CUDA 13 and cuDNN 9
/// libraries on the library path; where either is missing the model is unavailable with a reason that says which, so
/// the tier answers 503 model_unavailable instead of silently running a GPU tier on the CPU.
/// </summary>
public static class OnnxExecutionProvider
{
    public const string Cuda = "CUDAExecutionProvider";

    public static SessionOptions CreateSessionOptions(OnnxBackendOptions options) =>
        CreateSessionOptions(options, OrtEnv.Instance().GetAvailableProviders());

    /// <param name="availableProviders">The providers this build of ONNX Runtime was compiled with.</param>
    public static SessionOptions CreateSessionOptions(OnnxBackendOptions options, IReadOnlyCollection<string> availableProviders)
    {
        var session = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        try
        {
            if (options.IntraOpThreads > 0) session.IntraOpNumThreads = options.IntraOpThreads;
            if (!string.IsNullOrEmpty(options.ProfilePrefix))
            {
                // The prefix first: enabling passes the prefix set at that moment to ONNX Runtime.
                session.ProfileOutputPathPrefix = options.ProfilePrefix;
                session.EnableProfiling = true;
            }
            if (options.Device == OnnxDevice.Cuda) AppendCuda(session, options.DeviceId, availableProviders);
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static void AppendCuda(SessionOptions session, int deviceId, IReadOnlyCollection<string> availableProviders)
    {
        if (!availableProviders.Contains(Cuda))
            throw new ModelUnavailableException(
                $"Worker:Onnx:Device is Cuda, but this worker's ONNX Runtime has no CUDA provider (it has {string.Join(", ", availableProviders)}): " +
                "build or publish the worker with -p:OnnxRuntimeGpu=true.");
        try
        {
            // Loads libonnxruntime_providers_cuda.so, which loads CUDA and cuDNN: a missing library fails here, not at the first batch.
            session.AppendExecutionProvider_CUDA(deviceId);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException)  // the CPU package's library has no CUDA entry point
        {
            throw new ModelUnavailableException(
                $"ONNX Runtime's CUDA provider could not start on GPU {deviceId}: {ex.Message.Trim()} " +
                "(it needs an NVIDIA driver, CUDA 13 and cuDNN 9 on LD_LIBRARY_PATH).", ex);
        }
    }
}
