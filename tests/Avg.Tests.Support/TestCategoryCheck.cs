using Xunit;

namespace Avg.Tests.Support;

/// <summary>
/// Fails naming every test class of the deriving class's assembly without exactly one <see cref="TestCategory"/>.
/// Each test project derives it once:
/// <c>[Trait(TestCategory.Name, TestCategory.Unit)] public sealed class TestCategories : TestCategoryCheck;</c>
/// </summary>
public abstract class TestCategoryCheck
{
    [Fact]
    public void Every_test_class_carries_exactly_one_category()
    {
        var offenders = TestCategory.Offenders(GetType().Assembly);
        Assert.True(offenders.Count == 0,
            $"{offenders.Count} test classes or methods of {GetType().Assembly.GetName().Name} break the rule of TestCategory " +
            $"(one [Trait(TestCategory.Name, TestCategory.Unit | Integration | Browser)] per test class):\n{string.Join('\n', offenders)}");
    }
}
