namespace Avg.Models;

/// <summary>Options of a training stage, checked once when its trainer is made.</summary>
public interface IStageTrainingOptions
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    void Validate();
}

/// <summary>
/// What the three stage trainers (dual encoder, tokenizer, generator) share: the module a stage trains and its
/// options, defaulted when not given and validated before any training.
/// </summary>
public abstract class StageTrainer<TModel, TOptions>
    where TModel : class
    where TOptions : class, IStageTrainingOptions, new()
{
    protected StageTrainer(TModel model, TOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        Options = options ?? new TOptions();
        Options.Validate();
    }

    /// <summary>The module this stage trains.</summary>
    protected TModel Model { get; }

    /// <summary>The stage's settings, validated.</summary>
    protected TOptions Options { get; }
}
