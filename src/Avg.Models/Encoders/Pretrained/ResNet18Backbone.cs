using Microsoft.ML.OnnxRuntime;

namespace Avg.Models.Encoders.Pretrained;

/// <summary>
/// Frozen ImageNet ResNet-18 (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18, a CNTK export run by ONNX Runtime):
/// images to 512 global-average-pooled features. Input as the package's preprocessing model expects it: 224 × 224,
/// planar BGR in 0–255, less a per-pixel mean image (channel means 103.1 / 115.9 / 123.2), which is read once from
/// ResNetPreprocess.onnx (its output for a black image is minus the mean).
/// </summary>
public sealed class ResNet18Backbone : IDisposable
{
    /// <summary>Name in cache files and bundle configs.</summary>
    public const string Name = "resnet18";

    /// <summary>Features per image.</summary>
    public const int Width = 512;

    /// <summary>Side of the square input; other sizes are resized (bilinear) first.</summary>
    public const int InputSize = 224;

    /// <summary>Files under the pretrained models folder.</summary>
    public const string ModelFile = "resnet18/ResNet18.onnx", PreprocessFile = "resnet18/ResNetPreprocess.onnx";

    private const int Plane = InputSize * InputSize;
    private readonly string modelPath, preprocessPath;
    private readonly int threads;
    private InferenceSession? session;
    private float[]? mean;
    private string inputName = "", outputName = "";

    /// <param name="directory">The pretrained models folder; default beside the binaries.</param>
    /// <param name="threads">ONNX Runtime intra-op threads; 0 = all cores.</param>
    public ResNet18Backbone(string? directory = null, int threads = 0)
    {
        modelPath = PretrainedModelFiles.Locate(directory, ModelFile);
        preprocessPath = PretrainedModelFiles.Locate(directory, PreprocessFile);
        this.threads = threads;
        Sha256 = PretrainedModelFiles.Sha256(modelPath);
    }

    /// <summary>SHA-256 of ResNet18.onnx: keys the feature cache and is recorded in bundles.</summary>
    public string Sha256 { get; }

    /// <summary>Features (rows of 512, not normalised) for every image, in order, <paramref name="batchSize"/> images per run; reports images done.</summary>
    public float[] Encode(ImageData images, int batchSize = 32, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        EnsureSession();
        var result = new float[(long)images.Count * Width];
        var pixels = new byte[Math.Min(batchSize, Math.Max(images.Count, 1)) * images.ImageBytes];
        var input = new float[Math.Min(batchSize, Math.Max(images.Count, 1)) * 3 * Plane];
        var indices = Enumerable.Range(0, images.Count).ToArray();
        using var runOptions = new RunOptions();
        for (var start = 0; start < images.Count; start += batchSize)
        {
            var count = Math.Min(batchSize, images.Count - start);
            images.Loader(indices.AsSpan(start, count), pixels.AsSpan(0, count * images.ImageBytes));
            for (var k = 0; k < count; k++)
                Preprocess(pixels.AsSpan(k * images.ImageBytes, images.ImageBytes), images.Height, images.Width, input.AsSpan(k * 3 * Plane, 3 * Plane));
            using var tensor = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, count * 3 * Plane), [count, 3, InputSize, InputSize]);
            using var outputs = session!.Run(runOptions, [inputName], [tensor], [outputName]);
            outputs[0].GetTensorDataAsSpan<float>().CopyTo(result.AsSpan(start * Width, count * Width));
            progress?.Invoke(start + count);
        }
        return result;
    }

    public void Dispose() => session?.Dispose();

    /// <summary>One planar-RGB byte image to the network's input: resized to 224, BGR, less the mean image.</summary>
    private void Preprocess(ReadOnlySpan<byte> rgb, int height, int width, Span<float> destination)
    {
        for (var c = 0; c < 3; c++)
        {
            var source = rgb.Slice((2 - c) * height * width, height * width);   // BGR order: plane c reads RGB plane 2 − c
            var target = destination.Slice(c * Plane, Plane);
            var offset = mean.AsSpan(c * Plane, Plane);
            for (var y = 0; y < InputSize; y++)
            {
                // Pixel centres aligned (as SkiaSharp and PIL resize): source coordinate (y + 0.5)·h/224 − 0.5.
                var sy = Math.Clamp(((y + 0.5) * height / InputSize) - 0.5, 0, height - 1);
                int y0 = (int)sy, y1 = Math.Min(y0 + 1, height - 1);
                var fy = (float)(sy - y0);
                for (var x = 0; x < InputSize; x++)
                {
                    var sx = Math.Clamp(((x + 0.5) * width / InputSize) - 0.5, 0, width - 1);
                    int x0 = (int)sx, x1 = Math.Min(x0 + 1, width - 1);
                    var fx = (float)(sx - x0);
                    var top = source[(y0 * width) + x0] + (fx * (source[(y0 * width) + x1] - source[(y0 * width) + x0]));
                    var bottom = source[(y1 * width) + x0] + (fx * (source[(y1 * width) + x1] - source[(y1 * width) + x0]));
                    target[(y * InputSize) + x] = top + (fy * (bottom - top)) + offset[(y * InputSize) + x];
                }
            }
        }
    }

    private void EnsureSession()
    {
        if (session is not null) return;
        using (var preprocess = new InferenceSession(preprocessPath))
        {
            using var black = OrtValue.CreateTensorValueFromMemory(new float[3 * Plane], [1, 3, InputSize, InputSize]);
            using var runOptions = new RunOptions();
            using var outputs = preprocess.Run(runOptions, [preprocess.InputNames[0]], [black], [preprocess.OutputNames[0]]);
            mean = outputs[0].GetTensorDataAsSpan<float>().ToArray();   // = −mean image, added to every input
        }
        using var options = PretrainedModelFiles.SessionOptions(threads);
        session = new InferenceSession(OnnxBatchDimension.MakeDynamic(File.ReadAllBytes(modelPath)), options);
        inputName = session.InputNames[0];
        outputName = session.OutputNames[0];
    }
}
