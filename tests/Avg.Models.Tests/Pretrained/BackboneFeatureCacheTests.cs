using Avg.Models.Encoders.Pretrained;
using Avg.Tests.Support;

namespace Avg.Models.Tests.Pretrained;

/// <summary>Backbone outputs are computed once per dataset and backbone hash.</summary>
[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class BackboneFeatureCacheTests
{
    private const string HashA = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
    private const string HashB = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";

    [Fact]
    public void Second_call_reads_the_cache_and_another_backbone_hash_recomputes()
    {
        using var dir = new TempDirectory();
        var runs = 0;
        float[] Backbone()
        {
            runs++;
            return Enumerable.Range(0, 6).Select(i => i + (runs * 100f)).ToArray();
        }

        var first = BackboneFeatureCache.GetOrCompute(dir.Path, "resnet18", HashA, rows: 3, width: 2, Backbone);
        var second = BackboneFeatureCache.GetOrCompute(dir.Path, "resnet18", HashA, rows: 3, width: 2, Backbone);
        runs.ShouldBe(1);
        second.ShouldBe(first);
        File.Exists(Path.Combine(dir.Path, ".avg-cache", "resnet18-aaaaaaaaaaaa.npy")).ShouldBeTrue();

        var other = BackboneFeatureCache.GetOrCompute(dir.Path, "resnet18", HashB, rows: 3, width: 2, Backbone);
        runs.ShouldBe(2);
        other.ShouldNotBe(first);
    }

    [Fact]
    public void A_cache_of_another_shape_is_recomputed()
    {
        using var dir = new TempDirectory();
        var runs = 0;
        BackboneFeatureCache.GetOrCompute(dir.Path, "minilm", HashA, rows: 2, width: 2, () => { runs++; return new float[4]; });
        BackboneFeatureCache.GetOrCompute(dir.Path, "minilm", HashA, rows: 3, width: 2, () => { runs++; return new float[6]; });
        runs.ShouldBe(2);
    }

    [Fact]
    public void Image_rows_from_another_image_folder_get_their_own_cache_name()
    {
        using var dir = new TempDirectory();
        var data = Path.Combine(dir.Path, "data");
        BackboneFeatureCache.ImageCacheName("resnet18", data, data).ShouldBe("resnet18", "images beside the JSON: the name existing caches have");
        BackboneFeatureCache.ImageCacheName("resnet18", data, data + Path.DirectorySeparatorChar).ShouldBe("resnet18");
        var photos = BackboneFeatureCache.ImageCacheName("resnet18", data, Path.Combine(dir.Path, "photos"));
        var thumbnails = BackboneFeatureCache.ImageCacheName("resnet18", data, Path.Combine(dir.Path, "thumbnails"));
        photos.ShouldStartWith("resnet18-root");
        thumbnails.ShouldStartWith("resnet18-root");
        photos.ShouldNotBe(thumbnails);
        BackboneFeatureCache.PathFor(data, photos, HashA).ShouldNotBe(BackboneFeatureCache.PathFor(data, thumbnails, HashA));
    }
}
