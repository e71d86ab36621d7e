using Avg.Cluster;
using Avg.Cluster.Model;

namespace Avg.Silo.Http;

/// <summary>
/// The served bundle's facts (index version, feature width, image size) for validating requests: from this silo's
/// model host, or asked once of a model silo when this one hosts partitions only.
/// </summary>
public sealed class BundleInfoSource(IModelHost host, IGrainFactory grains)
{
    private BundleInfo? _info;

    public async Task<BundleInfo> GetAsync()
    {
        if (_info is not null)
        {
            return _info;
        }

        _info = host.Enabled ? await host.Ready.ConfigureAwait(false) : await grains.GetGrain<IQueryGrain>(0).GetBundleInfo().ConfigureAwait(false);
        return _info;
    }
}
