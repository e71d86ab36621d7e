using Orleans.Metadata;

namespace Avg.Cluster.Telemetry;

/// <summary>
/// Takes a partition out of this silo's partition gauge when its activation leaves the silo (another silo reports it
/// from then on). A grain call filter (<see cref="GrainCallMetrics"/>) sees calls, not deactivations, so this joins
/// each partition activation's lifecycle instead, from outside the grain: the grain body holds no telemetry.
/// </summary>
internal sealed class PartitionActivationMetrics(AvgMetrics metrics, GrainTypeResolver grainTypes) : IConfigureGrainContextProvider, IConfigureGrainContext
{
    private readonly GrainType _partitionType = grainTypes.GetGrainType(typeof(Grains.VokenTriePartitionGrain));

    public bool TryGetConfigurator(GrainType grainType, GrainProperties properties, out IConfigureGrainContext configurator)
    {
        configurator = this;
        return grainType.Equals(_partitionType);
    }

    public void Configure(IGrainContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Stopped after the grain's own deactivation (a stage is stopped only when it was started: an activation that
        // failed never reported a count).
        context.ObservableLifecycle.Subscribe(
            nameof(PartitionActivationMetrics),
            GrainLifecycleStage.Activate,
            _ => Task.CompletedTask,
            _ =>
            {
                if (context.GrainInstance is Grains.VokenTriePartitionGrain partition)
                {
                    metrics.RemovePartition(partition.IndexVersion, partition.FirstVoken);
                }

                return Task.CompletedTask;
            });
    }
}
