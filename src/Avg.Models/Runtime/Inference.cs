using TorchSharp;

namespace Avg.Models.Runtime;

/// <summary>How every model runs inference over many rows: evaluation mode, no gradients, one dispose scope per batch.</summary>
internal static class Inference
{
    /// <summary>
    /// Calls <paramref name="run"/>(start, rows) for consecutive batches of at most <paramref name="batchSize"/> of
    /// <paramref name="count"/> rows, with <paramref name="module"/> in evaluation mode; its training mode is restored after.
    /// </summary>
    public static void InBatches(torch.nn.Module module, int count, int batchSize, Action<int, int> run)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var wasTraining = module.training;
        module.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (var start = 0; start < count; start += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                run(start, Math.Min(batchSize, count - start));
            }
        }
        finally
        {
            module.train(wasTraining);
        }
    }
}
