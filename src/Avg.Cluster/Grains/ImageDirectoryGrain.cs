using Avg.Cluster.Placement;

namespace Avg.Cluster.Grains;

/// <summary>One bucket of the image directory (key: bucket; extension: index version): which partition holds an id.</summary>
[PartitionSiloPlacementFilter]
public sealed class ImageDirectoryGrain(
    [PersistentState("directory", AvgStorage.Name)] IPersistentState<DirectoryState> state) : Grain, IImageDirectoryGrain
{
    public async Task<int[]> Assign(string[] ids, int[] partitions)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(partitions);
        var map = state.State.Partitions;
        var previous = new int[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            previous[i] = map.TryGetValue(ids[i], out var p) ? p : -1;
            map[ids[i]] = partitions[i];
        }

        await state.WriteStateAsync();
        return previous;
    }

    public Task<int> Lookup(string id) => Task.FromResult(state.State.Partitions.TryGetValue(id, out var p) ? p : -1);

    public async Task<int> Remove(string id)
    {
        if (!state.State.Partitions.Remove(id, out var p))
        {
            return -1;
        }

        await state.WriteStateAsync();
        return p;
    }
}
