using System.Text.Json;
using Embedding.Contracts;
using Embedding.Worker.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Embedding.Worker.Backends;

/// <summary>
/// Qwen3-Embedding exported to ONNX, run in-process with ONNX Runtime on CPU or CUDA (Worker:Onnx:Device): right-padded
/// batches, the hidden state of each text's last token (&lt;|endoftext|&gt;), L2-normalised. It serves every shape the public exports come in by
/// reading the graph instead of assuming one: it feeds the inputs the graph declares (input_ids and attention_mask;
/// position_ids; empty past_key_values.* for exports made with a KV cache) in their declared element types (int64 or
/// int32 ids, fp32 or fp16 caches), reads an fp32 or fp16 hidden state (last_hidden_state, else the first output;
/// an already pooled [batch, hidden] output is taken as it is), and runs a graph whose batch dimension is fixed at 1
/// row by row. Inputs and outputs go through an IO binding whose outputs live in CPU memory: a graph that pools inside
/// (tools/gpu-export, [batch, hidden]) sends back only the pooled vectors from the GPU. A graph that outputs
/// last_hidden_state sends back the whole [batch, seq, hidden] and is pooled here: ONNX Runtime's C# API copies whole
/// tensors between devices only, so pooling on the GPU needs the pooling in the graph.
/// </summary>
public sealed class OnnxQwen3Backend : IEmbeddingBackend, IDisposable
{
    private readonly InferenceSession _session;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly string _outputName;
    private readonly bool _outputIsPooled, _outputIsHalf, _wantsPositionIds;
    private readonly bool _batchOfOne;
    private readonly Dictionary<string, NodeMetadata> _inputs;
    private readonly int _kvHeads, _headDim;

    public int Dimensions { get; }
    public string Numerics { get; }
    public int MaxInputTokens { get; }
    public bool PadsBatches => true;

    /// <summary>The ONNX file this backend runs, relative to the model directory.</summary>
    public string ModelFile { get; }

    /// <summary>
    /// MatMulNBits nodes whose accuracy level was set at load (Worker:Onnx:MatMulNBitsAccuracyLevel); 0 when the file
    /// was run as it is.
    /// </summary>
    public int MatMulNBitsNodesRewritten { get; }

    /// <summary>
    /// MatMulNBits nodes rewritten at load into the dynamic int8 form (Worker:Onnx:Int8Form DynamicInt8), and their
    /// weights' bits (8, or 7 where the CPU's u8s8 kernel would saturate); 0 when none.
    /// </summary>
    public int DynamicInt8NodesRewritten { get; }
    public int DynamicInt8WeightBits { get; }

    /// <summary>8-bit MatMulNBits nodes the dynamic int8 rewrite left as they are, each with why.</summary>
    public IReadOnlyList<string> NodesLeftAsIs { get; } = [];

    /// <summary>Where the model runs.</summary>
    public OnnxDevice Device { get; }

    public OnnxQwen3Backend(string modelDirectory, OnnxBackendOptions options)
    {
        _tokenizer = new Qwen3Tokenizer(modelDirectory);
        using (var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(modelDirectory, "config.json"))))
        {
            var root = config.RootElement;
            Dimensions = root.GetProperty("hidden_size").GetInt32();
            // The KV cache's shape, for graphs that leave it symbolic: [batch, kv_heads, past, head_dim].
            var heads = root.TryGetProperty("num_attention_heads", out var h) ? h.GetInt32() : 1;
            _kvHeads = root.TryGetProperty("num_key_value_heads", out var kv) ? kv.GetInt32() : heads;
            _headDim = root.TryGetProperty("head_dim", out var hd) && hd.ValueKind == JsonValueKind.Number ? hd.GetInt32() : Dimensions / Math.Max(1, heads);
            MaxInputTokens = options.MaxInputTokens > 0 ? options.MaxInputTokens
                : root.TryGetProperty("max_position_embeddings", out var m) ? m.GetInt32() : 8192;
        }

        ModelFile = FindModelFile(modelDirectory, options.OnnxFile);
        Numerics = BackendNumerics.Onnx(options, modelDirectory, ModelFile);
        Device = options.Device;
        var path = Path.Combine(modelDirectory, ModelFile);
        using var prefetching = new CancellationTokenSource();
        var prefetch = PageCachePrefetch.RunAsync(PageCachePrefetch.FilesOf(path), options.PrefetchThreads, prefetching.Token);
        try
        {
            using var sessionOptions = OnnxExecutionProvider.CreateSessionOptions(options);
            var rewrite = CpuModelRewrite.For(path, options, Numerics);
            if (rewrite.Model is null)
                _session = new InferenceSession(path, sessionOptions);
            else
            {
                // Loaded from memory: ONNX Runtime finds the external weights (model.onnx_data) through this folder.
                sessionOptions.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", Path.GetDirectoryName(Path.GetFullPath(path))!);
                _session = new InferenceSession(rewrite.Model, sessionOptions);
            }
            (Numerics, MatMulNBitsNodesRewritten, DynamicInt8NodesRewritten, DynamicInt8WeightBits, NodesLeftAsIs) =
                (rewrite.Numerics, rewrite.MatMulNBitsNodes, rewrite.DynamicInt8Nodes, rewrite.DynamicInt8WeightBits, rewrite.LeftAsIs);
        }
        finally
        {
            prefetching.Cancel();
            try { prefetch.Wait(); } catch (AggregateException) { }  // read-ahead only: the session read what it needed
        }

        _inputs = _session.InputMetadata.ToDictionary(i => i.Key, i => i.Value);
        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!_inputs.ContainsKey(required))
                throw new InvalidDataException($"{ModelFile} has no '{required}' input; inputs: {string.Join(", ", _inputs.Keys)}.");
        foreach (var (name, meta) in _inputs)
            if (name is not ("input_ids" or "attention_mask" or "position_ids") && !name.StartsWith("past_key_values", StringComparison.Ordinal))
                throw new InvalidDataException($"{ModelFile} has an input this backend cannot fill: '{name}'.");
        _batchOfOne = _inputs["input_ids"].Dimensions is [1, ..];
        _wantsPositionIds = _inputs.ContainsKey("position_ids");

        _outputName = _session.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _session.OutputNames[0];
        var output = _session.OutputMetadata[_outputName];
        if (output.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16))
            throw new InvalidDataException($"{ModelFile}: output '{_outputName}' is {output.ElementDataType}; fp32 or fp16 expected.");
        _outputIsPooled = output.Dimensions.Length == 2;
        _outputIsHalf = output.ElementDataType == TensorElementType.Float16;
        if (output.Dimensions is [.., > 0 and var width] && width != Dimensions)
            throw NotHiddenState(_outputName, width);
    }

    /// <summary>
    /// An output of another width than hidden_size is no hidden state: e.g. a CausalLM export, whose first output is the
    /// logits over the vocabulary. Pooling it would give vectors of the wrong size and no meaning.
    /// </summary>
    private InvalidDataException NotHiddenState(string output, long width) => new(
        $"{ModelFile}: output '{output}' has {width} values per token, but config.json's hidden_size is {Dimensions}: it is not the " +
        "model's hidden state (a CausalLM export's logits?). Export the base model (feature-extraction, or tools/gpu-export).");

    /// <summary>
    /// The configured file (e.g. onnx/model_quantized.onnx), else model.onnx at the top or in onnx/ as the exports
    /// place it. Names the files that exist when the configured one does not.
    /// </summary>
    public static string FindModelFile(string modelDirectory, string? configured)
    {
        string[] candidates = string.IsNullOrWhiteSpace(configured) ? ["model.onnx", "onnx/model.onnx"] : [configured];
        foreach (var candidate in candidates)
            if (File.Exists(Path.Combine(modelDirectory, candidate))) return candidate;
        var present = Directory.Exists(modelDirectory)
            ? Directory.EnumerateFiles(modelDirectory, "*.onnx", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(modelDirectory, f)).ToList()
            : [];
        throw new FileNotFoundException($"No {string.Join(" or ", candidates)} in '{modelDirectory}'" +
            (present.Count > 0 ? $"; it has {string.Join(", ", present)} (choose one with Worker:Onnx:OnnxFile)." : "."));
    }

    public TokenizedText Tokenize(string text, bool truncate, int maxTokens = int.MaxValue)
    {
        var ids = _tokenizer.Encode(text);
        var limit = Math.Min(maxTokens, MaxInputTokens);
        if (truncate && ids.Length > limit) ids = _tokenizer.Truncate(ids, limit);
        return new TokenizedText(text, ids, ids.Length);
    }

    public Task<float[][]> EmbedAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken)
    {
        // ONNX Runtime's Run is synchronous and CPU-bound: keep it off the caller's thread.
        return Task.Run(() => _batchOfOne ? batch.Select(t => Embed([t])[0]).ToArray() : Embed(batch), cancellationToken);
    }

    private float[][] Embed(IReadOnlyList<TokenizedText> batch)
    {
        var padded = PaddedBatch.From(batch, _tokenizer.EndOfTextId, _wantsPositionIds);
        var (ids, mask, positions, shape) = (padded.Ids, padded.Mask, padded.Positions, padded.Shape);
        int rows = (int)shape[0], cols = (int)shape[1];
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            foreach (var (name, meta) in _inputs)
            {
                inputs[name] = name switch
                {
                    "input_ids" => PaddedBatch.Tensor(ids, shape, meta),
                    "attention_mask" => PaddedBatch.Tensor(mask, shape, meta),
                    "position_ids" => PaddedBatch.Tensor(positions!, shape, meta),
                    _ => EmptyPast(meta, rows, _kvHeads, _headDim),
                };
            }

            using var runOptions = new RunOptions();
            using var binding = _session.CreateIoBinding();
            foreach (var (name, value) in inputs) binding.BindInput(name, value);
            // Outputs in CPU memory: ONNX Runtime copies them from the device once, after the run.
            binding.BindOutputToDevice(_outputName, OrtMemoryInfo.DefaultInstance);
            binding.SynchronizeBoundInputs();
            _session.RunWithBinding(runOptions, binding);
            binding.SynchronizeBoundOutputs();
            using var outputs = binding.GetOutputValues();
            if (outputs[0].GetTensorTypeAndShape().Shape is [.., var width] && width != Dimensions)
                throw NotHiddenState(_outputName, width);
            var result = new float[rows][];
            for (var r = 0; r < rows; r++)
            {
                // Last-token pooling on <|endoftext|>, unless the graph pooled already.
                var offset = _outputIsPooled ? r * Dimensions : (r * cols + batch[r].TokenIds.Length - 1) * Dimensions;
                var vector = Row(outputs[0], offset);
                VectorMath.Normalize(vector);
                result[r] = vector;
            }
            return result;
        }
        finally
        {
            foreach (var value in inputs.Values) value.Dispose();
        }
    }

    private float[] Row(OrtValue output, int offset)
    {
        if (!_outputIsHalf) return output.GetTensorDataAsSpan<float>().Slice(offset, Dimensions).ToArray();
        var half = output.GetTensorDataAsSpan<Float16>().Slice(offset, Dimensions);
        var vector = new float[Dimensions];
        for (var i = 0; i < vector.Length; i++) vector[i] = half[i].ToFloat();
        return vector;
    }

    /// <summary>
    /// An empty KV cache entry, [batch, kv_heads, 0, head_dim], in the element type the graph declares; dimensions the
    /// graph leaves symbolic come from config.json.
    /// </summary>
    private static OrtValue EmptyPast(NodeMetadata meta, int rows, int kvHeads, int headDim)
    {
        var d = meta.Dimensions;
        long[] shape = [rows, d.Length > 1 && d[1] > 0 ? d[1] : kvHeads, 0, d.Length > 3 && d[3] > 0 ? d[3] : headDim];
        return meta.ElementDataType switch
        {
            TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(Array.Empty<Float16>(), shape),
            TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), shape),
            var other => throw new InvalidDataException($"past_key_values of element type {other}: fp32 or fp16 expected."),
        };
    }

    public void Dispose() => _session.Dispose();
}
