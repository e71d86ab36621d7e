using System.Diagnostics;
using Avg.Data;
using Avg.Retrieval;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Generation;

/// <summary>Training settings for the generator (paper §3.2 and §4.2: lr 1e-3).</summary>
public sealed record GeneratorTrainingOptions : IStageTrainingOptions
{
    public int Epochs { get; init; } = 12;

    public int BatchSize { get; init; } = 128;

    public double LearningRate { get; init; } = 1e-3;

    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Share of steps with linear learning-rate warm-up before cosine decay.</summary>
    public double WarmupFraction { get; init; } = 0.05;

    /// <summary>Add L_dis (eq. 9) to L_gen; off for the "w/o discriminative loss" and IRGen ablations.</summary>
    public bool Discriminative { get; init; } = true;

    /// <summary>Weight of L_dis in eq. 10 (the paper sums them: 1).</summary>
    public double DiscriminativeWeight { get; init; } = 1.0;

    /// <summary>Beam b of the search that builds L_dis's candidate list.</summary>
    public int DiscriminativeBeam { get; init; } = 10;

    /// <summary>
    /// How L_dis's candidate search and candidate scores normalise each step: over all vokens, as inference ranks
    /// (the default, so eq. 8's candidates are what search would return), or renormalised over the trie's allowed vokens.
    /// </summary>
    public StepNormalization DiscriminativeNormalization { get; init; } = StepNormalization.FullVocabulary;

    /// <summary>Queries per step that get L_dis (the first ones of the batch): bounds the extra search cost.</summary>
    public int DiscriminativeQueries { get; init; } = 32;

    /// <summary>Share of training done on L_gen alone first, so the beams L_dis ranks are meaningful.</summary>
    public double DiscriminativeStartFraction { get; init; } = 0.3;

    /// <summary>
    /// λ in (1 − λ)·L_gen + λ·L_distill: the share of the next-voken target taken from the two-tower's soft targets
    /// (<see cref="TeacherTargets"/>) instead of the caption's own image. 0 = the paper's L_gen alone.
    /// </summary>
    public double DistillWeight { get; init; }

    /// <summary>
    /// μ in L_dis's target over its candidates: (1 − μ)·(the positive) + μ·(the two-tower's ranking of the candidates,
    /// <see cref="TwoTowerRanking"/>). 0 = eq. 9's one-hot positive.
    /// </summary>
    public double DiscriminativeTeacherWeight { get; init; }

    /// <summary>L_dis runs with soft targets, so training needs the two-tower ranking (<see cref="TwoTowerRanking"/>).</summary>
    public bool NeedsTeacherRanking => Discriminative && DiscriminativeTeacherWeight > 0;

    public double GradientClip { get; init; } = 1.0;

    /// <summary>
    /// Batches of this many batches' worth of shuffled captions are sorted by length before being cut into batches
    /// (<see cref="Avg.Data.LengthBuckets"/>), so a batch pads little; 1 = plain shuffled batches.
    /// </summary>
    public int LengthPoolBatches { get; init; } = 50;

    public int Seed { get; init; } = 11;

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"generator epochs must be ≥ 1, got {Epochs}");
        if (BatchSize < 2) throw new ArgumentException($"generator batch size must be ≥ 2, got {BatchSize}");
        if (DiscriminativeBeam < 2) throw new ArgumentException($"discriminative beam must be ≥ 2, got {DiscriminativeBeam}");
        if (DiscriminativeStartFraction is < 0 or > 1) throw new ArgumentException("discriminative start fraction must be in [0, 1]");
        if (LengthPoolBatches < 1) throw new ArgumentException($"length pool must be ≥ 1 batch, got {LengthPoolBatches}");
        if (DistillWeight is < 0 or > 1) throw new ArgumentException($"distill weight must be in [0, 1], got {DistillWeight}");
        if (DiscriminativeTeacherWeight is < 0 or > 1) throw new ArgumentException($"dis teacher weight must be in [0, 1], got {DiscriminativeTeacherWeight}");
    }
}

/// <summary>
/// Trains the token-to-voken generator with L_AM = L_gen + L_dis (eq. 10): teacher-forced next-voken cross-entropy
/// (eq. 7) plus a contrastive loss over the scores of the b sequences that constrained beam search finds for the
/// caption, the positive swapped in when missing (eq. 8–9). A sequence's score is its sum of step log-probabilities,
/// normalised as <see cref="GeneratorTrainingOptions.DiscriminativeNormalization"/> says.
/// </summary>
public sealed class GeneratorTrainer : StageTrainer<TokenToVokenGenerator, GeneratorTrainingOptions>
{
    /// <summary>Stage name in progress reports.</summary>
    public const string Stage = "generator";

    /// <summary>Mean of each loss term per epoch in the last <see cref="Train"/>: "gen" (L_gen on the caption's own
    /// image), "distill" and "dis" (L_dis, over the steps and epochs that had it); a term that did not run is absent.</summary>
    public Dictionary<string, List<double>> EpochTermLosses { get; } = new(StringComparer.Ordinal);

    private readonly Device device;

    public GeneratorTrainer(TokenToVokenGenerator model, GeneratorTrainingOptions? options = null)
        : base(model, options)
    {
        device = model.parameters().First().device;
    }

    /// <summary>
    /// Trains on captions (<paramref name="captionIds"/>: captions × maxLength text ids) whose targets are the voken
    /// sequences of their images (<paramref name="imageVokens"/>: images × M); <paramref name="trie"/> indexes those sequences.
    /// <paramref name="teacherTargets"/> (captions × M × N, from <see cref="TeacherTargets"/>) is needed when the
    /// distill weight is above 0, and <paramref name="ranking"/> (captions and train images) when the dis teacher weight is.
    /// <paramref name="captionVectors"/> (captions × <see cref="GeneratorOptions.TextVectorWidth"/>, the two-tower text
    /// embeddings) is needed when the generator reads the query's text vector.
    /// </summary>
    public TrainingReport Train(int[] captionIds, int[] captionImage, int[] imageVokens, VokenTrie trie,
        float[]? teacherTargets = null, TwoTowerRanking? ranking = null, float[]? captionVectors = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captionIds);
        ArgumentNullException.ThrowIfNull(captionImage);
        ArgumentNullException.ThrowIfNull(imageVokens);
        ArgumentNullException.ThrowIfNull(trie);
        var captions = captionImage.Length;
        var length = Model.Options.Levels;
        var vokens = Model.Options.CodebookSize;
        var distill = Options.DistillWeight > 0;
        if (distill && teacherTargets?.Length != (long)captions * length * vokens)
            throw new ArgumentException($"a distill weight of {Options.DistillWeight} needs teacher targets of {captions} × {length} × {vokens} values.", nameof(teacherTargets));
        var softDis = Options.NeedsTeacherRanking;
        if (softDis && (ranking is null || ranking.Captions != captions || ranking.Images != imageVokens.Length / length))
            throw new ArgumentException($"a dis teacher weight of {Options.DiscriminativeTeacherWeight} needs the two-tower ranking of these {captions} captions and {imageVokens.Length / length} images.", nameof(ranking));
        var vectorWidth = Model.ReadsTextVector ? Model.Options.TextVectorWidth : 0;
        if (vectorWidth > 0 && captionVectors?.Length != (long)captions * vectorWidth)
            throw new ArgumentException($"this generator reads the query's text vector: give {captions} × {vectorWidth} caption vectors.", nameof(captionVectors));
        var textLength = captionIds.Length / captions;
        var stepsPerEpoch = Math.Max(1, captions / Options.BatchSize);
        var totalSteps = stepsPerEpoch * Options.Epochs;
        var warmup = Math.Max(1, (int)(totalSteps * Options.WarmupFraction));
        var disFrom = (int)(totalSteps * Options.DiscriminativeStartFraction);
        var random = new Random(Options.Seed);
        torch.manual_seed(Options.Seed);

        var optimizer = optim.AdamW(Model.parameters(), lr: Options.LearningRate, weight_decay: Options.WeightDecay);
        var search = new ConstrainedBeamSearch(trie, new SearchOptions { Beam = Options.DiscriminativeBeam, K = Options.DiscriminativeBeam * 4, Normalization = Options.DiscriminativeNormalization }.Validate());
        using var scorer = new GeneratorScorer(Model);
        var clock = Stopwatch.StartNew();
        EpochTermLosses.Clear();
        double firstEpoch = 0, lastEpoch = 0;
        var step = 0;
        var order = Enumerable.Range(0, captions).ToArray();
        var lengths = new int[captions];
        for (var c = 0; c < captions; c++)
        {
            for (var j = 0; j < textLength; j++)
                if (captionIds[(c * textLength) + j] != 0) lengths[c] = j + 1;
        }

        var batchIds = new long[Options.BatchSize * textLength];
        var batchTargets = new long[Options.BatchSize * length];
        var batchSoft = distill ? new float[Options.BatchSize * length * vokens] : [];
        var batchVectors = new float[Options.BatchSize * vectorWidth];

        for (var epoch = 0; epoch < Options.Epochs; epoch++)
        {
            random.Shuffle(order);
            if (Options.LengthPoolBatches > 1) order = LengthBuckets.Order(order, lengths, Options.BatchSize, Options.LengthPoolBatches, random);
            double epochLoss = 0;
            var termSums = new Dictionary<string, (double Sum, int Steps)>(StringComparer.Ordinal);
            void AddTerm(string name, Tensor value)
            {
                var (sum, steps) = termSums.GetValueOrDefault(name);
                termSums[name] = (sum + value.item<float>(), steps + 1);
            }
            for (var b = 0; b < stepsPerEpoch; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = order.AsSpan(b * Options.BatchSize, Options.BatchSize);
                for (var i = 0; i < batch.Length; i++)
                {
                    for (var j = 0; j < textLength; j++) batchIds[(i * textLength) + j] = captionIds[(batch[i] * textLength) + j];
                    for (var j = 0; j < length; j++) batchTargets[(i * length) + j] = imageVokens[(captionImage[batch[i]] * length) + j];
                    if (distill) teacherTargets.AsSpan(batch[i] * length * vokens, length * vokens).CopyTo(batchSoft.AsSpan(i * length * vokens));
                    if (vectorWidth > 0) captionVectors.AsSpan(batch[i] * vectorWidth, vectorWidth).CopyTo(batchVectors.AsSpan(i * vectorWidth));
                }
                SetLearningRate(optimizer, step, totalSteps, warmup);

                using var scope = NewDisposeScope();
                var useDis = Options.Discriminative && step >= disFrom;
                int[]? disCandidates = null;
                int[]? disPositive = null;
                float[]? disTargets = null;
                var disQueries = Math.Min(Options.DiscriminativeQueries, batch.Length);
                if (useDis)
                {
                    Model.eval();
                    (disCandidates, disPositive) = FindCandidates(search, scorer, batchIds.AsSpan(0, disQueries * textLength), batchTargets.AsSpan(0, disQueries * length),
                        vectorWidth > 0 ? batchVectors[..(disQueries * vectorWidth)] : null, disQueries, random);
                    if (softDis) disTargets = CandidateTargets(ranking!, trie, batch[..disQueries], disCandidates, disPositive);
                }
                Model.train();
                optimizer.zero_grad();
                var ids = tensor(batchIds, [batch.Length, textLength], device: device);
                var targets = tensor(batchTargets, [batch.Length, length], device: device);
                var vectors = vectorWidth > 0 ? tensor(batchVectors, [batch.Length, vectorWidth], device: device) : null;
                var (memory, mask) = Model.Encode(ids, vectors);
                var cache = Model.PrepareCache(memory, mask);
                var logits = Model.DecodeLogits(targets.narrow(1, 0, length - 1), cache);
                var flat = logits.reshape(-1, vokens);
                var loss = nn.functional.cross_entropy(flat, targets.reshape(-1));
                AddTerm("gen", loss);
                if (distill)
                {
                    var soft = tensor(batchSoft, [batch.Length * length, vokens], device: device);
                    var softLoss = -(soft * nn.functional.log_softmax(flat, 1)).sum(1).mean();
                    AddTerm("distill", softLoss);
                    loss = ((1 - Options.DistillWeight) * loss) + (Options.DistillWeight * softLoss);
                }
                if (useDis)
                {
                    var disLoss = DiscriminativeLoss(cache, disCandidates!, disPositive!, disTargets, disQueries, trie);
                    AddTerm("dis", disLoss);
                    loss = loss + (Options.DiscriminativeWeight * disLoss);
                }
                loss.backward();
                nn.utils.clip_grad_norm_(Model.parameters(), Options.GradientClip);
                optimizer.step();
                var value = loss.item<float>();
                epochLoss += value;
                step++;
                progress?.Report(new TrainingProgress(Stage, epoch, step, totalSteps, value));
            }
            epochLoss /= stepsPerEpoch;
            foreach (var (name, (sum, steps)) in termSums)
            {
                if (!EpochTermLosses.TryGetValue(name, out var list)) EpochTermLosses[name] = list = [];
                list.Add(sum / steps);
            }
            if (epoch == 0) firstEpoch = epochLoss;
            lastEpoch = epochLoss;
        }
        Model.eval();
        return new TrainingReport(step, firstEpoch, lastEpoch, clock.Elapsed, (double)step * Options.BatchSize / clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Eq. 8: the b distinct sequences beam search finds per query (−1 padded when fewer), and where the positive
    /// sits among them — swapped in at a random slot when the search missed it.
    /// </summary>
    private (int[] Candidates, int[] Positive) FindCandidates(ConstrainedBeamSearch search, GeneratorScorer scorer,
        ReadOnlySpan<long> textIds, ReadOnlySpan<long> targets, float[]? textVectors, int queries, Random random)
    {
        var length = Model.Options.Levels;
        var beam = Options.DiscriminativeBeam;
        var ids = new int[textIds.Length];
        for (var i = 0; i < ids.Length; i++) ids[i] = (int)textIds[i];
        scorer.Prepare(ids, queries, textVectors);
        var hits = search.Search(scorer, queries);
        var candidates = new int[queries * beam * length];
        Array.Fill(candidates, -1);
        var positive = new int[queries];
        for (var q = 0; q < queries; q++)
        {
            var target = new int[length];
            for (var j = 0; j < length; j++) target[j] = (int)targets[(q * length) + j];
            var found = 0;
            var positiveAt = -1;
            foreach (var hit in hits[q])
            {
                if (found == beam) break;
                var duplicate = false;
                for (var c = 0; c < found && !duplicate; c++)
                    duplicate = candidates.AsSpan(((q * beam) + c) * length, length).SequenceEqual(hit.Vokens);
                if (duplicate) continue;
                if (hit.Vokens.AsSpan().SequenceEqual(target)) positiveAt = found;
                hit.Vokens.CopyTo(candidates, ((q * beam) + found) * length);
                found++;
            }
            if (positiveAt < 0)
            {
                positiveAt = found < beam ? found : random.Next(beam);
                target.CopyTo(candidates, ((q * beam) + positiveAt) * length);
            }
            positive[q] = positiveAt;
        }
        return (candidates, positive);
    }

    /// <summary>
    /// Soft L_dis targets (queries × b): (1 − μ) on the positive plus μ times the two-tower's softmax over the
    /// candidates' image masses; padding slots get 0.
    /// </summary>
    private float[] CandidateTargets(TwoTowerRanking ranking, VokenTrie trie, ReadOnlySpan<int> captions, int[] candidates, int[] positive)
    {
        var length = Model.Options.Levels;
        var beam = Options.DiscriminativeBeam;
        var mu = Options.DiscriminativeTeacherWeight;
        var targets = new float[captions.Length * beam];
        var logMass = new double[beam];
        for (var q = 0; q < captions.Length; q++)
        {
            var max = double.NegativeInfinity;
            for (var c = 0; c < beam; c++)
            {
                var sequence = candidates.AsSpan(((q * beam) + c) * length, length);
                logMass[c] = sequence[0] < 0 ? double.NegativeInfinity : ranking.LogMass(captions[q], trie.ImagesAt(trie.Find(sequence)));
                max = Math.Max(max, logMass[c]);
            }
            double sum = 0;
            for (var c = 0; c < beam; c++) sum += logMass[c] = Math.Exp(logMass[c] - max);
            for (var c = 0; c < beam; c++)
                targets[(q * beam) + c] = (float)((mu * logMass[c] / sum) + (c == positive[q] ? 1 - mu : 0));
        }
        return targets;
    }

    /// <summary>Eq. 9: −log softmax of the positive's score over the candidate list, each score a sum of step
    /// log-probabilities normalised as <see cref="GeneratorTrainingOptions.DiscriminativeNormalization"/> says; with
    /// <paramref name="softTargets"/> (queries × b), the cross-entropy against them instead.</summary>
    private Tensor DiscriminativeLoss(CrossAttentionCache cache, int[] candidates, int[] positive, float[]? softTargets, int queries, VokenTrie trie)
    {
        var length = Model.Options.Levels;
        var vokens = Model.Options.CodebookSize;
        var beam = Options.DiscriminativeBeam;
        var rowsCount = queries * beam;
        var valid = new bool[rowsCount];
        var sequences = new long[rowsCount * length];
        // The allowed-voken mask is only needed to renormalise; full-vocabulary scores use the logits as they are.
        var allowed = Options.DiscriminativeNormalization == StepNormalization.AllowedVokens ? new bool[rowsCount * length * vokens] : null;
        var rows = new long[rowsCount];
        for (var r = 0; r < rowsCount; r++)
        {
            rows[r] = r / beam;
            var sequence = candidates.AsSpan(r * length, length);
            if (sequence[0] < 0)
            {
                // Padding slot: any valid path keeps the maths finite; its score is masked out below.
                if (allowed is not null)
                    for (var j = 0; j < length; j++) allowed[(((r * length) + j) * vokens) + 0] = true;
                continue;
            }
            valid[r] = true;
            var node = VokenTrie.Root;
            for (var j = 0; j < length; j++)
            {
                sequences[(r * length) + j] = sequence[j];
                if (allowed is null) continue;
                foreach (var child in trie.ChildrenOf(node).Vokens) allowed[(((r * length) + j) * vokens) + child] = true;
                trie.TryGetChild(node, sequence[j], out node);
            }
        }
        var seq = tensor(sequences, [rowsCount, length], device: device);
        var logits = Model.DecodeLogits(seq.narrow(1, 0, length - 1), cache, tensor(rows, device: device));
        var logProbs = allowed is null
            ? nn.functional.log_softmax(logits, -1)
            : nn.functional.log_softmax(logits.masked_fill(tensor(allowed, [rowsCount, length, vokens], device: device).logical_not(), float.NegativeInfinity), -1);
        var scores = logProbs.gather(2, seq.unsqueeze(2)).squeeze(2).sum(1).reshape(queries, beam);
        scores = scores.masked_fill(tensor(valid, [queries, beam], device: device).logical_not(), float.NegativeInfinity);
        if (softTargets is not null)
        {
            // Padding slots score −∞ and have target 0: zero their log-softmax so 0 · −∞ cannot make a NaN.
            var logSoftmax = nn.functional.log_softmax(scores, 1).masked_fill(tensor(valid, [queries, beam], device: device).logical_not(), 0);
            return -(tensor(softTargets, [queries, beam], device: device) * logSoftmax).sum(1).mean();
        }
        var positives = tensor(positive.Select(p => (long)p).ToArray(), device: device);
        return nn.functional.cross_entropy(scores, positives);
    }

    private void SetLearningRate(optim.Optimizer optimizer, int step, int totalSteps, int warmup)
    {
        var lr = step < warmup
            ? Options.LearningRate * (step + 1) / warmup
            : Options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / Math.Max(1, totalSteps - warmup)));
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }
}
