using System.Text.Json;
using Embedding.Contracts;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

/// <summary>
/// Where an ONNX tier runs (Worker:Onnx:Device) and the graphs tools/gpu-export writes for the GPU, on the CPU build
/// CI has: the CUDA choice is bound and refused with its reason where the build has no CUDA provider, graphs that are
/// no hidden state are refused, and the exporter's graph (GroupQueryAttention, fused norms, pooling inside) gives the
/// float32 reference's vectors through the backend.
/// </summary>
public sealed class OnnxDeviceTests
{
    private static string OverflowModel => Path.Combine(TestEnvironment.RepoRoot, "models", "qwen3-tiny-fp16-overflow");

    [Fact]
    public void Device_and_device_id_bind_from_configuration_and_default_to_the_cpu()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Worker:Onnx:Device"] = "Cuda",
            ["Worker:Onnx:DeviceId"] = "1",
        }).Build();

        var bound = configuration.GetSection(WorkerOptions.SectionName).Get<WorkerOptions>()!;

        Assert.Equal(OnnxDevice.Cuda, bound.Onnx.Device);
        Assert.Equal(1, bound.Onnx.DeviceId);
        Assert.Equal(OnnxDevice.Cpu, new OnnxBackendOptions().Device);
    }

    [Fact]
    public void Cuda_without_the_cuda_provider_is_refused_with_the_build_flag_to_use()
    {
        var options = new OnnxBackendOptions { Device = OnnxDevice.Cuda };

        var refused = Assert.Throws<ModelUnavailableException>(() => OnnxExecutionProvider.CreateSessionOptions(options, ["CPUExecutionProvider"]));

        Assert.Contains("no CUDA provider", refused.Message);
        Assert.Contains("-p:OnnxRuntimeGpu=true", refused.Message);
        using var cpu = OnnxExecutionProvider.CreateSessionOptions(new OnnxBackendOptions(), ["CPUExecutionProvider"]);
    }

    [Fact]
    public void Cuda_provider_that_cannot_start_is_a_model_unavailable_reason_not_a_crash()
    {
        // This build's native library says it has no CUDA; a GPU build without CUDA's libraries fails at the same call.
        var options = new OnnxBackendOptions { Device = OnnxDevice.Cuda, DeviceId = 0 };

        var refused = Assert.Throws<ModelUnavailableException>(() => OnnxExecutionProvider.CreateSessionOptions(options, [OnnxExecutionProvider.Cuda, "CPUExecutionProvider"]));

        Assert.Contains("CUDA provider could not start on GPU 0", refused.Message);
    }

    [Fact]
    public async Task A_cuda_tier_on_a_cpu_build_loads_as_unavailable_with_the_reason()
    {
        var worker = new WorkerOptions { Onnx = { ModelPath = TestEnvironment.TinyModel, Device = OnnxDevice.Cuda } };
        using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var loader = new BackendLoader(Options.Create(worker), new ModelFiles(new HttpClient(), NullLogger<ModelFiles>.Instance),
            services.GetRequiredService<IHttpClientFactory>(), NullLogger<BackendLoader>.Instance);

        var backend = await loader.LoadAsync(CancellationToken.None);

        var unavailable = Assert.IsType<UnavailableBackend>(backend);
        Assert.Contains("CUDA", unavailable.Reason);
    }

    [Fact]
    public void A_graph_whose_output_is_not_hidden_size_wide_is_refused_at_load()
    {
        var directory = Path.Combine(TestEnvironment.TinyExports, "qwen3-tiny-causallm");

        var refused = Assert.Throws<InvalidDataException>(() => new OnnxQwen3Backend(directory, new OnnxBackendOptions()));

        Assert.Contains("'logits' has 1013 values per token", refused.Message);
        Assert.Contains("hidden_size is 128", refused.Message);
        Assert.True(ModelUnavailableException.Explains(refused));  // so the tier answers 503 model_unavailable with it
    }

    public static TheoryData<string> ExporterGraphs() => new() { "fp32", "" };

    /// <summary>
    /// The exporter's graph of a model whose residual stream reaches 2e5 (fp16's largest is 65504): "fp32" is the
    /// all-float32 graph, "" the GPU form (fp16 MatMuls and attention, fp32 residual stream and norms, the overflowing
    /// MLP kept in fp32 by calibration). Vectors come pooled and normalised from the graph. The CPU provider has no fp16
    /// kernels for most of these ops and runs them in fp32 (ONNX Runtime inserts the casts), so here this proves the
    /// graph and the backend's handling of it; that fp16 stays finite is shown on CUDA (bench/gpu/onnx_cuda.sh, which
    /// runs the all-fp16 form beside it).
    /// </summary>
    [Theory]
    [MemberData(nameof(ExporterGraphs))]
    public async Task Exporter_graph_matches_the_float32_reference_in_a_padded_batch(string form)
    {
        var directory = Path.Combine(OverflowModel, form);
        using var backend = new OnnxQwen3Backend(directory, new OnnxBackendOptions());
        var reference = Reference(out var ids);
        var inputs = ids.Select(i => new TokenizedText("", i, i.Length)).ToList();

        var vectors = await backend.EmbedAsync(inputs, CancellationToken.None);

        for (var i = 0; i < inputs.Count; i++)
        {
            Assert.All(vectors[i], x => Assert.True(float.IsFinite(x)));
            var cosine = VectorMath.Cosine(vectors[i], reference[i]);
            Assert.True(cosine >= 0.999, $"text {i} ({ids[i].Length} tokens): cosine {cosine} to the float32 reference");
        }
    }

    private static List<float[]> Reference(out List<int[]> ids)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(OverflowModel, "reference.json")));
        var embeddings = doc.RootElement.GetProperty("embeddings").EnumerateArray().ToList();
        ids = embeddings.Select(e => e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToList();
        return embeddings.Select(e => e.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToList();
    }
}
