using System.Text.Json;
using Embedding.Contracts;
using Embedding.Worker.Model;
using Microsoft.ML.OnnxRuntime;

namespace Embedding.Worker.Backends;

/// <summary>
/// Qwen3-Embedding exported to ONNX, run in-process with ONNX Runtime on CPU: right-padded batches,
/// the hidden state of each text's last token (&lt;|endoftext|&gt;), L2-normalised. Works with exports whose
/// inputs are input_ids + attention_mask (optionally position_ids, and empty past_key_values.* for
/// exports made with a KV cache) and whose first output is last_hidden_state.
/// </summary>
public sealed class OnnxQwen3Backend : IEmbeddingBackend, IDisposable
{
    private readonly InferenceSession _session;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly string _outputName;
    private readonly bool _wantsPositionIds;
    private readonly List<(string Name, int[] Shape)> _emptyPast = [];

    public int Dimensions { get; }
    public int MaxInputTokens { get; }
    public bool PadsBatches => true;

    public OnnxQwen3Backend(string modelDirectory, OnnxBackendOptions options)
    {
        _tokenizer = new Qwen3Tokenizer(modelDirectory);
        using (var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(modelDirectory, "config.json"))))
        {
            Dimensions = config.RootElement.GetProperty("hidden_size").GetInt32();
            MaxInputTokens = options.MaxInputTokens > 0 ? options.MaxInputTokens
                : config.RootElement.TryGetProperty("max_position_embeddings", out var m) ? m.GetInt32() : 8192;
        }

        var modelFile = new[] { "model.onnx", Path.Combine("onnx", "model.onnx") }
            .Select(f => Path.Combine(modelDirectory, f)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"No model.onnx (or onnx/model.onnx) in '{modelDirectory}'.");
        var sessionOptions = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        _session = new InferenceSession(modelFile, sessionOptions);

        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!_session.InputMetadata.ContainsKey(required))
                throw new InvalidDataException($"The ONNX model has no '{required}' input.");
        _wantsPositionIds = _session.InputMetadata.ContainsKey("position_ids");
        foreach (var (name, meta) in _session.InputMetadata.Where(i => i.Key.StartsWith("past_key_values", StringComparison.Ordinal)))
            _emptyPast.Add((name, meta.Dimensions));  // [batch, kv_heads, past_len, head_dim]; past_len = 0
        _outputName = _session.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _session.OutputNames[0];
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
        return Task.Run(() => Embed(batch), cancellationToken);
    }

    private float[][] Embed(IReadOnlyList<TokenizedText> batch)
    {
        int rows = batch.Count, cols = batch.Max(t => t.TokenIds.Length);
        var ids = new long[rows * cols];
        var mask = new long[rows * cols];
        var positions = _wantsPositionIds ? new long[rows * cols] : null;
        for (var r = 0; r < rows; r++)
        {
            var tokens = batch[r].TokenIds;
            for (var c = 0; c < cols; c++)
            {
                var real = c < tokens.Length;
                ids[r * cols + c] = real ? tokens[c] : _tokenizer.EndOfTextId;  // padding on the right
                mask[r * cols + c] = real ? 1 : 0;
                if (positions is not null) positions[r * cols + c] = real ? c : 0;
            }
        }

        long[] shape = [rows, cols];
        var inputs = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(ids, shape),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(mask, shape),
        };
        if (positions is not null) inputs["position_ids"] = OrtValue.CreateTensorValueFromMemory(positions, shape);
        foreach (var (name, dims) in _emptyPast)
        {
            var pastShape = dims.Select((d, i) => i == 0 ? rows : i == 2 ? 0 : (long)Math.Max(d, 1)).ToArray();
            inputs[name] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), pastShape);
        }

        try
        {
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, inputs, [_outputName]);
            var hidden = outputs[0].GetTensorDataAsSpan<float>();  // [rows, cols, Dimensions]
            var result = new float[rows][];
            for (var r = 0; r < rows; r++)
            {
                var last = batch[r].TokenIds.Length - 1;  // last-token pooling on <|endoftext|>
                var vector = hidden.Slice((r * cols + last) * Dimensions, Dimensions).ToArray();
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

    public void Dispose() => _session.Dispose();
}
