using Avg.Cluster.Hosting;
using Avg.Silo;

namespace Avg.Cluster.Tests;

public class NativeHeapTests
{
    [Fact]
    public void Arenas_are_limited_on_linux_unless_malloc_arena_max_is_set_and_zero_leaves_them()
    {
        NativeHeap.LimitArenas(0).ShouldContain("glibc's default");
        var limited = NativeHeap.LimitArenas(2);
        if (!OperatingSystem.IsLinux())
        {
            limited.ShouldContain("not Linux");
        }
        else if (Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { } set)
        {
            limited.ShouldBe($"malloc arenas from MALLOC_ARENA_MAX={set}");
        }
        else
        {
            limited.ShouldBe("malloc arenas limited to 2");
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65)]
    public void Arenas_out_of_range_are_a_configuration_error(int arenas) =>
        Should.Throw<AvgException>(() => new AvgSiloOptions { Roles = "partitions", Redis = "127.0.0.1:1", MallocArenas = arenas }.Validate())
            .Message.ShouldContain($"Avg__MallocArenas must be between 0 (glibc's default) and 64, got {arenas}");
}
