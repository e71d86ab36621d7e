using Avg.Cluster.Model;
using Avg.Models.Encoders;
using Avg.Models.Pipeline;

namespace Avg.Cluster.Inference;

/// <summary>
/// The ingest thread's work: one pass of the encoder (for pixels) and the aligned tokenizer over a batch of waiting
/// image batches, their identifiers and fine codes handed back to each batch's caller. Each image's array is copied
/// once, into the model's input.
/// </summary>
/// <param name="model">The silo's model.</param>
/// <param name="ran">Told the number of jobs of each pass that succeeded, before their callers are answered.</param>
internal sealed class IngestTokenizer(AvgModel model, Action<int> ran)
{
    private readonly AvgModel _model = model;

    public void Run(TokenizeJob[] batch)
    {
        var jobs = batch.Where(j => !j.IsDone).ToArray();
        if (jobs.Length == 0)
        {
            return;
        }

        try
        {
            var total = jobs.Sum(j => j.Count);
            float[] vectors;
            if (jobs[0].Pixels is not null)
            {
                var size = _model.Config.ImageSize;
                var pixels = Concat(jobs.SelectMany(j => j.Pixels!).ToList(), ImageData.Channels * size * size * total);
                vectors = _model.EncodeImages(ImageData.FromBytes(pixels, total, size, size));
            }
            else
            {
                vectors = Concat(jobs.SelectMany(j => j.Features!).ToList(), _model.Tokenizer.Options.InputDim * total);
            }

            var vokens = _model.Tokenize(vectors);
            var fine = _model.FineCodes(vectors, vokens);
            var levels = _model.Fine?.Levels ?? 0;

            ran(jobs.Length);
            var identifierLength = _model.Tokenizer.Options.Levels;
            var at = 0;
            foreach (var job in jobs)
            {
                job.Completion.TrySetResult(new TokenizedImages(vokens.AsSpan(at * identifierLength, job.Count * identifierLength).ToArray(), fine.AsSpan(at * levels, job.Count * levels).ToArray(), levels));
                at += job.Count;
            }
        }
        catch (Exception e)
        {
            foreach (var job in jobs)
            {
                job.Completion.TrySetException(e);
            }
        }
    }

    private static T[] Concat<T>(List<T[]> parts, int length)
    {
        if (parts is [var only] && only.Length == length)
        {
            return only;
        }

        var result = new T[length];
        var at = 0;
        foreach (var part in parts)
        {
            if (at + part.Length > length)
            {
                throw new AvgException($"Model input has {at + part.Length}+ values, expected {length}: an item has the wrong size.");
            }

            part.CopyTo(result, at);
            at += part.Length;
        }

        if (at != length)
        {
            throw new AvgException($"Model input has {at} values, expected {length}: an item has the wrong size.");
        }

        return result;
    }
}
