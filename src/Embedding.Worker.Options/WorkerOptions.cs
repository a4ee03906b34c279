using System.ComponentModel.DataAnnotations;

namespace Embedding.Worker;

/// <summary>The model engines a worker serves with.</summary>
public enum BackendKind
{
    /// <summary>
    /// Qwen3-Embedding exported to ONNX, run in-process (CPU, or a GPU through ONNX Runtime's CUDA provider); on a
    /// reranker worker, Qwen3-Reranker in the form tools/gpu-export/export_qwen3_reranker.py writes (docs/reranking.md).
    /// </summary>
    Onnx,
    /// <summary>An OpenAI-compatible /v1/embeddings server, e.g. SGLang serving Qwen3-Embedding-4B on a GPU.</summary>
    OpenAI,
}

/// <summary>Stand-ins for a model, for tests and benchmarks: never a value of <see cref="WorkerOptions.Backend"/>.</summary>
public enum StandInKind
{
    /// <summary>
    /// A FAKE backend that returns hash-derived vectors after a fixed delay (a reranker worker: word-overlap scores,
    /// Backends/FakeReranker.cs). For measuring our own overhead only.
    /// </summary>
    Fake,
    /// <summary>A SIMULATED GPU engine following the measured latency model. For measuring batching only.</summary>
    SimulatedGpu,
}

/// <summary>Every knob of a worker, bound from the "Worker" configuration section and validated at start.</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>The model (tier) name this worker serves; its queue is derived from it.</summary>
    [Required] public string Model { get; set; } = "qwen3-embedding-tiny-test";

    /// <summary>
    /// What the model does: an embedding worker answers EmbedTexts, a reranker worker ScorePairs (its backend scores
    /// query-document pairs). The tier plan sets it from the tier's <see cref="Embedding.Contracts.ModelKind"/>.
    /// </summary>
    public Embedding.Contracts.ModelKind Kind { get; set; } = Embedding.Contracts.ModelKind.Embedding;

    public BackendKind Backend { get; set; } = BackendKind.Onnx;

    /// <summary>Set only by tests and benchmarks: a stand-in answers instead of <see cref="Backend"/>, with a loud warning.</summary>
    public StandInKind? StandIn { get; set; }

    /// <summary>What computes this worker's vectors, as its traces name it: the stand-in where one is set, else the backend.</summary>
    public string BackendName => StandIn?.ToString() ?? Backend.ToString();

    /// <summary>Batch budget in tokens; padded tokens count when the backend pads (the ONNX backend does).</summary>
    [Range(16, 1_000_000)] public int MaxBatchTokens { get; set; } = 8192;

    [Range(1, 4096)] public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long the first text of a batch may wait for company while another batch is running and a slot is free
    /// (MaxConcurrentBatches above 1). An idle worker runs a batch at once, whatever this says.
    /// </summary>
    [Range(0, 10_000)] public int MaxWaitMilliseconds { get; set; } = 5;

    /// <summary>
    /// For a backend that pads (the ONNX backend), the largest share of a batch's padded tokens that may be padding: a
    /// batch takes waiting texts of lengths close to its oldest text's, and closes before mixing short texts with long
    /// ones. On CPU, random-length batches cost about twice what length-sorted ones do per text (tiny model, 16-64 words:
    /// 1.9 vs 1.0 ms, bench/results/latency-2026-12-02.md). 1 = no limit (fill by arrival order only).
    /// </summary>
    [Range(0.0, 1.0)] public double MaxPaddingShare { get; set; } = 0.25;

    /// <summary>Batches run at once: 1 keeps CPU inference cache-friendly; an HTTP engine likes a few in flight.</summary>
    [Range(1, 64)] public int MaxConcurrentBatches { get; set; } = 1;

    /// <summary>Messages held unacknowledged at once (RabbitMQ prefetch and MassTransit concurrency).</summary>
    [Range(1, 10_000)] public int PrefetchCount { get; set; } = 64;

    /// <summary>
    /// RabbitMQ consumer priority on the tier's queue: a worker with a lower value gets messages only while every
    /// higher one is busy (prefetch full) or absent. A CPU standby beside GPU workers uses -1: it serves the trickle while
    /// the GPUs are scaled to zero, and steps aside when they run.
    /// </summary>
    [Range(-100, 100)] public int ConsumerPriority { get; set; }

    /// <summary>How this worker shows in metrics (<c>embedding.worker.role</c>): a standby or a regular worker.</summary>
    public string Role => ConsumerPriority < 0 ? "standby" : "primary";

    public OnnxBackendOptions Onnx { get; set; } = new();
    public HubOptions Hub { get; set; } = new();
    public OpenAIBackendOptions OpenAI { get; set; } = new();
    public FakeBackendOptions Fake { get; set; } = new();
    public SimulatedGpuOptions SimulatedGpu { get; set; } = new();
}

public sealed class OnnxBackendOptions
{
    /// <summary>A directory with config.json, tokenizer.json (or vocab.json + merges.txt) and the ONNX file (an embedding or a reranker export, as Kind says).</summary>
    public string? ModelPath { get; set; }

    /// <summary>
    /// Which ONNX file of the export to run, relative to the model directory: e.g. onnx/model_quantized.onnx (8-bit),
    /// onnx/model_fp16.onnx. Empty: model.onnx, or onnx/model.onnx.
    /// </summary>
    public string? OnnxFile { get; set; }

    /// <summary>Hugging Face repository to download from when <see cref="ModelPath"/> is empty, e.g. Qdrant/Qwen3-Embedding-0.6B-onnx.</summary>
    public string? HubRepository { get; set; }

    /// <summary>A commit of <see cref="HubRepository"/>: pin one, so that every replica serves the same files.</summary>
    public string HubRevision { get; set; } = "main";

    /// <summary>Context limit in tokens (a reranker's: per pair, prompt included); 0 = read max_position_embeddings from config.json.</summary>
    [Range(0, 1_000_000)] public int MaxInputTokens { get; set; }

    /// <summary>
    /// The accuracy level the CPU runs weight-only quantized files' MatMulNBits nodes at, set on the nodes at load: 4 =
    /// int8 arithmetic (activations quantized to int8 per block of 32, int32 sums; what makes an 8-bit file faster than
    /// FP32 for one short text), 0 = fp32 arithmetic on weights dequantized at every call (what the public
    /// model_quantized.onnx says); -1 = as the file says. ONNX Runtime falls back to the nearest more accurate level a
    /// CPU has kernels for. No effect on files without MatMulNBits or on CUDA. See docs/models.md.
    /// </summary>
    [Range(-1, 4)] public int MatMulNBitsAccuracyLevel { get; set; } = 4;

    /// <summary>
    /// How the CPU runs a weight-only 8-bit file (MatMulNBits bits 8, the public model_quantized.onnx): DynamicInt8 =
    /// rewritten at load into ONNX Runtime's dynamic int8 form (activations quantized per call and per tensor, int8
    /// weights per output column); MatMulNBits = the file's nodes at <see cref="MatMulNBitsAccuracyLevel"/>; Auto =
    /// DynamicInt8 where the CPU's u8s8 kernel takes 8-bit weights (VNNI), else MatMulNBits. Nodes the rewrite cannot
    /// take (other bit widths) keep MatMulNBits. No effect on CUDA. See docs/models.md.
    /// </summary>
    public Int8Form Int8Form { get; set; } = Int8Form.Auto;

    /// <summary>
    /// The int8 weights' range in the DynamicInt8 form: Auto = 8-bit where ONNX Runtime's u8s8 kernel sums in int32
    /// (VNNI), 7-bit where it saturates int16 pair sums (x86-64 without VNNI); Full or Reduced force one.
    /// </summary>
    public DynamicInt8WeightRange DynamicInt8WeightRange { get; set; } = DynamicInt8WeightRange.Auto;

    /// <summary>ONNX Runtime intra-op threads; 0 = one per core.</summary>
    [Range(0, 256)] public int IntraOpThreads { get; set; }

    /// <summary>
    /// Where set, ONNX Runtime's profiler runs and writes one JSON trace of every operator call per session, to
    /// <c>&lt;prefix&gt;_&lt;date-time&gt;.json</c> when the session ends; summarise it with bench/cpu/profile_summary.py. For
    /// diagnosis only: it adds about 10 µs to every operator.
    /// </summary>
    public string? ProfilePrefix { get; set; }

    /// <summary>
    /// Where the model runs: Cpu, or Cuda (ONNX Runtime's CUDA provider; needs a worker built with
    /// <c>-p:OnnxRuntimeGpu=true</c>, CUDA 13 and cuDNN 9 on the library path).
    /// </summary>
    public OnnxDevice Device { get; set; } = OnnxDevice.Cpu;

    /// <summary>The CUDA device (ordinal) the model runs on, with <see cref="Device"/> Cuda.</summary>
    [Range(0, 63)] public int DeviceId { get; set; }

    /// <summary>
    /// Threads that read the model's files into the page cache while the session starts; 0 = off. On the H200 host's
    /// local disk 8 threads did not shorten a cold start (7.5 s vs 7.9 s, within run-to-run spread:
    /// bench/results/cuda-onnx-2026-12-02.md), so it is off unless a disk is shown to read faster in parallel.
    /// </summary>
    [Range(0, 64)] public int PrefetchThreads { get; set; }
}

/// <summary>Where models and tokenizers are downloaded from, and kept. Hugging Face's own variables set the defaults.</summary>
public sealed class HubOptions
{
    /// <summary>The hub, or a mirror of it (HF_ENDPOINT).</summary>
    [Required] public string Endpoint { get; set; } = Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } mirror ? mirror : "https://huggingface.co";

    /// <summary>A token for gated or private repositories (HF_TOKEN); sent to the hub only, never to its file storage.</summary>
    public string? Token { get; set; } = Environment.GetEnvironmentVariable("HF_TOKEN");

    /// <summary>Where downloaded files are kept between runs.</summary>
    [Required] public string CacheDirectory { get; set; } = Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "embedding-service", "models");
}

public sealed class OpenAIBackendOptions
{
    /// <summary>Base URL of the engine, e.g. http://localhost:30000 for sglang.launch_server.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>Model name the engine serves (SGLang: the --model-path or --served-model-name).</summary>
    public string? Model { get; set; }

    public string? ApiKey { get; set; }

    [Range(1, 3600)] public int TimeoutSeconds { get; set; } = 60;

    [Range(1, 1_000_000)] public int Dimensions { get; set; } = 2560;

    /// <summary>
    /// The engine's context length (SGLang: <c>--context-length</c>, else the model's max_position_embeddings), as the
    /// engine counts it. SGLang refuses an input of <c>context_len</c> tokens or more
    /// (<c>input_token_num &gt;= context_len</c>, managers/tokenizer_manager.py), so the longest usable input is one less:
    /// <see cref="MaxInputTokens"/>.
    /// </summary>
    [Range(2, 1_000_001)] public int ContextLength { get; set; } = 32768;

    /// <summary>The longest input the engine accepts, end-of-sequence token included: <see cref="ContextLength"/> - 1.</summary>
    public int MaxInputTokens => ContextLength - 1;

    /// <summary>
    /// The engine's numeric type (SGLang: <c>--dtype</c>, e.g. bfloat16, float32; auto: the checkpoint's). Part of what
    /// identifies this tier's vectors (<see cref="Backends.BackendNumerics"/>): bf16 and float32 vectors differ.
    /// </summary>
    [Required] public string Dtype { get; set; } = "auto";

    /// <summary>
    /// A local directory with the engine model's tokenizer (tokenizer.json), for exact token counts. Empty: the tokenizer
    /// is fetched from the hub repository named <see cref="Model"/> (a few MB); where that fails, counts are estimated.
    /// </summary>
    public string? TokenizerPath { get; set; }

    /// <summary>The revision of <see cref="Model"/>'s repository to take the tokenizer from.</summary>
    public string TokenizerRevision { get; set; } = "main";
}

public sealed class FakeBackendOptions
{
    [Range(1, 100_000)] public int Dimensions { get; set; } = 1024;
    [Range(1, 1_000_000)] public int MaxInputTokens { get; set; } = 8192;

    /// <summary>Simulated time per batch, e.g. to hold a batch in flight in tests.</summary>
    [Range(0, 600_000)] public int DelayMilliseconds { get; set; }
}

/// <summary>The latency model of one GPU engine; defaults: Qwen3-Embedding-4B on an H100 (measured, bench/results/gpu-batches-2026-11-25.md).</summary>
public sealed class SimulatedGpuOptions
{
    private static readonly Embedding.Scaling.GpuLatencyModel Measured = new();

    /// <summary>Shortest forward pass (CUDA-graph floor: 8.6 ms for the 4B).</summary>
    [Range(0.01, 10_000)] public double FloorMilliseconds { get; set; } = Measured.FloorMilliseconds;

    /// <summary>Saturated throughput (about 48k tokens/s for the 4B).</summary>
    [Range(1, 100_000_000)] public double PeakTokensPerSecond { get; set; } = Measured.PeakTokensPerSecond;

    /// <summary>Extra time for attention at 8k-token sequences (0.15 = 15%).</summary>
    [Range(0, 10)] public double SlowdownAt8kTokens { get; set; } = Measured.SlowdownAt8kTokens;

    /// <summary>False for engines that pack sequences (SGLang); true for padded batches.</summary>
    public bool PadsBatches { get; set; }

    /// <summary>Vector length and longest input: the engine's it simulates (<see cref="OpenAIBackendOptions"/>' defaults).</summary>
    [Range(1, 100_000)] public int Dimensions { get; set; } = Engine.Dimensions;
    [Range(1, 1_000_000)] public int MaxInputTokens { get; set; } = Engine.MaxInputTokens;

    private static readonly OpenAIBackendOptions Engine = new();
}
