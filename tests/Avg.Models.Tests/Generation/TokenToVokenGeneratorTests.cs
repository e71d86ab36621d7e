using Avg.Models.Generation;
using Avg.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Tests.Generation;

[Trait(TestCategory.Name, TestCategory.Integration)]
public class TokenToVokenGeneratorTests
{
    private static GeneratorOptions Small => new()
    {
        TextVocabulary = 20, CodebookSize = 8, Levels = 3, Dim = 32, Heads = 2, EncoderLayers = 1, DecoderLayers = 2,
        FeedForward = 64, MaxTextLength = 6, Dropout = 0.0,
    };

    [Fact]
    public void Incremental_decoding_with_the_cache_matches_teacher_forcing()
    {
        torch.manual_seed(1);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small);
        model.eval();
        var text = tensor(new long[] { 3, 4, 5, 0, 0, 0, 7, 8, 0, 0, 0, 0 }).reshape(2, 6);
        var targets = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).reshape(2, 3);

        var teacherForced = model.call(text, targets);
        var (memory, mask) = model.Encode(text);
        var cache = model.PrepareCache(memory, mask);
        // Beams 0,1 belong to query 1 and beam 2 to query 0: rows pick each beam's cached keys/values.
        var rows = tensor(new long[] { 1, 1, 0 });
        var prefixes = tensor(new long[] { 4, 5, 4, 5, 1, 2 }).reshape(3, 2);
        var stepped = model.DecodeLogits(prefixes, cache, rows);

        teacherForced.shape.ShouldBe([2L, 3L, 8L]);
        stepped.shape.ShouldBe([3L, 3L, 8L]);
        stepped[0].allclose(teacherForced[1], rtol: 1e-4, atol: 1e-5).ShouldBeTrue();
        stepped[2].allclose(teacherForced[0], rtol: 1e-4, atol: 1e-5).ShouldBeTrue();

        // What beam search calls: the last position alone, through a last layer run at that position only.
        for (var length = 0; length <= 2; length++)
        {
            var next = model.NextLogits(prefixes.narrow(1, 0, length), cache, rows);
            next.shape.ShouldBe([3L, 8L]);
            next.allclose(model.DecodeLogits(prefixes.narrow(1, 0, length), cache, rows).select(1, length), rtol: 1e-4, atol: 1e-5).ShouldBeTrue($"prefix length {length}");
        }
    }

    [Fact]
    public void Generation_loss_decreases_and_the_model_memorises_a_toy_mapping()
    {
        torch.manual_seed(2);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small);
        // Four "captions" (two tokens each) mapped to four voken sequences sharing prefixes.
        var text = tensor(new long[] { 3, 4, 5, 6, 7, 8, 9, 10 }).reshape(4, 2);
        var targets = tensor(new long[] { 1, 2, 3, 1, 2, 4, 1, 5, 6, 7, 0, 0 }).reshape(4, 3);
        var optimizer = optim.AdamW(model.parameters(), lr: 0.01);

        float first = 0, last = 0;
        for (var step = 0; step < 150; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.call(text, targets);
            var loss = nn.functional.cross_entropy(logits.reshape(-1, 8), targets.reshape(-1));
            loss.backward();
            optimizer.step();
            last = loss.item<float>();
            if (step == 0) first = last;
        }

        last.ShouldBeLessThan(first / 20);
        model.eval();
        model.call(text, targets).argmax(-1).eq(targets).all().item<bool>().ShouldBeTrue();
    }

    [Fact]
    public void Copying_the_codebook_keeps_the_codes_geometry()
    {
        torch.manual_seed(3);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small with { Dim = 16, Heads = 2 });
        var codebook = randn(8, 16);
        model.CopyCodebook(codebook.data<float>().ToArray(), 16);

        var embedded = model.parameters().First(p => p.shape.SequenceEqual([9L, 16L])).narrow(0, 0, 8);
        var centred = codebook - codebook.mean([0L], keepdim: true);
        var expected = nn.functional.normalize(centred, dim: 1).matmul(nn.functional.normalize(centred, dim: 1).t());
        var actual = nn.functional.normalize(embedded, dim: 1).matmul(nn.functional.normalize(embedded, dim: 1).t());
        actual.allclose(expected, atol: 1e-4).ShouldBeTrue();
    }

    [Fact]
    public void Text_embeddings_start_from_a_text_tower_of_the_same_width()
    {
        torch.manual_seed(4);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small);
        var tokens = randn(20, 32);
        var positions = randn(4, 32); // shorter than MaxTextLength: rows 4..5 keep their start
        var before = model.named_parameters().Single(p => p.name == "textPositions.weight").parameter.detach().clone();
        model.CopyTextEmbeddings(tokens.data<float>().ToArray(), positions.data<float>().ToArray(), 32);

        var table = model.named_parameters().Single(p => p.name == "textEmbedding.weight").parameter;
        table.allclose(tokens).ShouldBeTrue();
        var positionTable = model.named_parameters().Single(p => p.name == "textPositions.weight").parameter;
        positionTable.narrow(0, 0, 4).allclose(positions).ShouldBeTrue();
        positionTable.narrow(0, 4, 2).allclose(before.narrow(0, 4, 2)).ShouldBeTrue();
        Should.Throw<ArgumentException>(() => model.CopyTextEmbeddings(new float[7], new float[32], 32));
    }

    [Fact]
    public void Encoder_layers_start_from_a_text_tower_of_the_same_shape_and_extra_layers_start_as_identity()
    {
        torch.manual_seed(5);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small with { EncoderLayers = 2, FeedForward = 128 });
        using var tower = new Avg.Models.Encoders.TextEncoder(vocabularySize: 20, maxLength: 6, width: 32, layerCount: 1, heads: 2, embeddingDim: 16);
        using var layers = tower.ExportLayers();
        Tensor Own(string name) => model.named_parameters().Single(p => p.name == name).parameter;

        model.CopyTextLayers(layers).ShouldBe(1);

        var qkv = layers.Weights["layers.0.qkv.weight"].chunk(3, 0);
        Own("encoder.0.attention.q.weight").allclose(qkv[0]).ShouldBeTrue();
        Own("encoder.0.attention.k.weight").allclose(qkv[1]).ShouldBeTrue();
        Own("encoder.0.attention.v.weight").allclose(qkv[2]).ShouldBeTrue();
        Own("encoder.0.ff.up.weight").allclose(layers.Weights["layers.0.mlp.0.weight"]).ShouldBeTrue();
        Own("encoder.0.ff.down.weight").allclose(layers.Weights["layers.0.mlp.2.weight"]).ShouldBeTrue();
        Own("encoderNorm.weight").allclose(layers.Weights["finalNorm.weight"]).ShouldBeTrue();
        Own("encoder.1.attention.o.weight").count_nonzero().item<long>().ShouldBe(0);
        Own("encoder.1.ff.down.weight").count_nonzero().item<long>().ShouldBe(0);
        // The copied encoder still produces finite memory.
        var (memory, _) = model.Encode(tensor(new long[] { 3, 4, 5, 0, 0, 0 }).reshape(1, 6));
        memory.isnan().any().item<bool>().ShouldBeFalse();
    }

    [Fact]
    public void A_text_tower_of_another_shape_leaves_the_encoder_alone()
    {
        torch.manual_seed(6);
        using var scope = NewDisposeScope();
        using var model = new TokenToVokenGenerator(Small);
        using var tower = new Avg.Models.Encoders.TextEncoder(vocabularySize: 20, maxLength: 6, width: 16, layerCount: 1, heads: 2, embeddingDim: 16);
        using var layers = tower.ExportLayers();
        var before = model.parameters().Select(p => p.detach().clone()).ToList();

        model.CopyTextLayers(layers).ShouldBe(0);

        model.parameters().Zip(before).All(pair => pair.First.allclose(pair.Second)).ShouldBeTrue();
    }
}
