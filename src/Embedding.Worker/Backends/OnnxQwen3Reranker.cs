using System.Text.Json;
using Embedding.Worker.Model;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Embedding.Worker.Backends;

/// <summary>The two ways a reranker graph gives its answer (docs/reranking.md).</summary>
public enum RerankerGraphForm
{
    /// <summary>One number per pair, lm_head[yes] - lm_head[no] at the last token: P(yes) = sigmoid(logit).</summary>
    OneLogit,
    /// <summary>The [no, yes] logits at the last token: P(yes) = softmax(.)[1].</summary>
    TwoLogit,
}

/// <summary>
/// Qwen3-Reranker exported to ONNX (tools/gpu-export/export_qwen3_reranker.py), run in-process with ONNX Runtime on CPU
/// or CUDA (Worker:Onnx:Device): each pair's prompt built as token ids (<see cref="Qwen3RerankerPrompt"/>), right-padded
/// batches, and the score read from the graph's "logits" output (else its first), whose width says its form: 1 (or a
/// [batch] vector) the one-logit form, 2 the two-logit form; a width the graph leaves symbolic is read from the
/// output's shape at the first batch. Scores are computed in double from the logits, each pair on its own.
/// </summary>
public sealed class OnnxQwen3Reranker : IRerankerBackend, IDisposable
{
    private static readonly string[] PromptTokens = ["<|im_start|>", "<|im_end|>", "<think>", "</think>"];

    private readonly InferenceSession _session;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly Qwen3RerankerPrompt _prompt;
    private readonly Dictionary<string, NodeMetadata> _inputs;
    private readonly string _outputName;
    private readonly bool _outputIsHalf, _batchOfOne, _wantsPositionIds;
    private RerankerGraphForm? _form;

    public int MaxInputTokens { get; }
    public string Numerics { get; }
    public bool PadsBatches => true;

    /// <summary>The ONNX file this backend runs, relative to the model directory.</summary>
    public string ModelFile { get; }

    /// <summary>How the graph answers; null until a batch has run where the graph leaves its output's width symbolic.</summary>
    public RerankerGraphForm? Form => _form;

    public Qwen3RerankerPrompt Prompt => _prompt;

    public OnnxQwen3Reranker(string modelDirectory, OnnxBackendOptions options)
    {
        _tokenizer = new Qwen3Tokenizer(modelDirectory);
        if (PromptTokens.FirstOrDefault(t => !_tokenizer.AddedTokens.ContainsKey(t)) is { } missing)
            throw new InvalidDataException($"The tokenizer in '{modelDirectory}' has no added token {missing}: it is not a Qwen3 tokenizer, and the reranker's prompt needs it.");
        _prompt = new Qwen3RerankerPrompt(_tokenizer);
        using (var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(modelDirectory, "config.json"))))
            MaxInputTokens = options.MaxInputTokens > 0 ? options.MaxInputTokens
                : config.RootElement.TryGetProperty("max_position_embeddings", out var m) ? m.GetInt32() : 8192;

        ModelFile = OnnxQwen3Backend.FindModelFile(modelDirectory, options.OnnxFile);
        Numerics = BackendNumerics.Onnx(options, modelDirectory, ModelFile);
        using (var sessionOptions = OnnxExecutionProvider.CreateSessionOptions(options))
            _session = new InferenceSession(Path.Combine(modelDirectory, ModelFile), sessionOptions);

        _inputs = _session.InputMetadata.ToDictionary(i => i.Key, i => i.Value);
        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!_inputs.ContainsKey(required))
                throw new InvalidDataException($"{ModelFile} has no '{required}' input; inputs: {string.Join(", ", _inputs.Keys)}.");
        if (_inputs.Keys.FirstOrDefault(n => n is not ("input_ids" or "attention_mask" or "position_ids")) is { } other)
            throw new InvalidDataException($"{ModelFile} has an input this backend cannot fill: '{other}' (a text-generation export with a KV cache?). " +
                                           "Export the reranker with tools/gpu-export/export_qwen3_reranker.py.");
        _batchOfOne = _inputs["input_ids"].Dimensions is [1, ..];
        _wantsPositionIds = _inputs.ContainsKey("position_ids");

        _outputName = _session.OutputMetadata.ContainsKey("logits") ? "logits" : _session.OutputNames[0];
        var output = _session.OutputMetadata[_outputName];
        if (output.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16))
            throw new InvalidDataException($"{ModelFile}: output '{_outputName}' is {output.ElementDataType}; fp32 or fp16 expected.");
        _outputIsHalf = output.ElementDataType == TensorElementType.Float16;
        _form = output.Dimensions switch
        {
            [_] or [_, 1] => RerankerGraphForm.OneLogit,
            [_, 2] => RerankerGraphForm.TwoLogit,
            [_, < 0] => null,  // symbolic: read at the first batch
            var dims => throw NotScores(dims),
        };
    }

    private InvalidDataException NotScores(IEnumerable<int> dims) => new(
        $"{ModelFile}: output '{_outputName}' has shape [{string.Join(", ", dims)}]; a reranker graph gives [batch, 1] " +
        "(lm_head[yes] - lm_head[no]) or [batch, 2] (the no and yes logits). A CausalLM export's logits over the whole " +
        "vocabulary are not served: convert the weights with tools/gpu-export/export_qwen3_reranker.py.");

    public TokenizedText Tokenize(string? instruction, string query, string document, int maxTokens = int.MaxValue)
    {
        var ids = _prompt.Build(instruction, query, document, Math.Min(maxTokens, MaxInputTokens));
        return new TokenizedText(document, ids, ids.Length);
    }

    public int TokensWithoutDocument(string? instruction, string query) => _prompt.TokensWithoutDocument(instruction, query);

    public Task<float[]> ScoreAsync(IReadOnlyList<TokenizedText> batch, CancellationToken cancellationToken) =>
        // ONNX Runtime's Run is synchronous and CPU-bound: keep it off the caller's thread.
        Task.Run(() => _batchOfOne ? batch.Select(p => Score([p])[0]).ToArray() : Score(batch), cancellationToken);

    private float[] Score(IReadOnlyList<TokenizedText> batch)
    {
        var padded = PaddedBatch.From(batch, _tokenizer.EndOfTextId, _wantsPositionIds);
        var (ids, mask, positions, shape) = (padded.Ids, padded.Mask, padded.Positions, padded.Shape);
        int rows = (int)shape[0], cols = (int)shape[1];
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            foreach (var (name, meta) in _inputs)
                inputs[name] = PaddedBatch.Tensor(name switch { "input_ids" => ids, "attention_mask" => mask, _ => positions! }, shape, meta);
            using var runOptions = new RunOptions();
            using var binding = _session.CreateIoBinding();
            foreach (var (name, value) in inputs) binding.BindInput(name, value);
            binding.BindOutputToDevice(_outputName, OrtMemoryInfo.DefaultInstance);  // a few numbers per pair come back
            binding.SynchronizeBoundInputs();
            _session.RunWithBinding(runOptions, binding);
            binding.SynchronizeBoundOutputs();
            using var outputs = binding.GetOutputValues();
            var got = outputs[0].GetTensorTypeAndShape().Shape;
            var form = got switch
            {
                [var b] when b == rows => RerankerGraphForm.OneLogit,
                [var b, 1] when b == rows => RerankerGraphForm.OneLogit,
                [var b, 2] when b == rows => RerankerGraphForm.TwoLogit,
                _ => throw NotScores(got.Select(d => (int)d)),
            };
            _form ??= form;
            var logits = Values(outputs[0], rows * (form == RerankerGraphForm.OneLogit ? 1 : 2));
            var scores = new float[rows];
            for (var r = 0; r < rows; r++)
                scores[r] = form == RerankerGraphForm.OneLogit ? Sigmoid(logits[r]) : Sigmoid(logits[2 * r + 1] - logits[2 * r]);
            return scores;
        }
        finally
        {
            foreach (var value in inputs.Values) value.Dispose();
        }
    }

    /// <summary>P(yes) from the yes-no logit difference: softmax over [no, yes] is the sigmoid of yes - no.</summary>
    public static float Sigmoid(double x) => (float)(x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x)));

    private double[] Values(OrtValue output, int count)
    {
        var values = new double[count];
        if (_outputIsHalf)
        {
            var half = output.GetTensorDataAsSpan<Float16>();
            for (var i = 0; i < count; i++) values[i] = half[i].ToFloat();
        }
        else
        {
            var single = output.GetTensorDataAsSpan<float>();
            for (var i = 0; i < count; i++) values[i] = single[i];
        }
        return values;
    }

    public void Dispose() => _session.Dispose();
}
