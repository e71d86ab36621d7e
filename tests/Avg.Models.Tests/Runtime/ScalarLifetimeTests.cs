using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Avg.Models.Encoders;
using Avg.Models.Generation;
using Avg.Models.Runtime;
using Avg.Models.Tokenization;
using Avg.Tests.Support;
using TorchSharp;

namespace Avg.Models.Tests.Runtime;

/// <summary>
/// The model host runs every model call on one thread while the rest of the silo allocates. A TorchSharp
/// <see cref="Scalar"/> that only a native call still uses can then be finalized (its c10::Scalar deleted) before
/// LibTorch reads it: "Expected false to be true … toFloat at c10/core/Scalar.h" from <c>THSTensor_add</c>.
/// The project runs optimised code under the server GC, as the silo does (see the .csproj).
/// </summary>
[Trait(TestCategory.Name, TestCategory.Integration)]
public class ScalarLifetimeTests
{
    private const double Fill = 1.5;

    [Fact]
    public void A_held_number_outlives_a_collection_during_a_long_native_call()
    {
        using var scope = torch.NewDisposeScope();
        // masked_fill copies its input before it reads the fill value: milliseconds in LibTorch, time enough for a
        // collection and the finalizer to run in between.
        var large = torch.zeros(16_000_000);
        var mask = torch.ones(16_000_000, dtype: torch.ScalarType.Bool);

        var (calls, failures, firstFailure) = WhileCollecting(TimeSpan.FromSeconds(2), () =>
        {
            using var call = torch.NewDisposeScope();
            var filled = large.MaskedFill(mask, Fill);
            return filled[0].item<float>() == (float)Fill && filled[^1].item<float>() == (float)Fill;
        });

        calls.ShouldBeGreaterThan(0);
        failures.ShouldBe(0, $"{failures} of {calls} calls failed; first: {firstFailure}");
    }

    [Fact]
    public void Inference_gives_the_quiet_results_while_another_thread_forces_collections()
    {
        var (vocabulary, captions) = ToyColours.Encoded();
        using var encoder = new DualEncoder(new DualEncoderOptions
        {
            EmbeddingDim = 32, ImageChannels = [8, 16], VocabularySize = vocabulary.Size, MaxTextLength = 8,
            TextWidth = 32, TextLayers = 1, TextHeads = 2,
        }, seed: 5);
        using var tokenizer = new AlignedTokenizer(new AlignedTokenizerOptions { InputDim = 32, HiddenDim = 64, CodebookSize = 64, Levels = 4 }, seed: 5);
        using var generator = new TokenToVokenGenerator(new GeneratorOptions
        {
            TextVocabulary = vocabulary.Size, CodebookSize = 64, Levels = 4, Dim = 32, Heads = 2, EncoderLayers = 1,
            DecoderLayers = 2, FeedForward = 64, MaxTextLength = 8, Dropout = 0.0,
        });
        generator.eval();
        using var scorer = new GeneratorScorer(generator);
        var images = ToyColours.Images();
        var queries = captions.Ids.AsSpan(0, 8 * captions.MaxLength).ToArray();
        var prefixes = Enumerable.Range(0, 8 * 2).Select(i => i % 64).ToArray();
        var queryOfBeam = Enumerable.Range(0, 8).ToArray();

        // What the model host runs, in small batches (many native calls): images to vectors to vokens (ingest),
        // captions to vectors, and one beam-search step of the generator (search).
        float[][] Infer()
        {
            var imageVectors = encoder.EncodeImages(images, batchSize: 4);
            var vokens = tokenizer.Encode(imageVectors, batchSize: 4);
            var textVectors = encoder.EncodeTexts(captions.Ids, batchSize: 8);
            scorer.Prepare(queries, 8);
            var logits = new float[8 * 64];
            scorer.Score(queryOfBeam, prefixes, 2, logits);
            return [imageVectors, vokens.Select(v => (float)v).ToArray(), textVectors, logits];
        }

        var quiet = Infer();
        var (runs, failures, firstFailure) = WhileCollecting(TimeSpan.FromSeconds(5), () =>
            Infer().Zip(quiet).All(pair => pair.First.SequenceEqual(pair.Second)));

        runs.ShouldBeGreaterThan(0);
        failures.ShouldBe(0, $"{failures} of {runs} runs threw or differed from the quiet run; first: {firstFailure}");
    }

    [Fact]
    public void Model_code_gives_TorchSharp_no_number_to_turn_into_a_scalar_it_does_not_keep()
    {
        // Training code is left out: it runs offline, and TorchSharp's optimizers make unheld Scalars themselves.
        var modelTypes = typeof(AlignedTokenizer).Assembly.GetTypes()
            .Where(t => t.Namespace is "Avg.Models.Tokenization" or "Avg.Models.Encoders" or "Avg.Models.Generation" or "Avg.Models.Pipeline" or "Avg.Models.Runtime")
            .Where(t => !t.IsNested && !t.Name.EndsWith("Trainer", StringComparison.Ordinal) && t.Name is not ("TeacherTargets" or "Evaluator"));

        var offenders = modelTypes.SelectMany(IlCalls.DeclaredIn)
            .SelectMany(m => IlCalls.Callees(m).Where(c => MakesAnUnheldScalar(c, depth: 2)).Select(c => $"{m.DeclaringType!.Name}.{m.Name} calls {c.DeclaringType!.Name}.{c}"))
            .Distinct().ToList();

        offenders.ShouldBeEmpty(string.Join("\n", offenders));
    }

    /// <summary>
    /// Calls <paramref name="call"/> for <paramref name="duration"/> while another thread allocates and forces young
    /// collections; counts the calls that threw from LibTorch or returned false.
    /// </summary>
    private static (int Calls, int Failures, string? FirstFailure) WhileCollecting(TimeSpan duration, Func<bool> call)
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            var garbage = new byte[64][];
            while (!stop.IsCancellationRequested)
            {
                for (var i = 0; i < garbage.Length; i++) garbage[i] = new byte[1024];
                GC.Collect(0);
            }
        }) { IsBackground = true, Name = "collector" };
        collector.Start();
        var (calls, failures) = (0, 0);
        string? firstFailure = null;
        try
        {
            for (var clock = Stopwatch.StartNew(); clock.Elapsed < duration; calls++)
            {
                try
                {
                    if (!call())
                    {
                        failures++;
                        firstFailure ??= "a wrong result";
                    }
                }
                catch (ExternalException e)
                {
                    failures++;
                    firstFailure ??= string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(2));
                }
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }

        return (calls, failures, firstFailure);
    }

    private static readonly Dictionary<MethodBase, bool> Converts = [];

    /// <summary>True for the implicit number-to-Scalar conversion, and for a TorchSharp method that makes one within <paramref name="depth"/> calls.</summary>
    private static bool MakesAnUnheldScalar(MethodBase callee, int depth)
    {
        if (callee.DeclaringType?.Assembly != typeof(Scalar).Assembly) return false;
        if (callee.DeclaringType == typeof(Scalar) && callee.Name == "op_Implicit") return true;
        if (depth == 0) return false;
        if (Converts.TryGetValue(callee, out var known)) return known;
        return Converts[callee] = IlCalls.Callees(callee).Any(c => MakesAnUnheldScalar(c, depth - 1));
    }
}
